"""IF -> IHC that renders edits in the slide's own stains: `SlideRenderer`.

`restainaug.models.networks.StainRenderer` adds and removes stain along the reference
hematoxylin and DAB vectors with fixed gains. Real slides differ from lab to lab in DAB hue
and strength (a 3+ nucleus of one lab has several times the optical density of another's),
the marker channel also takes up the tint of the glass, and a dark DAB-stained nucleus hides
the hematoxylin under it. `SlideRenderer` reads those properties off each image before it
renders the edit:

* **the slide's own DAB** - where the image already has marker (pixels the network calls
  marker-positive), a unit of added marker adds the optical density (R, G, B) by which its
  positive pixels exceed its negative nuclei, scaled so that a 2+ level (0.6) gives the
  slide's mean positive; elsewhere the reference DAB vector times ``gain_marker``;
* **glass and stroma kept** - removing marker only removes DAB above the image's DAB floor
  (its lower quartile: the tint of glass and unstained tissue), so the glass keeps its colour;
* **hematoxylin under removed DAB** - where marker is removed from a nucleus, hematoxylin is
  filled in up to what the image's negative nuclei have at the same nuclear-channel value
  (a least-squares fit over them), so a former positive becomes a plain blue nucleus.

Unchanged channels still give back the input exactly: every correction is scaled by the
change of a channel.
"""

from __future__ import annotations

import torch

from ..stains import od_to_rgb
from .networks import ARCHITECTURES, StainRenderer

__all__ = ["SlideRenderer"]

#: Fewest marker pixels from which a slide's own DAB colour and strength are taken.
_MIN_MARKER_PIXELS = 64
#: Marker-channel value above which a pixel counts as marker-positive, and below which as not.
_POSITIVE, _NEGATIVE = 0.35, 0.1
#: Marker level (2+, `restainaug.ops.MARKER_LEVELS`) rendered as the slide's mean positive.
_TYPICAL = 0.6


def _sum(x: torch.Tensor) -> torch.Tensor:
    return x.sum(dim=(2, 3), keepdim=True)


