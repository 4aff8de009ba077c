"""Shared internals of the adapters: the transform they wrap, and the images' value range.

Every adapter is built the same way: from a `RestainTransform`, or from the transform's
keyword arguments (``model``, ``ops``, ``p``, ``seed``, ``threads``...), never both.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..transform import RestainTransform
from ..translator import Translator

__all__ = ["ValueRange", "keywords_from_positions", "wrapped_transform"]


def wrapped_transform(
    owner: str, transform: RestainTransform | None, kwargs: dict[str, Any]
) -> RestainTransform:
    """The transform an adapter wraps: ``transform`` itself, or one built from ``kwargs``.

    Raises:
        TypeError: if both are given, or ``transform`` is not a `RestainTransform`.
    """
    if transform is None:
        return RestainTransform(**kwargs)
    if kwargs:
        raise TypeError(f"{owner}: pass either a transform or its arguments, not both.")
    if not isinstance(transform, RestainTransform):
        raise TypeError(
            f"transform: expected a restainaug.RestainTransform, got {type(transform).__name__}."
        )
    return transform


def keywords_from_positions(
    owner: str, first: Any, rest: Sequence[Any], names: Sequence[str], kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Read the old positional call ``Adapter(model, ops, p, ...)`` as keywords (deprecated).

    Adapters that used to repeat the transform's signature take a transform first now. A
    model (a name, path or `Translator`) in that place starts the old positional arguments:
    they are named by ``names`` and moved into ``kwargs``, with a ``DeprecationWarning``.

    Args:
        owner: the adapter's name, for messages.
        first: the first positional argument (a transform, ``None`` or an old model).
        rest: the positional arguments after it.
        names: the old names of the positional arguments, the model first.
        kwargs: the keyword arguments.

    Returns:
        ``(transform, kwargs)``: ``first`` and ``kwargs`` unchanged for a new-style call.

    Raises:
        TypeError: for more positional arguments than ``names``, a name given twice, or
            positional arguments after a transform.
    """
    if not isinstance(first, (str, os.PathLike, Translator)):
        if rest:
            raise TypeError(f"{owner}: pass the arguments after the transform by keyword.")
        return first, kwargs
    values = (first, *rest)
    if len(values) > len(names):
        raise TypeError(
            f"{owner}: got {len(values)} positional arguments, expected at most {len(names)} "
            f"({', '.join(names)})."
        )
    given = names[: len(values)]
    twice = sorted(set(given) & set(kwargs))
    if twice:
        raise TypeError(f"{owner}: got {twice} both by position and by keyword.")
    warnings.warn(
        f"{owner}: positional arguments are deprecated; pass {', '.join(given)} by keyword "
        "(or a RestainTransform first).",
        DeprecationWarning,
        stacklevel=3,
    )
    return None, {**kwargs, **dict(zip(given, values, strict=True))}


class ValueRange(NamedTuple):
    """The ``(low, high)`` of an adapter's images, mapped to ``[0, 1]`` and back.

    Examples:
        >>> r = ValueRange.of((0, 255), "adapter")
        >>> r, r.to_unit(51.0), r.from_unit(0.2)
        (ValueRange(low=0.0, high=255.0), 0.2, 51.0)
    """

    low: float
    high: float

    @classmethod
    def of(cls, value_range: Sequence[float], owner: str) -> ValueRange:
        """Check ``value_range`` and return it as floats.

        Raises:
            ValueError: unless it is ``(low, high)`` with ``high > low``.
        """
        lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            raise ValueError(
                f"{owner}: value_range must be (low, high) with high > low, got {value_range}."
            )
        return cls(lo, hi)

    @property
    def is_unit(self) -> bool:
        """Whether the range is ``(0, 1)`` (nothing to map)."""
        return (self.low, self.high) == (0.0, 1.0)

    def to_unit(self, x: Any) -> Any:
        """``x`` (an array or tensor) mapped from this range to ``[0, 1]`` (not clipped)."""
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, y: Any) -> Any:
        """``y`` mapped from ``[0, 1]`` back to this range."""
        return y * (self.high - self.low) + self.low
