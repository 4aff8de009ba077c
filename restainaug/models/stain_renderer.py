"""IF -> IHC for `restainaug.models.unmix.UnmixGenerator`: the Beer-Lambert `StainRenderer`.

The renderer has no weights: it recomposes the image's own colour deconvolution (which
`UnmixGenerator` passes on in its output) after adding or removing stain where the nuclear
and marker channels changed, so an unchanged IF image renders back to exactly the input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..stains import DAB, HEMATOXYLIN, OpticalTranslator
from .unmix import UNMIX_CHANNELS

__all__ = ["StainRenderer"]


class StainRenderer(nn.Module):
    """IF -> IHC for `UnmixGenerator`: Beer-Lambert recomposition of the edited stains.

    Where the nuclear channel grew (``n > n_ref``), hematoxylin is added in proportion,
    ``h + gain_nuclear (n - n_ref)``; where it shrank, the image's own hematoxylin is scaled
    by ``(n + eps) / (n_ref + eps)``. The marker and DAB likewise. Removing the marker thus
    removes the DAB the network assigned to it and nothing else; moving it onto nuclei adds
    DAB there. The residual of the deconvolution is rescaled with the stain amounts, as in
    `restainaug.stains.OpticalTranslator`. Unchanged channels give back the input exactly.

    Args:
        in_channels: must be 7 (`UNMIX_CHANNELS`).
        out_channels: must be 3 (RGB).
        gain_nuclear: hematoxylin optical density added per unit of the nuclear channel.
        gain_marker: DAB optical density added per unit of the marker channel.
        eps: keeps the ratio finite where a channel is near zero.
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB).

    Shape:
        - input: `(B, 7, H, W)` in the network range
        - output: `(B, 3, H, W)` RGB in `[-1, 1]`

    Examples:
        >>> from restainaug.models.unmix import UnmixGenerator
        >>> g = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> x = torch.rand(1, 3, 16, 16) * 1.6 - 0.8
        >>> bool((StainRenderer()(g(x)) - x).abs().max() < 1e-4)
        True
    """

    def __init__(
        self,
        in_channels: int = len(UNMIX_CHANNELS),
        out_channels: int = 3,
        gain_nuclear: float = 0.5,
        gain_marker: float = 0.8,
        eps: float = 0.05,
        nuclear: tuple[float, float, float] | list[float] | None = None,
        marker: tuple[float, float, float] | list[float] | None = None,
    ) -> None:
        super().__init__()
        if (in_channels, out_channels) != (len(UNMIX_CHANNELS), 3):
            raise ValueError(
                f"StainRenderer maps {len(UNMIX_CHANNELS)} -> 3 channels, got {in_channels} -> "
                f"{out_channels}."
            )
        for name, value in (("gain_nuclear", gain_nuclear), ("gain_marker", gain_marker)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a positive number, got {value!r}.")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive number, got {eps!r}.")
        self.gains = (float(gain_nuclear), float(gain_marker))
        self.eps = float(eps)
        # Recomposition of (hematoxylin, DAB, residual per unit of stain).
        self.optical = OpticalTranslator(nuclear or HEMATOXYLIN, marker or DAB, residual="relative")
        self.multiple = 1
        self.receptive_field = 1

    def _edit(
        self, c: torch.Tensor, v: torch.Tensor, ref: torch.Tensor, gain: float
    ) -> torch.Tensor:
        v = v.clamp_min(0.0)
        grown = c + gain * (v - ref)
        shrunk = c * ((v + self.eps) / (ref + self.eps))
        return torch.where(v >= ref, grown, shrunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x + 1.0) * 0.5
        h = self._edit(v[:, 4:5], v[:, 0:1], v[:, 2:3], self.gains[0])
        d = self._edit(v[:, 5:6], v[:, 1:2], v[:, 3:4], self.gains[1])
        return self.optical.to_ihc(torch.cat([h, d, v[:, 6:7]], dim=1)) * 2.0 - 1.0
