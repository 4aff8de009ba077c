"""IHC -> IF by a network and optics together: `UnmixGenerator` and its channels.

A small `ContextGenerator` finds the nuclei and the marker; the output also carries the
image's own colour deconvolution, so that `restainaug.models.stain_renderer.StainRenderer`
(or `restainaug.models.renderer.SlideRenderer`) renders an unchanged IF image back to exactly
the input and changes only the edited stains.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..stains import DAB, HEMATOXYLIN, OpticalTranslator, stain_amount
from .generators import ContextGenerator

__all__ = ["UNMIX_CHANNELS", "UnmixGenerator"]


#: The IF channels of an `UnmixGenerator`, in order, with their roles.
UNMIX_CHANNELS: tuple[tuple[str, str], ...] = (
    ("DAPI", "nuclear"),
    ("marker", "marker"),
    ("DAPI reference", "other"),
    ("marker reference", "other"),
    ("hematoxylin OD", "other"),
    ("DAB OD", "other"),
    ("residual", "other"),
)


class UnmixGenerator(nn.Module):
    """IHC -> IF: a learned nuclear and marker channel plus the image's optical state.

    A `ContextGenerator` (``net``) predicts a DAPI-like nuclear channel and a marker
    channel in ``[0, 1]``. The output also carries what `StainRenderer` needs to translate
    back exactly: copies of both predictions (role ``"other"``, which operations leave alone,
    so the renderer sees what changed) and the colour deconvolution of the input
    (hematoxylin and DAB optical density, and the residual per unit of stain, as in
    `restainaug.stains.OpticalTranslator`). Channels: see `UNMIX_CHANNELS`.

    Args:
        in_channels: must be 3 (RGB).
        out_channels: must be 7 (`UNMIX_CHANNELS`).
        net: config of the `ContextGenerator` that predicts the two channels
            (``in_channels``/``out_channels`` are set here).
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB).
        od_input: also give the network the deconvolved hematoxylin and DAB optical density
            and the residual (6 input channels instead of 3). Stain intensity then varies
            by a scale factor, which is easier to learn to ignore.

    Shape:
        - input: `(B, 3, H, W)` in `[-1, 1]`, H and W multiples of `multiple`
        - output: `(B, 7, H, W)`, the IF values `v` as `2 v - 1` (the network range)

    Examples:
        >>> g = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> g(torch.zeros(1, 3, 16, 16)).shape
        torch.Size([1, 7, 16, 16])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = len(UNMIX_CHANNELS),
        net: dict[str, Any] | None = None,
        nuclear: tuple[float, float, float] | list[float] | None = None,
        marker: tuple[float, float, float] | list[float] | None = None,
        od_input: bool = False,
    ) -> None:
        super().__init__()
        if (in_channels, out_channels) != (3, len(UNMIX_CHANNELS)):
            raise ValueError(
                f"UnmixGenerator maps 3 -> {len(UNMIX_CHANNELS)} channels, got {in_channels} -> "
                f"{out_channels}."
            )
        cfg = {k: v for k, v in (net or {}).items() if k not in ("type", "in_channels")}
        cfg["out_channels"] = 2
        self.od_input = bool(od_input)
        self.net = ContextGenerator(6 if self.od_input else 3, **cfg)
        # Plain deconvolution (absolute residual): the network's extra input.
        self.optical = OpticalTranslator(nuclear or HEMATOXYLIN, marker or DAB, residual="absolute")
        self.multiple = self.net.multiple
        self.receptive_field = self.net.receptive_field

    def _deconvolve(self, x: torch.Tensor) -> torch.Tensor:
        return self.optical.to_if((x + 1.0) * 0.5)

    def _predict(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        inp = torch.cat([x, c], dim=1) if c is not None else x
        return (self.net(inp) + 1.0) * 0.5

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The learned nuclear and marker channels in ``[0, 1]``, ``(B, 2, H, W)``."""
        return self._predict(x, self._deconvolve(x) if self.od_input else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self._deconvolve(x)
        pred = self._predict(x, c if self.od_input else None)
        # The residual per unit of stain, as OpticalTranslator(residual="relative") stores it.
        v = torch.cat([pred, pred, c[:, :2], c[:, 2:] / stain_amount(c)], dim=1)
        return v * 2.0 - 1.0