class SlideRenderer(StainRenderer):
    """`StainRenderer` that renders edits with the slide's own DAB and keeps its glass.

    Args:
        in_channels: must be 7 (`UNMIX_CHANNELS`).
        out_channels: must be 3 (RGB).
        gain_nuclear: hematoxylin optical density per unit of the nuclear channel, where the
            image has too few negative nuclei to measure it.
        gain_marker: DAB optical density per unit of marker, where the image has too few
            marker-positive pixels to measure it.
        eps: keeps the ratio finite where a channel is near zero.
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB), used where the image has no
            marker of its own.
        floor_quantile: quantile of the image's DAB optical density below which removal
            changes nothing (glass tint).

    Shape:
        - input: `(B, 7, H, W)` in the network range
        - output: `(B, 3, H, W)` RGB in `[-1, 1]`

    Examples:
        >>> from restainaug.models.networks import UnmixGenerator
        >>> g = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> x = torch.rand(1, 3, 16, 16) * 1.6 - 0.8
        >>> bool((SlideRenderer()(g(x)) - x).abs().max() < 1e-4)
        True
    """

    def __init__(
        self,
        in_channels: int = 7,
        out_channels: int = 3,
        gain_nuclear: float = 0.5,
        gain_marker: float = 0.8,
        eps: float = 0.05,
        nuclear: tuple[float, float, float] | list[float] | None = None,
        marker: tuple[float, float, float] | list[float] | None = None,
        floor_quantile: float = 0.25,
    ) -> None:
        super().__init__(in_channels, out_channels, gain_nuclear, gain_marker, eps, nuclear, marker)
        if not 0.0 <= floor_quantile < 1.0:
            raise ValueError(f"floor_quantile: expected a value in [0, 1), got {floor_quantile!r}.")
        self.floor_quantile = float(floor_quantile)

    def _od(self, hema: torch.Tensor, dab: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        # Beer-Lambert optical density of (hematoxylin, DAB, residual per unit of stain).
        s = self.optical.stains.to(hema.dtype)
        amount = hema.abs() + dab.abs() + 0.05
        return (
            hema * s[0].view(1, 3, 1, 1)
            + dab * s[1].view(1, 3, 1, 1)
            + residual * amount * s[2].view(1, 3, 1, 1)
        )

    def slide_stains(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the image says about its stains, per sample.

        Args:
            v: the IF channels on the ``[0, 1]`` scale, ``(B, 7, H, W)``.

        Returns:
            ``(added (B, 3, 1, 1), dab_floor (B, 1, 1, 1), hema_gain (B, 1, 1, 1))``: the
            optical density (R, G, B) one unit of marker adds to a nucleus, the DAB floor,
            and hematoxylin per unit of nuclear channel in negative nuclei.
        """
        n_ref, m_ref, hema, dab = v[:, 2:3], v[:, 3:4], v[:, 4:5], v[:, 5:6]
        sub = dab[..., ::2, ::2].flatten(1)
        floor = torch.quantile(sub.float(), self.floor_quantile, dim=1).to(v.dtype)
        floor = floor.view(-1, 1, 1, 1)
        # Hematoxylin per unit of nuclear channel in negative nuclei (least squares, no offset).
        neg = ((m_ref < _NEGATIVE) & (n_ref > 0.3)).to(v.dtype)
        num, den = _sum(hema * n_ref * neg), _sum(n_ref * n_ref * neg).clamp_min(1e-6)
        few_neg = _sum(neg) < _MIN_MARKER_PIXELS
        hema_gain = torch.where(few_neg, torch.full_like(num, self.gains[0]), num / den)
        # The slide's own positives: optical density per unit of marker beyond that of its
        # negative nuclei (mean over marker-positive pixels).
        pos = ((m_ref > _POSITIVE) & (dab > floor + 0.1)).to(v.dtype)
        od = self._od(hema, dab, v[:, 6:7])
        pos_od = _sum(od * pos) / _sum(pos).clamp_min(1.0)
        neg_od = _sum(od * neg) / _sum(neg).clamp_min(1.0)
        per_unit = (pos_od - neg_od).clamp_min(0.0) / _TYPICAL
        reference = self.optical.stains[1].to(v.dtype).view(1, 3, 1, 1) * self.gains[1]
        mine = (_sum(pos) >= _MIN_MARKER_PIXELS) & ~few_neg
        added = torch.where(mine, per_unit, reference.expand_as(per_unit))
        return added, floor, hema_gain.clamp(0.0, 3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x + 1.0) * 0.5
        n, m, n_ref, m_ref = v[:, 0:1], v[:, 1:2], v[:, 2:3], v[:, 3:4]
        hema, dab, residual = v[:, 4:5], v[:, 5:6], v[:, 6:7]
        per_unit, floor, hema_gain = self.slide_stains(v)
        h = self._edit(hema, n, n_ref, self.gains[0])
        # Marker removed: only the DAB above the floor goes, in proportion.
        m_pos = m.clamp_min(0.0)
        ratio = ((m_pos + self.eps) / (m_ref + self.eps)).clamp(max=1.0)
        low = torch.minimum(dab, floor)
        d = torch.where(m_pos < m_ref, low + (dab - low) * ratio, dab)
        # ... and hematoxylin fills in up to a negative nucleus' level for that nuclear value.
        above = ((dab - floor) / 0.1).clamp(0.0, 1.0)  # 0 on glass and unstained tissue
        removed = (1.0 - ratio) * (m_pos < m_ref).to(v.dtype) * above
        h = h + removed * (hema_gain * n.clamp_min(0.0) - h).clamp_min(0.0)
        # Marker added: the optical density the slide's own positives have per unit of marker.
        # The residual that came with the removed DAB goes with it (no purple ghost).
        residual = residual * (1.0 - removed)
        od = self._od(h, d, residual) + (m_pos - m_ref).clamp_min(0.0) * per_unit
        return od_to_rgb(od, self.optical.background) * 2.0 - 1.0


ARCHITECTURES["slide-render"] = SlideRenderer
