"""IF -> IHC for `restainaug.models.unmix.UnmixGenerator`: the Beer-Lambert `StainRenderer`.

The renderer has no weights: it recomposes the image's own colour deconvolution (which
`UnmixGenerator` passes on in its output) after adding or removing stain where the nuclear
and marker channels changed, so an unchanged IF image renders back to exactly the input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..stains import DAB, HEMATOXYLIN, OpticalTranslator, stain_amount
from .unmix import UNMIX_CHANNELS

__all__ = ["StainRenderer", "dab_floor"]


class StainRenderer(nn.Module):
    """IF -> IHC for `UnmixGenerator`: Beer-Lambert recomposition of the edited stains.

    Where the nuclear channel grew (``n > n_ref``), hematoxylin is added in proportion,
    ``h + gain_nuclear (n - n_ref)``; where it shrank, the image's own hematoxylin is scaled
    by ``(n + eps) / (n_ref + eps)``. The marker and DAB likewise. Removing the marker thus
    removes the DAB the network assigned to it and nothing else; moving it onto nuclei adds
    DAB there. The residual of the deconvolution follows the stain amounts down, as in
    `restainaug.stains.OpticalTranslator` (removed marker takes the residual that came with it),
    but not up: added stain is pure hematoxylin or DAB on top of the pixel
    (``added_residual=True`` scales the pixel's residual up with it too, the rendering before
    2026-12-02, which tints added marker olive-green). Unchanged channels give back the input
    exactly.

    The glass keeps its tint (``keep_glass``): on glass (mean optical density below
    ``glass_od``) the DAB of the image's glass (its *floor*, `dab_floor`) is never removed,
    only the DAB above it; the floor fades out over the palest tissue (up to twice
    ``glass_od``), so stained nuclei still lose all their marker. The network's marker channel
    is rarely exactly 0 on glass, and scaling all of the DAB there whitened the background of
    every tile whose marker was removed (a CIEDE2000 change of 4.8 on BCData's glass).

    Args:
        in_channels: must be 7 (`UNMIX_CHANNELS`).
        out_channels: must be 3 (RGB).
        gain_nuclear: hematoxylin optical density added per unit of the nuclear channel.
        gain_marker: DAB optical density added per unit of the marker channel.
        eps: keeps the ratio finite where a channel is near zero.
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB).
        keep_glass: never remove the DAB of the image's glass (see above).
        glass_od: mean optical density below which a pixel counts as glass.
        added_residual: scale the pixel's deconvolution residual up with added stain (see
            above).

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
        keep_glass: bool = True,
        glass_od: float = 0.1,
        added_residual: bool = False,
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
        if not isinstance(keep_glass, bool):
            raise TypeError(f"keep_glass: expected a bool, got {type(keep_glass).__name__}.")
        if not 0.0 < glass_od < 1.0:
            raise ValueError(f"glass_od: expected a value in (0, 1), got {glass_od!r}.")
        self.keep_glass, self.glass_od = keep_glass, float(glass_od)
        if not isinstance(added_residual, bool):
            raise TypeError(
                f"added_residual: expected a bool, got {type(added_residual).__name__}."
            )
        self.added_residual = added_residual
        self.gains = (float(gain_nuclear), float(gain_marker))
        self.eps = float(eps)
        # Recomposition of (hematoxylin, DAB, residual per unit of stain).
        self.optical = OpticalTranslator(nuclear or HEMATOXYLIN, marker or DAB, residual="relative")
        self.multiple = 1
        self.receptive_field = 1

    def _edit(
        self,
        c: torch.Tensor,
        v: torch.Tensor,
        ref: torch.Tensor,
        gain: float,
        floor: torch.Tensor | float = 0.0,
    ) -> torch.Tensor:
        v = v.clamp_min(0.0)
        grown = c + gain * (v - ref)
        low = torch.minimum(c, torch.as_tensor(floor, dtype=c.dtype, device=c.device))
        shrunk = low + (c - low) * ((v + self.eps) / (ref + self.eps))
        return torch.where(v >= ref, grown, shrunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x + 1.0) * 0.5
        h = self._edit(v[:, 4:5], v[:, 0:1], v[:, 2:3], self.gains[0])
        floor: torch.Tensor | float = 0.0
        # The floor only matters where the marker shrank (most calls add marker or keep it).
        if self.keep_glass and bool((v[:, 1:2] < v[:, 3:4]).any()):
            od = self.optical.to_od(v[:, 4:7])
            s = (..., slice(None, None, _STRIDE), slice(None, None, _STRIDE))
            # It holds on glass and fades out over the palest tissue (mean optical density
            # from glass_od to twice that), so nuclei still lose all their marker.
            glassy = ((2.0 * self.glass_od - od.mean(1, keepdim=True)) / self.glass_od).clamp(
                0.0, 1.0
            )
            floor = dab_floor(od[s], v[:, 5:6][s], self.glass_od) * glassy
        d = self._edit(v[:, 5:6], v[:, 1:2], v[:, 3:4], self.gains[1], floor)
        residual = v[:, 6:7]
        if not self.added_residual:
            # to_ihc multiplies the relative residual by the new stain amount: where stain was
            # added, divide that growth out so the pixel keeps its own residual.
            old, new = stain_amount(v[:, 4:6]), stain_amount(torch.cat([h, d], dim=1))
            residual = torch.where(new > old, residual * (old / new), residual)
        return self.optical.to_ihc(torch.cat([h, d, residual], dim=1)) * 2.0 - 1.0


#: Pixels the glass statistics read: every ``_STRIDE``-th in each direction.
_STRIDE = 3
#: Fewest glass pixels from which an image's DAB floor is measured.
_MIN_GLASS_PIXELS = 24


def dab_floor(od: torch.Tensor, dab: torch.Tensor, glass_od: float = 0.1) -> torch.Tensor:
    """The DAB amount of each image's glass: its 95th percentile over glass pixels.

    Glass pixels have a mean optical density below ``glass_od``; an image with fewer than 24
    of them (a tile full of tissue) has a floor of 0, so that all its marker can go.

    Args:
        od: optical density (R, G, B), ``(B, 3, H, W)``.
        dab: DAB amount, ``(B, 1, H, W)``.
        glass_od: mean optical density below which a pixel counts as glass.

    Returns:
        ``(B, 1, 1, 1)``, ``>= 0``.

    Examples:
        >>> od = torch.full((1, 3, 8, 8), 0.05); dab = torch.full((1, 1, 8, 8), 0.02)
        >>> round(float(dab_floor(od, dab)), 3), float(dab_floor(od + 0.5, dab))
        (0.02, 0.0)
    """
    glass = od.mean(1, keepdim=True) < glass_od
    floor = torch.zeros(od.shape[0], 1, 1, 1, dtype=dab.dtype, device=dab.device)
    for b in range(od.shape[0]):
        sel = dab[b][glass[b]]
        if sel.numel() >= _MIN_GLASS_PIXELS:
            floor[b] = torch.quantile(sel.float(), 0.95).clamp_min(0.0).to(dab.dtype)
    return floor
