"""`IFImage`: named fluorescence channels with roles, plus smoothing and normalisation.

An `IFImage` is what the IF domain of a CycleGAN is trained on: float32 channels
``(C, H, W)``, each with a name (``"DAPI"``, ``"HER2"``) and a role from the translator
vocabulary (`restainaug.translator.ROLES`: ``"nuclear"``, ``"marker"``, ``"other"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..translator import ROLES, Channel

__all__ = ["IFImage", "gaussian_smooth", "percentile_normalize"]


@dataclass(frozen=True, eq=False)
class IFImage:
    """Fluorescence channels with names and roles.

    Args:
        data: the channels, converted to C-contiguous ``float32``.
        names: one name per channel; unique ignoring case.
        roles: one role per channel (``"nuclear"``, ``"marker"`` or ``"other"``); at most
            one ``"nuclear"`` and one ``"marker"``.
        source: where the image came from (a path), for messages.

    Shape:
        - data: `(C, H, W)`

    Raises:
        TypeError: if ``data`` is not a real numpy array.
        ValueError: for a wrong shape, non-finite values, or names/roles that do not match.

    Examples:
        >>> im = IFImage(np.zeros((2, 4, 4)), ("DAPI", "Ki67"), ("nuclear", "marker"))
        >>> im.select(["ki67"]).names, im.nuclear.shape
        (('Ki67',), (4, 4))
    """

    data: np.ndarray
    names: tuple[str, ...]
    roles: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        d = self.data
        if not isinstance(d, np.ndarray) or d.dtype.kind not in "biuf":
            got = d.dtype if isinstance(d, np.ndarray) else type(d).__name__
            raise TypeError(f"IFImage.data: expected a real numpy array (C, H, W), got {got}.")
        if d.ndim != 3 or 0 in d.shape:
            raise ValueError(f"IFImage.data: expected a non-empty (C, H, W) array, got {d.shape}.")
        d = np.ascontiguousarray(d, dtype=np.float32)
        if not np.all(np.isfinite(d)):
            raise ValueError(f"IFImage.data {self.source}: contains NaN or infinite values.")
        names, roles = tuple(str(n) for n in self.names), tuple(self.roles)
        if len(names) != d.shape[0] or len(roles) != d.shape[0]:
            raise ValueError(
                f"IFImage: {d.shape[0]} channels need {d.shape[0]} names and roles, got "
                f"{len(names)} names and {len(roles)} roles."
            )
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ValueError(f"IFImage: roles must be in {ROLES}, got {bad}.")
        if roles.count("nuclear") > 1 or roles.count("marker") > 1:
            raise ValueError(f"IFImage: at most one nuclear and one marker channel, got {roles}.")
        lower = [n.lower() for n in names]
        if len(set(lower)) != len(lower):
            raise ValueError(f"IFImage: channel names must be unique (ignoring case): {names}.")
        object.__setattr__(self, "data", d)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "roles", roles)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.data.shape
        return c, h, w

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels as translator `Channel`s (name and role)."""
        return tuple(Channel(n, r) for n, r in zip(self.names, self.roles, strict=True))  # type: ignore[arg-type]

    def index(self, channel: str | int) -> int:
        """Index of a channel given by name (case-insensitive), role, or index.

        Raises:
            ValueError: if no channel matches (the message lists the available names).
            TypeError: if ``channel`` is neither a str nor an int.
        """
        return find_channel(channel, self.names, self.source or "IFImage", self.roles)

    def select(self, channels: Sequence[str | int]) -> IFImage:
        """A new image with the given channels (names, roles or indices), in that order."""
        if isinstance(channels, (str, int)):
            channels = [channels]
        idx = [self.index(c) for c in channels]
        return IFImage(
            self.data[idx],
            tuple(self.names[i] for i in idx),
            tuple(self.roles[i] for i in idx),
            self.source,
        )

    @property
    def nuclear(self) -> np.ndarray | None:
        """The nuclear channel ``(H, W)``, or ``None`` when no channel has that role."""
        return self.data[self.roles.index("nuclear")] if "nuclear" in self.roles else None

    @property
    def marker(self) -> np.ndarray | None:
        """The marker channel ``(H, W)``, or ``None`` when no channel has that role."""
        return self.data[self.roles.index("marker")] if "marker" in self.roles else None

    def tensor(self) -> torch.Tensor:
        """The channels as a float32 tensor ``(C, H, W)`` (a copy)."""
        return torch.from_numpy(self.data.copy())


