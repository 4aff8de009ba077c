"""The contract of IF-channel operations: `Op`, and helpers to write one channel.

An operation declares its random parameters in ``param_space()`` (drawn elsewhere, by
`restainaug.params.sample_params`) and applies them deterministically in
``apply(x, params, ctx)``, without modifying ``x`` in place.
"""

from __future__ import annotations

import torch

from ..context import IFContext
from ..params import Params
from ..spaces import Space

__all__ = ["Op", "column", "with_channel"]


class Op:
    """Base class of IF-channel operations.

    Subclasses declare their random parameters in `param_space` and implement
    `apply`, which must not modify ``x`` in place.

    Attributes:
        p: probability that a sample gets the operation (drawn per sample).
        roles: channel roles the operation needs.
    """

    p: float = 1.0
    roles: frozenset[str] = frozenset()
    children: tuple[Op, ...] = ()

    def param_space(self) -> dict[str, Space]:
        """Spaces of the per-sample parameters, by name."""
        return {}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        """Apply the operation with the given parameters (deterministic).

        Shape:
            - x: `(B, C, H, W)`
            - output: `(B, C, H, W)`
        """
        raise NotImplementedError

    def _set_p(self, p: float) -> None:
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p!r}.")
        self.p = float(p)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def column(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample values ``(B,)`` as a ``(B, 1, 1, 1)`` column on ``x``'s device and dtype."""
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def with_channel(x: torch.Tensor, c: int, value: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` whose channel ``c`` is ``value`` (``(B, 1, H, W)``)."""
    out = x.clone()
    out[:, c : c + 1] = value
    return out
