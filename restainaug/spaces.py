"""Parameter spaces: what an operation's random parameters are drawn from.

A space only *describes* a distribution; `restainaug.params.sample_params` is the single
place that draws from it. Operations accept a number (fixed), a ``(low, high)`` pair (uniform)
or any space below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Bernoulli",
    "Choice",
    "Index",
    "LogUniform",
    "PerObject",
    "Space",
    "Subset",
    "Uniform",
    "as_space",
]


def _finite(*xs: float) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


@dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high]`` (``low == high`` is a fixed value). One float per sample."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not _finite(self.low, self.high) or self.low > self.high:
            raise ValueError(f"Uniform: need finite low <= high, got ({self.low}, {self.high}).")


@dataclass(frozen=True)
class LogUniform:
    """Log-uniform on ``[low, high]``, ``0 < low <= high``: factors symmetric around 1."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not _finite(self.low, self.high) or not 0 < self.low <= self.high:
            raise ValueError(f"LogUniform: need 0 < low <= high, got ({self.low}, {self.high}).")


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (with optional ``weights``). One float per sample.

    Examples:
        >>> Choice((0.3, 0.6, 1.0)).values
        (0.3, 0.6, 1.0)
    """

    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not self.values or not _finite(*self.values):
            raise ValueError(f"Choice: need at least one finite value, got {self.values}.")
        _check_weights("Choice", self.weights, len(self.values))


@dataclass(frozen=True)
class Index:
    """An integer in ``[0, n)`` (with optional ``weights``), e.g. which branch of a ``OneOf``."""

    n: int
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Index: need n >= 1, got {self.n}.")
        _check_weights("Index", self.weights, self.n)


@dataclass(frozen=True)
class Subset:
    """A random subset of ``n`` items whose size is uniform in ``[low, high]``; ``(B, n)`` bools."""

    n: int
    low: int
    high: int

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high <= self.n:
            raise ValueError(
                f"Subset: need 0 <= low <= high <= n, got {self.low}, {self.high}, {self.n}."
            )


@dataclass(frozen=True)
class Bernoulli:
    """``True`` with probability ``p``. One bool per sample."""

    p: float

    def __post_init__(self) -> None:
        if not _finite(self.p) or not 0.0 <= self.p <= 1.0:
            raise ValueError(f"Bernoulli: p must be in [0, 1], got {self.p}.")


@dataclass(frozen=True)
class PerObject:
    """``size`` independent uniforms on ``[low, high]`` per sample, looked up by object id.

    Operations that treat nuclei or cells one by one (which are marker-positive, how strong
    each is) read these tables with ``id % size``, so per-object randomness is drawn up front
    and replays exactly.
    """

    low: float = 0.0
    high: float = 1.0
    size: int = 1024

    def __post_init__(self) -> None:
        if not _finite(self.low, self.high) or self.low > self.high or self.size < 1:
            raise ValueError(f"PerObject: need low <= high and size >= 1, got {self}.")


#: Any parameter space.
Space = Uniform | LogUniform | Choice | Index | Subset | Bernoulli | PerObject
_SPACES = (Uniform, LogUniform, Choice, Index, Subset, Bernoulli, PerObject)


def _check_weights(what: str, weights: Sequence[float] | None, n: int) -> None:
    if weights is None:
        return
    if len(weights) != n or not _finite(*weights) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"{what}: weights must be {n} non-negative numbers with a positive sum, got {weights}."
        )


def as_space(
    value: float | tuple[float, float] | Space,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
) -> Space:
    """Turn an operation argument into a space, checking it lies within ``[low, high]``.

    Args:
        value: a number (fixed), a ``(low, high)`` pair (uniform) or a space.
        name: the argument's name, for error messages.
        low: smallest value allowed.
        high: largest value allowed.

    Raises:
        TypeError: for anything else.
        ValueError: for values outside ``[low, high]``.

    Examples:
        >>> as_space((0.5, 2.0), "scale")
        Uniform(low=0.5, high=2.0)
        >>> as_space(1.0, "gamma")
        Uniform(low=1.0, high=1.0)
    """
    space: Space
    if isinstance(value, _SPACES):
        space = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        space = Uniform(float(value), float(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        space = Uniform(float(value[0]), float(value[1]))
    else:
        raise TypeError(
            f"{name}: expected a number, a (low, high) pair or a restainaug.spaces object, "
            f"got {value!r}."
        )
    bounds = _bounds(space)
    if bounds is not None and (bounds[0] < low or bounds[1] > high):
        raise ValueError(f"{name}: values must lie in [{low}, {high}], got {space}.")
    return space


def _bounds(space: Space) -> tuple[float, float] | None:
    if isinstance(space, (Uniform, LogUniform, PerObject)):
        return space.low, space.high
    if isinstance(space, Choice):
        return min(space.values), max(space.values)
    return None
