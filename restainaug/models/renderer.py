"""IF -> IHC that renders edits in the slide's own stains: `SlideRenderer`.

`restainaug.models.stain_renderer.StainRenderer` adds and removes stain along the reference
hematoxylin and DAB vectors with fixed gains. Removing marker then has two faults that
real slides show at once: the marker channel also takes up the tint of the glass (removal
whitens the whole tile), and a dark DAB-stained nucleus hides the hematoxylin under it
(removal leaves a pale ghost with purple residual speckles). `SlideRenderer` reads the
slide's own stains off each image before it renders an edit:

* **glass kept** - removal acts only where the DAB exceeds the image's DAB floor (the DAB of
  its glass, 95th percentile over pixels of mean optical density below 0.1; 0 on a tile
  without glass), so the glass keeps its tint;
* **removed marker leaves one of the slide's own negative nuclei** - the negative nuclei (the
  foreground of the reference nuclear channel with little marker nearby) give a lookup table
  of their optical density (R, G, B) at 16 rising levels (equal-count bins of their pixels
  sorted by total density). Where marker is removed from a nucleus (nuclear channel above
  10-40 % of the slide's mean), a pixel takes the table's colour at its nuclear level (the
  median at the slide's mean level), the hematoxylin that the DAB hid included; elsewhere it
  keeps the tissue without the DAB. The deconvolution residual that came with the DAB goes
  with it;
* **added marker** is DAB along the reference vector, ``gain_marker`` optical density per
  unit (scaled to the slide's own DAB strength where it has marker, see ``reference_dab``),
  added on top of the pixel's own optical density (`StainRenderer` also scales the
  pixel's deconvolution residual with the new stain amount, which tints added marker
  olive-green); with ``slide_marker=True`` it is instead what the slide's own
  marker-positive pixels (smoothed reference marker above 0.3) have beyond its median
  negative-nucleus pixel, at level ``a / 1.2`` of their table (2+ = the median), blended in
  over the first 0.1 of marker. That matches the hue and strength of each lab's positives
  more closely but, measured on DeepLIIF, renders them too dark (see the docs' realism page),
  so it is off by default.

Unchanged channels still give back the input exactly: every correction is weighted by the
change of the marker channel, and the nuclear channel is rendered as in `StainRenderer`.
The tables are computed per image, from every third pixel in each direction (per tile when
a large image is translated in tiles); a slide with too few such pixels uses the model's
tables (config ``positive_od``, ``negative_od``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import nuclei as nu
from ..stains import od_to_rgb
from .stain_renderer import StainRenderer, dab_floor

__all__ = ["SlideRenderer"]

#: Pixels of the image the statistics read: every ``_STRIDE``-th in each direction.
_STRIDE = 3
#: Fewest of those pixels from which a slide's own lookup table is made.
_MIN_MARKER_PIXELS = 24
#: Marker above which a region is a positive structure; mean marker of a negative nucleus.
_POSITIVE, _NEGATIVE = 0.3, 0.1
#: Marker level (2+, `restainaug.ops.MARKER_LEVELS`) rendered as the slide's median positive.
_TYPICAL = 0.6
#: Added marker below which a pixel is only partly covered (soft edges).
_COVER = 0.1
#: Levels of the slide's lookup tables.
_LEVELS = 16


def _table(value: list[list[float]] | None, default: torch.Tensor, name: str) -> torch.Tensor:
    if value is None:
        return default.float()
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] != 3 or not torch.isfinite(t).all():
        raise ValueError(
            f"{name}: expected K >= 2 rows of optical density (R, G, B), rising, got shape "
            f"{tuple(t.shape)}."
        )
    return t.T.contiguous()


def _sum(x: torch.Tensor) -> torch.Tensor:
    return x.sum(dim=(2, 3), keepdim=True)


class SlideRenderer(StainRenderer):
    """`StainRenderer` that renders edits with the slide's own DAB and keeps its glass.

    Args:
        glass_od: mean optical density below which a pixel counts as glass; removal leaves
            the DAB up to the glass's own (its tint) everywhere.
        positive_od: optical density (R, G, B) of real positive pixels at ``K`` rising
            levels, ``K x 3``, for slides without marker of their own (default: the
            reference DAB vector times ``gain_marker``, from 0 to 1.2 units, over a light
            hematoxylin).
        negative_od: the same for negative nuclei, for slides without any (default: the
            reference hematoxylin vector times ``gain_nuclear``, from 0 to 2 units).
        slide_marker: render added marker from the slide's own positive pixels (see the
            module docstring); ``False`` adds DAB along the reference vector, ``gain_marker``
            optical density per unit.
        reference_dab: the slide DAB strength (`slide_stains`) of the field ``gain_marker``
            was calibrated on; when given, a slide with marker of its own gets
            ``gain_marker`` times its strength over this one (0.25x to 4x), so added marker
            is as strong as its own positives.
        **renderer: the arguments of `StainRenderer`, with these meanings here:
            ``gain_nuclear``, hematoxylin optical density per unit of the nuclear channel,
            where the image has too few negative nuclei to measure it; ``gain_marker``, DAB
            optical density per unit of marker, where the image has too few marker-positive
            pixels to measure it; ``marker``, the absorption vector of the marker stain
            (DAB), used where the image has no marker of its own; ``in_channels``,
            ``out_channels``, ``eps`` and ``nuclear`` as there.

    Shape:
        - input: `(B, 7, H, W)` in the network range
        - output: `(B, 3, H, W)` RGB in `[-1, 1]`

    Examples:
        Removing all marker from a tile of tinted glass leaves the glass as it was
        (`StainRenderer` whitens it):

        >>> from restainaug.models.unmix import UnmixGenerator
        >>> unmix = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> glass = torch.full((1, 3, 16, 16), 0.8)
        >>> v = unmix(glass)
        >>> v[:, 1] = -1.0
        >>> bool((SlideRenderer(gain_marker=1.2)(v) - glass).abs().max() < 1e-4)
        True
    """

    def __init__(
        self,
        *,
        glass_od: float = 0.1,
        positive_od: list[list[float]] | None = None,
        negative_od: list[list[float]] | None = None,
        slide_marker: bool = False,
        reference_dab: float | None = None,
        **renderer: Any,
    ) -> None:
        super().__init__(glass_od=glass_od, **renderer)
        if not isinstance(slide_marker, bool):
            raise TypeError(f"slide_marker: expected a bool, got {type(slide_marker).__name__}.")
        self.slide_marker = slide_marker
        if reference_dab is not None and not reference_dab > 0:
            raise ValueError(f"reference_dab: expected a positive number, got {reference_dab!r}.")
        self.reference_dab = None if reference_dab is None else float(reference_dab)
        dab_ = self.optical.stains[1].view(3, 1)
        hema_ = self.optical.stains[0].view(3, 1)
        rising = (torch.arange(_LEVELS) + 0.5) / _LEVELS
        default_pos = dab_ * self.gains[1] * 2.0 * _TYPICAL * rising + hema_ * 0.3
        default_neg = hema_ * self.gains[0] * 2.0 * rising
        self.register_buffer(
            "positive_od", _table(positive_od, default_pos, "positive_od"), persistent=False
        )
        self.register_buffer(
            "negative_od", _table(negative_od, default_neg, "negative_od"), persistent=False
        )

    def _od(self, hema: torch.Tensor, dab: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        # Beer-Lambert optical density of (hematoxylin, DAB, residual per unit of stain).
        return self.optical.to_od(torch.cat([hema, dab, residual], dim=1))

    def _lut(self, od: torch.Tensor, mask: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
        # Per sample: K bins of equal count of the masked pixels sorted by total optical
        # density, each bin's mean (R, G, B): a lookup table of the slide's own pixels.
        k = fallback.shape[-1]
        out = []
        for b in range(od.shape[0]):
            sel = od[b].flatten(1)[:, mask[b].flatten()]
            if sel.shape[1] < max(_MIN_MARKER_PIXELS, k):
                out.append(fallback.to(od.dtype))
                continue
            # Bin means from the cumulative sum at the bin edges (K equal-count bins).
            ranked = sel[:, sel.sum(0).argsort()]
            edges = torch.linspace(0, ranked.shape[1], k + 1, device=od.device).round().long()
            csum = F.pad(ranked.double().cumsum(1), (1, 0))
            counts = (edges[1:] - edges[:-1]).clamp_min(1)
            out.append(((csum[:, edges[1:]] - csum[:, edges[:-1]]) / counts).to(od.dtype))
        return torch.stack(out)

    def slide_stains(
        self, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the image says about its stains, per sample.

        Args:
            v: the IF channels on the ``[0, 1]`` scale, ``(B, 7, H, W)``.

        Returns:
            ``(positive (B, 3, K), negative (B, 3, K), nuclear_mean (B, 1, 1, 1),
            dab_floor (B, 1, 1, 1), dab_strength (B, 1, 1, 1))``: optical density
            (R, G, B) of the slide's marker-positive pixels and of its negative nuclei at
            ``K`` rising levels (the model's defaults where the slide has too few), the mean
            nuclear channel of its negative nuclei, its DAB floor, and the 90th percentile of
            DAB above the floor in its marker regions (``nan`` where it has too few).
        """
        # Every third pixel in each direction: the statistics need no more, at a ninth of
        # the cost.
        v = v[..., ::_STRIDE, ::_STRIDE]
        n_ref, m_ref, hema, dab = v[:, 2:3], v[:, 3:4], v[:, 4:5], v[:, 5:6]
        od = self._od(hema, dab, v[:, 6:7])
        # The DAB floor: the DAB of the glass, 0 on a tile without glass, so that a tile full
        # of stained tissue loses all its marker.
        floor = dab_floor(od, dab, self.glass_od)
        # Negative nuclei: the nuclear foreground with little marker nearby; positive
        # structures: wherever the marker is (their pale edges included).
        marker = nu.box_mean(m_ref, 1)
        neg = (nu.nuclear_foreground(n_ref) > 0) & (marker < _NEGATIVE)
        pos = marker > _POSITIVE
        if self.slide_marker:
            positive = self._lut(od, pos, self.positive_od)
        else:
            positive = self.positive_od.to(v.dtype).expand(v.shape[0], -1, -1)
        negative = self._lut(od, neg, self.negative_od)
        count = _sum(neg.to(v.dtype))
        n_mean = torch.where(
            count > 0, _sum(n_ref * neg) / count.clamp_min(1.0), torch.full_like(count, 0.5)
        )
        # The slide's DAB strength: the 90th percentile of DAB above the floor in its marker
        # regions (their strong cores: the median also counts pale brown cytoplasm).
        level = torch.full_like(floor, float("nan"))
        for b in range(v.shape[0]):
            sel = (dab[b] - floor[b])[pos[b]]
            if sel.numel() >= _MIN_MARKER_PIXELS:
                level[b] = torch.quantile(sel.float(), 0.9).to(level.dtype)
        return positive, negative, n_mean.clamp_min(0.05), floor, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x + 1.0) * 0.5
        n, m, n_ref, m_ref = v[:, 0:1], v[:, 1:2], v[:, 2:3], v[:, 3:4]
        hema, dab, residual = v[:, 4:5], v[:, 5:6], v[:, 6:7]
        positive, negative, n_mean, floor, strength = self.slide_stains(v)
        h = self._edit(hema, n, n_ref, self.gains[0])
        # Marker removed: only the DAB above the floor goes, in proportion, with the residual
        # that came with it (no ghost), and the glass keeps its tint.
        m_pos = m.clamp_min(0.0)
        ratio = ((m_pos + self.eps) / (m_ref + self.eps)).clamp(max=1.0)
        low = torch.minimum(dab, floor)
        d = torch.where(m_pos < m_ref, low + (dab - low) * ratio, dab)
        above = ((dab - floor) / 0.1).clamp(0.0, 1.0)  # 0 on glass and unstained tissue
        removed = (1.0 - ratio) * (m_pos < m_ref).to(v.dtype) * above
        h = torch.where(removed > 0, h.clamp_min(0.0), h)
        od = self._od(h, d, residual * (1.0 - removed))
        # What the marker hid becomes one of the slide's negative nuclei: the optical density
        # of its negative-nucleus pixels at this pixel's nuclear level (the median at the
        # slide's mean level).
        if bool((removed > 0).any()):
            relative = n / n_mean
            plain = _lookup(negative, (0.5 * relative).clamp(0.0, 1.0))
            # Only in nuclei (from 10 % to 40 % of the slide's mean nuclear level): removed
            # membrane or cytoplasmic marker leaves pale tissue, not nucleus colour.
            nucleus = ((relative - 0.1) / 0.3).clamp(0.0, 1.0)
            od = od + removed * nucleus * (plain - od)
        added = (m_pos - m_ref).clamp_min(0.0)
        if not self.slide_marker:
            # DAB along the reference vector, on top of the pixel's own optical density
            # (scaling its deconvolution residual with it would tint the marker olive-green).
            gain = torch.full_like(strength, self.gains[1])
            if self.reference_dab is not None:  # as strong as the slide's own positives
                scale = (strength / self.reference_dab).clamp(0.25, 4.0)
                gain = torch.where(torch.isnan(strength), gain, gain * scale)
            dab_od = self.optical.stains[1].to(od.dtype).view(1, 3, 1, 1)
            od = od + (added * gain) * dab_od
        elif bool((added > 0).any()):
            # What the slide's positive pixels have beyond its median negative-nucleus pixel,
            # at the level the marker asks for (2+ = the median), fading in at the edges.
            stained = _lookup(positive, (added / (2.0 * _TYPICAL)).clamp(0.0, 1.0))
            base = _lookup(negative, torch.full_like(added, 0.5))
            cover = (added / _COVER).clamp(0.0, 1.0)
            od = od + cover * (stained - base).clamp_min(0.0)
        return od_to_rgb(od, self.optical.background) * 2.0 - 1.0


def _lookup(lut: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Linear interpolation in per-sample tables ``(B, 3, K)`` at ``u`` ``(B, 1, H, W)`` in
    ``[0, 1]``; returns ``(B, 3, H, W)``."""
    b, _, h, w = u.shape
    k = lut.shape[-1]
    pos = u.reshape(b, 1, h * w) * (k - 1)
    lo = pos.floor().long().clamp(0, k - 2)
    frac = pos - lo
    lut = lut.to(u.dtype)
    a = lut.gather(2, lo.expand(-1, 3, -1))
    c = lut.gather(2, (lo + 1).expand(-1, 3, -1))
    return (a + frac * (c - a)).view(b, 3, h, w)
