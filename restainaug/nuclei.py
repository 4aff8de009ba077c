"""Batched, device-agnostic nucleus and cell maps for the IF-channel operations.

Everything here is plain ``torch`` on ``(B, 1, H, W)`` tensors, so it runs on the GPU with the
batch: Otsu thresholds, connected components by label propagation, label expansion into cells
(a Voronoi-like partition) and cell boundaries (membranes).

Object ids are float tensors (exact integers up to 2**24, float64 beyond): ``0`` is
background, other values identify an object but are not consecutive.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "boundaries",
    "box_mean",
    "connected_components",
    "dilate",
    "erode",
    "expand_labels",
    "lookup",
    "nuclear_foreground",
    "nuclei_from_channel",
    "otsu_threshold",
]


def _max_filter(x: torch.Tensor, radius: int, fill: float) -> torch.Tensor:
    # Separable (2r+1)^2 max over shifted views: much faster than max_pool2d on CPU.
    k = 2 * radius + 1
    p = F.pad(x, (radius, radius, 0, 0), value=fill)
    w = x.shape[-1]
    out = p[..., :, 0:w]
    for i in range(1, k):
        out = torch.maximum(out, p[..., :, i : i + w])
    p = F.pad(out, (0, 0, radius, radius), value=fill)
    h = x.shape[-2]
    out = p[..., 0:h, :]
    for i in range(1, k):
        out = torch.maximum(out, p[..., i : i + h, :])
    return out


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)`` square, counting only pixels inside the image.

    Equals ``F.avg_pool2d(x, 2r+1, 1, r, count_include_pad=False)`` up to float rounding, and
    is 3-10x faster on the CPU (separable sums of shifted views).

    Shape:
        - x: `(B, C, H, W)`, floating point
        - output: `(B, C, H, W)`
    """
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    k = 2 * radius + 1
    p = F.pad(x, (radius, radius, 0, 0))
    rows = p[..., :, 0:w].clone()
    for i in range(1, k):
        rows += p[..., :, i : i + w]
    p = F.pad(rows, (0, 0, radius, radius))
    out = p[..., 0:h, :].clone()
    for i in range(1, k):
        out += p[..., i : i + h, :]
    return out / (_window_count(h, radius, x)[:, None] * _window_count(w, radius, x)[None, :])


