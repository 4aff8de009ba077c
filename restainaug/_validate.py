"""Input checks at the boundary, and conversion between user layouts and float (B, 3, H, W).

Accepted images:

* ``torch.Tensor`` (and subclasses such as MONAI's ``MetaTensor`` or torchvision's
  ``tv_tensors.Image``), ``(3, H, W)`` or ``(B, 3, H, W)``, ``uint8`` or floating point in
  ``[0, 1]``, on any device;
* ``numpy.ndarray``, ``(H, W, 3)`` or ``(B, H, W, 3)``, ``uint8`` or floating point in ``[0, 1]``.

The caller's array is never modified; outputs keep type, layout, dtype and device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["TOLERANCE", "Layout", "check_probability", "from_batch", "labels_to_batch", "to_batch"]

_TORCH_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: Float inputs may stray this far outside [0, 1] (resampling overshoot); they are clamped.
TOLERANCE = 0.02


@dataclass(frozen=True)
class Layout:
    """How to give a result back in the caller's form."""

    numpy: bool
    batched: bool
    dtype: Any
    device: torch.device


def check_probability(value: object, owner: str, name: str = "p") -> float:
    """``value`` as a float if it is a number in ``[0, 1]``.

    Raises:
        ValueError: otherwise, naming ``owner`` and the argument ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {name} must be a number in [0, 1], got {value!r}.")
    return float(value)


def resolve_device(requested: str | torch.device | None, what: str = "device") -> torch.device:
    """The torch device for ``requested``: ``None`` is the CPU, ``"auto"`` CUDA when available.

    A bare ``"cuda"`` is the GPU of this process's ``LOCAL_RANK`` (one per ``torchrun``
    process).

    Raises:
        ValueError: if CUDA is requested but not available.
    """
    if requested is None:
        return torch.device("cpu")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{what}: {str(requested)!r} was requested but CUDA is not available; use 'cpu'."
            )
        if device.index is None:
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    # torch refuses to share read-only memory (e.g. np.asarray of a PIL image): copy those.
    if not (a.flags.writeable and a.flags.c_contiguous):
        a = np.array(a, order="C", copy=True)
    return torch.from_numpy(a)


def _shape_error(name: str, x: Any, expected: str) -> ValueError:
    return ValueError(f"{name}: expected {expected}, got shape {tuple(x.shape)}.")


def to_batch(x: Any, name: str = "image") -> tuple[torch.Tensor, Layout]:
    """Check an image or batch and return it as float32 ``(B, 3, H, W)`` in ``[0, 1]``.

    The result never shares memory with ``x``.

    Raises:
        TypeError: for unsupported types or dtypes.
        ValueError: for wrong shapes, empty or non-finite arrays, or float values far outside
            ``[0, 1]``.
    """
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name}: expected a uint8 or float numpy array, got dtype {x.dtype}.")
        if x.ndim not in (3, 4) or x.shape[-1] != 3:
            hint = ""
            if x.ndim in (3, 4) and x.shape[-1] == 4:
                hint = " Drop the alpha channel with x[..., :3]."
            elif x.ndim in (3, 4) and x.shape[-3] == 3:
                hint = (
                    " It looks channels-first: use x.transpose(1, 2, 0) (or (0, 2, 3, 1) for a "
                    "batch)."
                )
            raise ValueError(
                f"{name}: expected a numpy RGB image (H, W, 3) or batch (B, H, W, 3), got shape "
                f"{x.shape}.{hint}"
            )
        layout = Layout(True, x.ndim == 4, x.dtype, torch.device("cpu"))
        t = _from_numpy(x)
        t = t.permute(0, 3, 1, 2) if x.ndim == 4 else t.permute(2, 0, 1)[None]
    elif isinstance(x, torch.Tensor):
        if x.dtype != torch.uint8 and x.dtype not in _TORCH_FLOATS:
            raise TypeError(f"{name}: expected a uint8 or float tensor, got dtype {x.dtype}.")
        if x.ndim not in (3, 4) or x.shape[-3] != 3:
            hint = ""
            if x.ndim in (3, 4) and x.shape[-1] == 3:
                hint = (
                    " It looks channels-last: use x.permute(2, 0, 1) (or (0, 3, 1, 2) for a batch)."
                )
            elif x.ndim in (3, 4) and x.shape[-3] == 4:
                hint = " Drop the alpha channel with x[..., :3, :, :]."
            raise ValueError(
                f"{name}: expected an RGB tensor (3, H, W) or batch (B, 3, H, W), got shape "
                f"{tuple(x.shape)}.{hint}"
            )
        layout = Layout(False, x.ndim == 4, x.dtype, x.device)
        t = x.as_subclass(torch.Tensor).detach()
        t = t if x.ndim == 4 else t[None]
    else:
        raise TypeError(
            f"{name}: expected a torch.Tensor (3, H, W)/(B, 3, H, W) or a numpy array "
            f"(H, W, 3)/(B, H, W, 3), got {type(x).__name__}."
        )
    if t.numel() == 0:
        raise _shape_error(name, x, "a non-empty image")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0), layout
    t = t.float() if t.dtype != torch.float32 else t.clone()
    lo, hi = torch.aminmax(t)
    lo_v, hi_v = float(lo), float(hi)
    if not (np.isfinite(lo_v) and np.isfinite(hi_v)):
        raise ValueError(f"{name}: contains NaN or infinite values.")
    if lo_v < -TOLERANCE or hi_v > 1 + TOLERANCE:
        hint = (
            " It looks like 0-255 data: divide by 255 or pass uint8." if 1.5 < hi_v <= 255 else ""
        )
        raise ValueError(
            f"{name}: float images must lie in [0, 1]; got values in "
            f"[{lo_v:.4g}, {hi_v:.4g}].{hint}"
        )
    return t.clamp_(0.0, 1.0), layout


def from_batch(y: torch.Tensor, layout: Layout) -> Any:
    """Convert float ``(B, 3, H, W)`` in ``[0, 1]`` back to the caller's dtype and layout (batched).

    Always returns a batch (``B`` first); the caller removes it for unbatched inputs.
    """
    if layout.numpy:
        y = y.permute(0, 2, 3, 1).cpu()
        if layout.dtype == np.uint8:
            return y.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
        return y.numpy().astype(layout.dtype, copy=False)
    y = y.to(layout.device)
    if layout.dtype == torch.uint8:
        return y.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return y.to(layout.dtype)


def labels_to_batch(labels: Any, b: int, h: int, w: int, batched: bool) -> torch.Tensor:
    """Check instance labels against an image and return float ids ``(B, 1, H, W)``.

    Accepted shapes: ``(H, W)``, ``(1, H, W)``, ``(H, W, 1)`` for a single image;
    ``(B, H, W)``, ``(B, 1, H, W)``, ``(B, H, W, 1)`` for a batch. Integer, bool, or float with
    integer values; non-negative (``0`` = background).

    Raises:
        TypeError: for unsupported types or dtypes.
        ValueError: for shapes that do not match the image, or negative / non-integer values.
    """
    if isinstance(labels, np.ndarray):
        if not (
            np.issubdtype(labels.dtype, np.integer)
            or np.issubdtype(labels.dtype, np.floating)
            or labels.dtype == np.bool_
        ):
            raise TypeError(f"labels: expected an integer array, got dtype {labels.dtype}.")
        if labels.dtype.kind == "u" and labels.dtype != np.uint8:
            labels = labels.astype(np.int64)  # torch lacks most operations on uint16/32/64
        t = _from_numpy(labels)
    elif isinstance(labels, torch.Tensor):
        t = labels.as_subclass(torch.Tensor).detach()
        if t.is_complex():
            raise TypeError(f"labels: expected an integer tensor, got dtype {t.dtype}.")
        if t.dtype in (torch.uint16, torch.uint32, torch.uint64):
            t = t.to(torch.int64)
    else:
        raise TypeError(
            f"labels: expected a torch.Tensor or numpy array, got {type(labels).__name__}."
        )
    shape = tuple(t.shape)
    lead = (b,) if batched else ()
    n = len(lead)
    if t.ndim == n + 3 and shape[n] == 1:
        t = t.squeeze(n)
    elif t.ndim == n + 3 and shape[-1] == 1:
        t = t.squeeze(-1)
    if tuple(t.shape) != (*lead, h, w):
        want = f"({', '.join(map(str, lead))}{', ' if lead else ''}{h}, {w})"
        raise ValueError(
            f"labels: expected shape {want} (optionally with a channel of 1) to match "
            f"the image, got {shape}."
        )
    t = t.reshape(b, 1, h, w)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
            raise ValueError("labels: float labels must hold whole numbers (instance ids).")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"labels: ids must be >= 0 (0 = background), got minimum {int(t.min())}.")
    big = t.numel() and float(t.max()) >= 2**24
    return t.to(torch.float64 if big else torch.float32)