def find_channel(
    channel: str | int, names: Sequence[str], source: str, roles: Sequence[str] = ()
) -> int:
    """Index of ``channel`` (a name matched ignoring case, a role, or an index) in ``names``.

    Raises:
        TypeError: if ``channel`` is neither a str nor an int.
        ValueError: if nothing matches; the message lists the available names.
    """
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not 0 <= int(channel) < len(names):
            raise ValueError(
                f"{source}: channel index {channel} is out of range; there are {len(names)} "
                f"channels {list(names)} (indices 0..{len(names) - 1})."
            )
        return int(channel)
    if not isinstance(channel, str):
        raise TypeError(f"{source}: expected a channel name or index, got {channel!r}.")
    lower = [n.strip().lower() for n in names]
    key = channel.strip().lower()
    if key in lower:
        return lower.index(key)
    if channel in roles and channel != "other":
        return list(roles).index(channel)
    raise ValueError(
        f"{source}: no channel named {channel!r}; available: {list(names)} (names are "
        f"matched ignoring case; indices 0..{len(names) - 1} work too)."
    )


def percentile_normalize(
    x: np.ndarray,
    low: float = 1.0,
    high: float = 99.8,
    clip: bool = True,
    per_channel: bool = True,
) -> np.ndarray:
    """Map the ``low`` and ``high`` percentiles to 0 and 1 (the usual fluorescence scaling).

    A channel whose two percentiles are equal (a constant or empty channel) becomes 0.

    Args:
        x: one image ``(H, W)`` (or any 1-D array) or channels ``(C, H, W)``.
        low: lower percentile, in ``[0, 100)``.
        high: upper percentile, in ``(low, 100]``.
        clip: clip the result to ``[0, 1]``.
        per_channel: percentiles of each channel (first axis of 3-D input) separately.

    Returns:
        ``float32`` array of the input's shape.

    Raises:
        ValueError: for percentiles out of order or range, or input that is not 2-D/3-D.

    Examples:
        >>> percentile_normalize(np.arange(5.0), low=0, high=100).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles: expected 0 <= low < high <= 100, got {low}, {high}.")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim not in (1, 2, 3):
        raise ValueError(f"percentile_normalize: expected (H, W) or (C, H, W), got {x.shape}.")
    axes = tuple(range(1, x.ndim)) if per_channel and x.ndim == 3 else None
    lo, hi = np.percentile(x, [low, high], axis=axes, keepdims=True)
    span = hi - lo
    out = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)
    return np.clip(out, 0.0, 1.0, out=out) if clip else out


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the last two axes (reflected edges, kernel cut at 4 sigma).

    Matches ``scipy.ndimage.gaussian_filter`` (mode ``"reflect"``) on each channel.

    Args:
        x: ``(H, W)`` or ``(C, H, W)``.
        sigma: standard deviation in pixels, ``> 0``.

    Returns:
        ``float32`` array of the input's shape.

    Raises:
        ValueError: if ``sigma`` is not positive.

    Examples:
        >>> impulse = np.zeros((9, 9)); impulse[4, 4] = 1
        >>> round(float(gaussian_smooth(impulse, 1.0).sum()), 5)
        1.0
    """
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number of pixels, got {sigma!r}.")
    radius = int(4 * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    out = np.asarray(x, dtype=np.float32)
    for axis in (out.ndim - 2, out.ndim - 1):
        n = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        p = np.pad(out, pad, mode="symmetric")
        acc = np.zeros(out.shape, dtype=np.float64)
        for i, wgt in enumerate(k):
            window = [slice(None)] * out.ndim
            window[axis] = slice(i, i + n)
            acc += wgt * p[tuple(window)]
        out = acc.astype(np.float32)
    return out