def _window_count(n: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    # How many of the 2r+1 window positions fall inside [0, n) at each index.
    i = torch.arange(n, device=like.device)
    lo = (i - radius).clamp_min(0)
    hi = (i + radius).clamp_max(n - 1)
    return (hi - lo + 1).to(like.dtype)


def dilate(x: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Grey dilation with a ``(2r+1)`` square (max filter); the border does not count.

    Shape:
        - x: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`
    """
    if radius <= 0:
        return x
    return _max_filter(x, radius, float("-inf") if x.is_floating_point() else -(2**62))


def erode(x: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Grey erosion with a ``(2r+1)`` square (min filter); the border does not count.

    Shape:
        - x: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`
    """
    return -dilate(-x, radius) if radius > 0 else x


def otsu_threshold(x: torch.Tensor, bins: int = 128) -> torch.Tensor:
    """Otsu's threshold of each sample, from a ``bins``-bin histogram between its min and max.

    Args:
        x: values, any shape with the batch first.
        bins: histogram bins.

    Returns:
        Thresholds, shape ``(B,)``; a constant sample gets its own value.

    Examples:
        >>> x = torch.cat([torch.zeros(1, 50), torch.ones(1, 50)], dim=1)
        >>> 0.0 < otsu_threshold(x).item() < 1.0
        True
    """
    flat = x.flatten(1).float()
    lo, hi = flat.amin(1), flat.amax(1)
    span = (hi - lo).clamp_min(1e-12)
    idx = ((flat - lo[:, None]) / span[:, None] * (bins - 1)).round().long().clamp_(0, bins - 1)
    hist = torch.zeros(flat.shape[0], bins, device=flat.device).scatter_add_(
        1, idx, torch.ones_like(flat)
    )
    p = hist / flat.shape[1]
    omega = p.cumsum(1)
    mu = (p * torch.arange(bins, device=flat.device)).cumsum(1)
    between = (mu[:, -1:] * omega - mu) ** 2 / (omega * (1 - omega)).clamp_min(1e-12)
    k = between.argmax(1).float()
    return lo + (k + 0.5) / (bins - 1) * span


def connected_components(mask: torch.Tensor, max_iter: int = 1000) -> torch.Tensor:
    """8-connected components (label propagation with hooking and pointer jumping).

    Every foreground pixel holds a pointer to a pixel of its component; each round it takes
    the largest pointer among its neighbours, hooks its root to it, and jumps pointers twice
    (``L = L[L]``). Components end up labelled by their largest pixel index, typically in a
    handful of rounds whatever their size (the FastSV scheme of Zhang et al., 2020). On the
    CPU, with scipy installed, ``scipy.ndimage.label`` computes the same ids about ten times
    faster.

    Args:
        mask: foreground, bool or 0/1.
        max_iter: rounds at most (a safeguard; real masks converge in about ten).

    Returns:
        Float ids: ``0`` background, equal values for pixels of one component.

    Shape:
        - mask: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`

    Examples:
        >>> m = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
        >>> m[0, 0, :2, :2] = True; m[0, 0, 3:, 3:] = True
        >>> connected_components(m).unique().numel()
        3
    """
    b, _, h, w = mask.shape
    n = h * w
    dtype = torch.float32 if n < 2**24 else torch.float64
    ndimage = _scipy_ndimage()
    if ndimage is not None and mask.device.type == "cpu":
        return _components_scipy(ndimage, mask, dtype)
    fg = mask.reshape(b, n).bool()
    none = torch.full((), -1, dtype=torch.long, device=mask.device)
    labels = torch.where(fg, torch.arange(n, device=mask.device).expand(b, n), none)
    for _ in range(max_iter):
        nb = torch.where(fg, dilate(labels.view(b, 1, h, w)).view(b, n), none)
        roots = torch.cat([labels, none.expand(b, 1)], dim=1)
        roots.scatter_reduce_(1, torch.where(fg, labels, n), nb, reduce="amax")
        new = torch.where(fg, torch.maximum(roots[:, :n], nb), none)
        for _ in range(2):
            new = torch.where(fg, new.gather(1, new.clamp_min(0)), none)
        if torch.equal(new, labels):
            break
        labels = new
    return (labels + 1).to(dtype).view(b, 1, h, w)


@functools.lru_cache(maxsize=1)
def _scipy_ndimage() -> ModuleType | None:
    try:
        from scipy import ndimage
    except ImportError:  # scipy is optional: the torch path gives the same ids
        return None
    return ndimage


def _components_scipy(ndimage: ModuleType, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # The CPU fast path (about 10x faster at 256x256): scipy's raster-scan labelling, then each
    # component renamed to its largest flat pixel index + 1, as the torch path labels them.
    b, _, h, w = mask.shape
    out = np.zeros((b, h * w), dtype=np.int64)
    index = np.arange(h * w, dtype=np.int64)
    for i in range(b):
        fg = mask[i, 0].detach().bool().numpy()
        lab, count = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
        flat = lab.ravel()
        largest = np.zeros(count + 1, dtype=np.int64)
        np.maximum.at(largest, flat, index)
        out[i] = np.where(flat > 0, largest[flat] + 1, 0)
    return torch.from_numpy(out).to(dtype).view(b, 1, h, w)


def expand_labels(ids: torch.Tensor, distance: int) -> torch.Tensor:
    """Grow objects into the background by up to ``distance`` pixels without overlap.

    Touching growth fronts meet half way, which partitions the tissue into cells around
    their nuclei (like ``skimage.segmentation.expand_labels``; ties go to the larger id).

    Shape:
        - ids: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`
    """
    out = ids
    for _ in range(distance):
        out = torch.where(out > 0, out, dilate(out))
    return out


def boundaries(ids: torch.Tensor) -> torch.Tensor:
    """Pixels of an object that touch another object or the background (inner boundaries).

    Shape:
        - ids: `(B, 1, H, W)`
        - output: bool `(B, 1, H, W)`
    """
    differs = (dilate(ids) != ids) | (erode(ids) != ids)
    return differs & (ids > 0)


def lookup(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Per-object values: ``table[b, id % K]`` at every pixel, ``0`` on background.

    Args:
        table: per-sample values, shape ``(B, K)``.
        ids: object ids, shape ``(B, 1, H, W)``.

    Returns:
        Values of shape ``(B, 1, H, W)`` in ``table``'s dtype.
    """
    k = table.shape[1]
    idx = (ids.long() % k).flatten(1)
    vals = table.gather(1, idx).view_as(ids)
    return torch.where(ids > 0, vals, torch.zeros((), dtype=vals.dtype, device=vals.device))


def nuclear_foreground(nuclear: torch.Tensor, floor: float = 0.1) -> torch.Tensor:
    """Nucleus pixels of a nuclear channel: smooth 3x3, Otsu threshold, open 3x3.

    Args:
        nuclear: the nuclear channel on the nominal IF scale.
        floor: lowest threshold allowed, so tiles without nuclei yield no foreground.

    Returns:
        Float mask of ``0``/``1``.

    Shape:
        - nuclear: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`
    """
    smooth = box_mean(nuclear, 1)
    thr = otsu_threshold(smooth).clamp_min(floor).view(-1, 1, 1, 1)
    return (smooth > thr).to(nuclear.dtype)


def nuclei_from_channel(nuclear: torch.Tensor, floor: float = 0.1, split: int = 2) -> torch.Tensor:
    """Nucleus objects from a nuclear channel: `nuclear_foreground`, split, label.

    Touching nuclei joined by a neck narrower than ``2 * split + 1`` pixels are separated:
    components are found on the mask eroded by ``split`` pixels, then grown back inside the
    mask. Wider clumps stay merged; give the operations instance labels when you have them.

    Args:
        nuclear: the nuclear channel on the nominal IF scale.
        floor: lowest threshold allowed, so tiles without nuclei yield no objects.
        split: erosion radius used to separate touching nuclei (``0`` disables it).

    Returns:
        Float object ids (see `connected_components`).

    Shape:
        - nuclear: `(B, 1, H, W)`
        - output: `(B, 1, H, W)`
    """
    mask = nuclear_foreground(nuclear, floor)
    core = erode(mask, max(split, 1))  # also removes specks of one or two pixels
    ids = connected_components(core > 0.5)
    return expand_labels(ids, max(split, 1) + 1) * mask
