"""StarDist / Keras adapter: an ``augmenter`` for ``StarDist2D.train``.

StarDist calls ``augmenter(x, y)`` on each training patch: ``x`` float32 ``(Y, X, C)``,
``y`` the instance labels ``(Y, X)``. This module needs neither StarDist nor TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validate import TOLERANCE
from ..transform import RestainTransform
from ._common import ValueRange, wrapped_transform

__all__ = ["StarDistAugmenter", "augmenter"]


class StarDistAugmenter:
    """A picklable ``f(x, y) -> (x', y)`` that re-stains ``x`` using ``y`` as instance labels.

    ``x`` is mapped from ``value_range`` to ``[0, 1]`` (values up to 2% of the range outside it,
    such as resampling overshoot, are clipped), re-stained, and mapped back, so the output keeps
    the input's range and dtype. Samples not re-stained come back as the same array.

    Args:
        transform: the transform to apply; built from ``**kwargs`` when ``None``.
        value_range: the ``(low, high)`` of ``x``: ``(0, 1)`` for images divided by 255,
            ``(0, 255)`` for raw 8-bit values.
        extra: an optional second augmenter ``g(x, y) -> (x, y)`` applied first (for example
            StarDist's flips and rotations).
        **kwargs: arguments of `RestainTransform` (``model``, ``ops``, ``p``, ``seed``,
            ``threads``...).

    Raises:
        TypeError: for both a transform and its arguments, or a transform that is not a
            `RestainTransform`.
        ValueError: for a bad ``value_range``; from ``__call__`` if ``x`` is not ``(Y, X, 3)``,
            its values lie outside ``value_range`` (every patch is checked, re-stained or not),
            or ``y`` does not match.
    """

    def __init__(
        self,
        transform: RestainTransform | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        extra: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.transform = wrapped_transform("StarDist augmenter", transform, kwargs)
        self.value_range = ValueRange.of(value_range, "StarDist augmenter")
        self.extra = extra

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.extra is not None:
            x, y = self.extra(x, y)
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(
                f"StarDist augmenter: expected an RGB patch (Y, X, 3), got "
                f"{getattr(x, 'shape', type(x).__name__)}. Train StarDist with n_channel_in=3."
            )
        self._check_range(x)
        unit = np.clip(self.value_range.to_unit(x.astype(np.float32)), 0.0, 1.0)
        out = self.transform(unit, labels=y)
        if out is unit:
            return x, y
        return self.value_range.from_unit(out).astype(x.dtype, copy=False), y

    def _check_range(self, x: np.ndarray) -> None:
        # Clipped to the range, 0-255 patches under (0, 1) would all turn white, count as
        # glass and come back unchanged: the augmenter would silently do nothing.
        lo, hi = self.value_range
        x_lo, x_hi = float(x.min()), float(x.max())
        slack = TOLERANCE * (hi - lo)
        if x_lo >= lo - slack and x_hi <= hi + slack:
            return
        if hi <= 1.0 + TOLERANCE and 1.5 < x_hi <= 255.0 + slack and x_lo >= -slack:
            fix = "For raw 8-bit values pass value_range=(0, 255), or divide the patches by 255."
        else:
            fix = (
                "Pass the patches' own value_range, e.g. (0, 255) for raw 8-bit values, and "
                "normalise them after the augmenter, not before."
            )
        raise ValueError(
            f"StarDist augmenter: expected values in value_range=({lo:g}, {hi:g}), got a patch "
            f"with values in [{x_lo:.4g}, {x_hi:.4g}]. {fix}"
        )


def augmenter(
    transform: RestainTransform | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    extra: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    **kwargs: Any,
) -> StarDistAugmenter:
    """Build the StarDist augmenter ``f(x, y) -> (x', y)`` (a `StarDistAugmenter`).

    Args:
        transform: the transform to apply; built from ``**kwargs`` when ``None``.
        value_range: the ``(low, high)`` of the training patches.
        extra: an augmenter applied before re-staining (flips, rotations...).
        **kwargs: arguments of `RestainTransform`.

    Returns:
        The augmenter, to pass as ``StarDist2D.train(..., augmenter=f)``.

    Examples:
        >>> import numpy as np
        >>> from restainaug.adapters.stardist import augmenter
        >>> f = augmenter(p=1.0, seed=0)
        >>> x = np.random.default_rng(0).uniform(0.2, 0.8, (32, 32, 3)).astype(np.float32)
        >>> y = np.zeros((32, 32), np.int32)
        >>> x2, y2 = f(x, y)
        >>> x2.shape, x2.dtype, y2 is y
        ((32, 32, 3), dtype('float32'), True)
    """
    return StarDistAugmenter(transform, value_range, extra, **kwargs)
