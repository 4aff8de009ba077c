"""Operations on one channel: keep, scale/shift/gamma, counterstain strength, marker removal."""

from __future__ import annotations

import torch

from ..context import IFContext
from ..params import Params
from ..spaces import LogUniform, Space, as_space
from .base import Op, column, with_channel

__all__ = ["ChannelAffine", "Identity", "NuclearStrength", "RemoveMarker"]


class Identity(Op):
    """Leaves the IF channels unchanged (a branch of a ``OneOf`` that keeps the stain)."""

    def __init__(self, p: float = 1.0) -> None:
        self._set_p(p)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        return x


class ChannelAffine(Op):
    """Scale, gamma and shift of one channel.

    ``x' = scale * max(x, 0) ** gamma + min(x, 0) + shift``.

    Negative values (deconvolution noise in the optical translator) pass through unscaled.

    Args:
        channel: ``"nuclear"``, ``"marker"`` or a channel index.
        scale: factor (number, ``(low, high)`` or a space); ``>= 0``.
        shift: added value on the nominal scale.
        gamma: exponent; ``> 0``.
        p: probability per sample.

    Examples:
        >>> op = ChannelAffine("marker", scale=2.0)
        >>> x = torch.ones(1, 2, 4, 4)
        >>> ctx = IFContext(x, nuclear=0, marker=1)
        >>> p = {"scale": torch.tensor([2.0]), "shift": torch.zeros(1), "gamma": torch.ones(1)}
        >>> op.apply(x, p, ctx)[0, :, 0, 0].tolist()
        [1.0, 2.0]
    """

    def __init__(
        self,
        channel: str | int,
        scale: float | tuple[float, float] | Space = 1.0,
        shift: float | tuple[float, float] | Space = 0.0,
        gamma: float | tuple[float, float] | Space = 1.0,
        p: float = 1.0,
    ) -> None:
        self.channel = channel
        self.scale = as_space(scale, "scale", low=0.0)
        self.shift = as_space(shift, "shift")
        self.gamma = as_space(gamma, "gamma", low=1e-3)
        if not (channel in ("nuclear", "marker") or (isinstance(channel, int) and channel >= 0)):
            raise ValueError(
                f"channel: expected 'nuclear', 'marker' or a channel index >= 0, got {channel!r}."
            )
        self._set_p(p)

    @property
    def roles(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset({self.channel}) if isinstance(self.channel, str) else frozenset()

    def param_space(self) -> dict[str, Space]:
        return {"scale": self.scale, "shift": self.shift, "gamma": self.gamma}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.index(self.channel)
        v = x[:, c : c + 1]
        pos = v.clamp_min(0.0)
        new = column(params["scale"], x) * pos.pow(column(params["gamma"], x)) + (v - pos)
        return with_channel(x, c, new + column(params["shift"], x))


class NuclearStrength(Op):
    """Counterstain strength: scale the nuclear channel inside nuclei only.

    ``n' = n * (1 + (factor - 1) * mask)`` with the soft nucleus mask of the context, so the
    background and cytoplasm keep their nuclear-stain level.

    Args:
        factor: multiplicative strength (number, ``(low, high)`` or a space); ``>= 0``.
        p: probability per sample.
    """

    roles = frozenset({"nuclear"})

    def __init__(
        self, factor: float | tuple[float, float] | Space = LogUniform(0.6, 1.6), p: float = 1.0
    ) -> None:
        self.factor = as_space(factor, "factor", low=0.0)
        self._set_p(p)

    def param_space(self) -> dict[str, Space]:
        return {"factor": self.factor}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.nuclear
        gain = 1.0 + (column(params["factor"], x) - 1.0) * ctx.nuclear_mask()
        return with_channel(x, c, x[:, c : c + 1] * gain)


class RemoveMarker(Op):
    """Remove the marker: ``m' = keep * m`` (``keep = 0`` removes it completely).

    Args:
        keep: fraction of the marker left (number, ``(low, high)`` or a space) in ``[0, 1]``.
        p: probability per sample.
    """

    roles = frozenset({"marker"})

    def __init__(self, keep: float | tuple[float, float] | Space = 0.0, p: float = 1.0) -> None:
        self.keep = as_space(keep, "keep", low=0.0, high=1.0)
        self._set_p(p)

    def param_space(self) -> dict[str, Space]:
        return {"keep": self.keep}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.index("marker")
        return with_channel(x, c, x[:, c : c + 1] * column(params["keep"], x))
