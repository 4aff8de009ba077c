"""Tissue layout: where nuclei are, their shapes, the cells around them, smooth random fields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import nuclei as nu

__all__ = ["Layout", "draw_layout", "smooth_field"]


def smooth_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    scale: float,
    stretch: float = 1.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Gaussian random field with correlation length ``scale`` pixels, zero mean, unit std.

    ``stretch > 1`` elongates the correlation along ``angle`` (radians): a fibrous texture.

    Examples:
        >>> f = smooth_field(np.random.default_rng(0), (64, 64), 4.0)
        >>> f.shape, round(float(f.std()), 3)
        ((64, 64), 1.0)
    """
    h, w = shape
    # Smooth fields carry no detail below their scale: draw them on a coarser grid, whose
    # sides are multiples of 16 (fast FFT sizes); noise comes from a torch generator seeded
    # by ``rng`` (faster than numpy's for float32).
    f = 1 << int(np.log2(min(8.0, max(1.0, scale / 2))))
    hs, ws = -(-h // (16 * f)) * 16, -(-w // (16 * f)) * 16
    g = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    noise = torch.randn(hs, ws, generator=g)
    fy = torch.fft.fftfreq(hs)[:, None]
    fx = torch.fft.rfftfreq(ws)[None, :]
    along = fx * np.cos(angle) + fy * np.sin(angle)
    across = -fx * np.sin(angle) + fy * np.cos(angle)
    s = scale / f
    kernel = torch.exp(-2 * (np.pi * s) ** 2 * ((stretch * along) ** 2 + across**2))
    t = torch.fft.irfft2(torch.fft.rfft2(noise) * kernel, s=(hs, ws))
    if f > 1:
        t = torch.nn.functional.interpolate(
            t[None, None], scale_factor=f, mode="bilinear", align_corners=False
        )[0, 0]
    t = t[:h, :w]
    t = t - t.mean()
    return (t / t.std().clamp_min(1e-12)).numpy()


@dataclass
class Layout:
    """Geometry of one field (all maps ``(H, W)``).

    Attributes:
        labels: nucleus instance ids, ``0`` = background, ids ``1..n``.
        cells: cell ids (nuclei grown into the tissue), same ids as ``labels``.
        shape: soft nucleus profile in ``[0, 1]`` (1 inside, smooth 1-pixel edge).
        rim: nuclear-envelope emphasis in ``[0, 1]`` (high near the nucleus border).
        membrane: soft membrane map in ``[0, 1]`` along cell boundaries, outside nuclei.
        tissue: ``1`` where there is tissue, ``0`` in lumina / glass.
        nested: for ids ``1..n`` (index ``id - 1``), whether the nucleus lies in a nest.
        n: number of nuclei.
    """

    labels: np.ndarray
    cells: np.ndarray
    shape: np.ndarray
    rim: np.ndarray
    membrane: np.ndarray
    tissue: np.ndarray
    nested: np.ndarray
    n: int


def _centres(
    rng: np.random.Generator,
    h: int,
    w: int,
    n: int,
    clustering: float,
    radius: float,
    tissue: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Nucleus centres and whether each lies in a nest (epithelium) or is scattered (stroma).

    A mix of clustered and uniformly scattered points, with a minimum gap between centres.
    """
    n_nests = max(1, round(n * clustering / 12))
    nests = rng.uniform((0, 0), (h, w), (n_nests, 2))
    pts: list[np.ndarray] = []
    nested: list[bool] = []
    min_gap = 1.7 * radius
    for _ in range(n * 30):
        if len(pts) >= n:
            break
        in_nest = bool(rng.random() < clustering)
        if in_nest:
            p = nests[rng.integers(n_nests)] + rng.normal(0, 3.0 * radius, 2)
        else:
            p = rng.uniform((0, 0), (h, w))
        if not (0 <= p[0] < h and 0 <= p[1] < w) or tissue[int(p[0]), int(p[1])] < 0.5:
            continue
        if pts and np.min(np.hypot(*(np.asarray(pts) - p).T)) < min_gap:
            continue
        pts.append(p)
        nested.append(in_nest)
    return np.asarray(pts).reshape(-1, 2), np.asarray(nested, bool)


def _rasterise(
    rng, h, w, centres, nested, radius_range, elong_range, irregularity, labels, shape, rim
):
    for i, (cy, cx) in enumerate(centres, start=1):
        r = rng.uniform(*radius_range)
        if nested[i - 1]:  # epithelial nuclei: rounder, larger
            e = rng.uniform(1.0, 1.0 + 0.5 * (elong_range[1] - 1.0))
        else:  # stromal nuclei (fibroblasts): elongated, thinner
            e = rng.uniform(1.0 + 0.5 * (elong_range[1] - 1.0), elong_range[1] + 1.0)
            r *= 0.8
        a, b = r * np.sqrt(e), r / np.sqrt(e)
        theta = rng.uniform(0, np.pi)
        amps = rng.normal(0, irregularity, 4) / np.sqrt(np.arange(1, 5))
        phases = rng.uniform(0, 2 * np.pi, 4)
        ext = int(np.ceil(a * (1 + 3 * irregularity))) + 2
        y0, y1 = max(int(cy) - ext, 0), min(int(cy) + ext + 1, h)
        x0, x1 = max(int(cx) - ext, 0), min(int(cx) + ext + 1, w)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
        rho = np.hypot(u, v)
        # Boundary harmonics k = 2..5: Re(sum_k amp_k e^{i phase_k} z^k) with z = e^{i phi}.
        z = (u + 1j * v) / np.maximum(rho, 1e-6)
        zk = z * z
        edge = np.ones_like(rho)
        for k in range(4):
            edge += (amps[k] * np.exp(1j * phases[k]) * zk).real.astype(np.float32)
            zk = zk * z
        # Signed distance to the border, in pixels (approximately).
        dist = (edge - rho) * min(a, b)
        soft = np.clip(dist + 0.5, 0.0, 1.0)
        free = labels[y0:y1, x0:x1] == 0
        inside = (dist > 0) & free
        labels[y0:y1, x0:x1][inside] = i
        shape[y0:y1, x0:x1] = np.where(
            free, np.maximum(shape[y0:y1, x0:x1], soft), shape[y0:y1, x0:x1]
        )
        rim[y0:y1, x0:x1] = np.where(
            inside, np.exp(-np.clip(dist, 0, None) / 1.5), rim[y0:y1, x0:x1]
        )


def draw_layout(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    density: float,
    clustering: float,
    radius: tuple[float, float],
    elongation: tuple[float, float],
    irregularity: float,
    cell_radius: float,
    lumen: float,
) -> Layout:
    """Draw nuclei, cells, membranes and the tissue mask of one field.

    Args:
        rng: the random generator (the field is a pure function of its state).
        size: ``(H, W)``.
        density: nuclei per 10,000 px^2.
        clustering: fraction of nuclei in nests.
        radius: range of nucleus equivalent radii (pixels).
        elongation: range of axis ratios.
        irregularity: amplitude of boundary harmonics.
        cell_radius: growth of cells beyond nuclei (pixels).
        lumen: fraction of the field without tissue.

    Returns:
        The field's :class:`Layout`.
    """
    h, w = size
    tissue_field = smooth_field(rng, (h, w), max(h, w) / 8) + 0.3 * smooth_field(rng, (h, w), 4.0)
    tissue = (
        (tissue_field > np.quantile(tissue_field, lumen)).astype(np.float32)
        if lumen > 0
        else np.ones((h, w), np.float32)
    )
    n = int(rng.poisson(density * h * w / 1e4))
    centres, nested = _centres(rng, h, w, n, clustering, float(np.mean(radius)), tissue)
    labels = np.zeros((h, w), np.int32)
    shape = np.zeros((h, w), np.float32)
    rim = np.zeros((h, w), np.float32)
    _rasterise(rng, h, w, centres, nested, radius, elongation, irregularity, labels, shape, rim)
    ids = torch.from_numpy(labels)[None, None].float()
    cells_t = nu.expand_labels(ids, round(cell_radius)) * torch.from_numpy(tissue)[None, None]
    walls = nu.boundaries(cells_t) & (nu.dilate((ids > 0).float()) < 0.5)
    membrane = torch.nn.functional.avg_pool2d(walls.float(), 3, 1, 1, count_include_pad=False)
    membrane = (membrane * 1.6).clamp(0, 1) * (ids == 0)
    return Layout(
        labels=labels,
        cells=cells_t[0, 0].numpy().astype(np.int32),
        shape=shape,
        rim=rim,
        membrane=membrane[0, 0].numpy(),
        tissue=tissue,
        nested=nested,
        n=len(centres),
    )
