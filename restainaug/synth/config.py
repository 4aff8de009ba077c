"""Settings of synthetic tissue: what is drawn, how it is stained, how it is imaged."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..ops import MARKER_LEVELS

__all__ = ["LOCALISATIONS", "Localisation", "SynthConfig"]

#: Where the marker sits in a positive cell.
Localisation = Literal["none", "membrane", "nuclear", "cytoplasmic"]
#: The valid localisations.
LOCALISATIONS: tuple[str, ...] = ("none", "membrane", "nuclear", "cytoplasmic")

Range = tuple[float, float]


def _range(
    value: float | Range, name: str, low: float = -math.inf, high: float = math.inf
) -> Range:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (float(value), float(value))
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    ):
        raise TypeError(
            f"SynthConfig.{name}: expected a number or a (low, high) pair, got {value!r}."
        )
    lo, hi = float(value[0]), float(value[1])
    if not low <= lo <= hi <= high:
        raise ValueError(
            f"SynthConfig.{name}: expected low <= high within [{low}, {high}], got ({lo}, {hi})."
        )
    return lo, hi


@dataclass
class SynthConfig:
    """Settings of one synthetic field. Pairs ``(low, high)`` are drawn uniformly per field.

    Defaults resemble 40x brightfield IHC (about 0.25 um per pixel), like the DeepLIIF fields:
    nuclei of 8-16 px radius, 3-9 nuclei per 10,000 px^2. For 20x, halve the radii and
    ``cell_radius`` and multiply ``density`` by four.

    Attributes:
        size: ``(height, width)`` in pixels.
        density: nuclei per 10,000 px^2.
        clustering: fraction of nuclei grouped in nests (epithelium) rather than scattered.
        nucleus_radius: equivalent radius of a nucleus in pixels.
        elongation: ratio of the long to the short axis of a nucleus; epithelial (nested)
            nuclei take the lower half of the range, stromal nuclei the upper half and beyond.
        irregularity: amplitude of the random boundary harmonics (0 = ellipses).
        chromatin: amplitude of the chromatin texture inside nuclei.
        cell_radius: how far a cell extends beyond its nucleus, in pixels.
        hematoxylin: hematoxylin optical density of a nucleus (per nucleus).
        counterstain: hematoxylin optical density of stroma; cytoplasm takes 1.5 times it.
        lumen: fraction of the field left as glass (lumina, gaps).
        marker: marker localisation: none, membrane, nuclear or cytoplasmic.
        marker_level: marker optical density of a positive cell: a level name ("1+", "2+",
            "3+", "0"), a number, or a ``(low, high)`` pair drawn per cell.
        positive_fraction: fraction of marker-positive epithelial cells (stromal cells are
            negative for membrane and cytoplasmic markers, and positive at 0.3 times this rate
            for nuclear markers).
        marker_variation: relative spread of marker intensity between cells.
        nonspecific: background marker optical density (nonspecific staining).
        stain_jitter: random rotation of the stain vectors, in degrees.
        glass: glass colour (R, G, B) in ``[0, 1]``; jittered by +-0.03 per channel and field.
        scanner_blur: Gaussian blur of the IHC, in pixels.
        ihc_noise: standard deviation of IHC pixel noise (in ``[0, 1]`` units).
        psf: Gaussian point-spread function of the IF image, in pixels.
        if_background: IF background level on the nominal scale.
        if_noise: standard deviation of IF noise on the nominal scale.
    """

    size: tuple[int, int] = (256, 256)
    density: float | Range = (3.0, 9.0)
    clustering: float | Range = (0.3, 0.8)
    nucleus_radius: float | Range = (8.0, 16.0)
    elongation: float | Range = (1.0, 2.2)
    irregularity: float | Range = (0.03, 0.1)
    chromatin: float | Range = (0.15, 0.35)
    cell_radius: float | Range = (6.0, 12.0)
    hematoxylin: float | Range = (0.35, 0.8)
    counterstain: float | Range = (0.04, 0.1)
    lumen: float | Range = (0.0, 0.1)
    marker: Localisation = "membrane"
    marker_level: str | float | Range = (0.3, 1.0)
    positive_fraction: float | Range = (0.3, 0.9)
    marker_variation: float = 0.25
    nonspecific: float | Range = (0.01, 0.06)
    stain_jitter: float = 6.0
    glass: tuple[float, float, float] = (0.9, 0.92, 0.9)
    scanner_blur: float | Range = (0.6, 1.4)
    ihc_noise: float = 0.008
    psf: float | Range = (1.0, 2.0)
    if_background: float | Range = (0.02, 0.08)
    if_noise: float = 0.015

    def __post_init__(self) -> None:
        h, w = self.size
        if not (isinstance(h, int) and isinstance(w, int) and h >= 16 and w >= 16):
            raise ValueError(
                f"SynthConfig.size: expected (height, width) >= 16, got {self.size!r}."
            )
        if self.marker not in LOCALISATIONS:
            raise ValueError(
                f"SynthConfig.marker: expected one of {LOCALISATIONS}, got {self.marker!r}."
            )
        if isinstance(self.marker_level, str) and self.marker_level not in MARKER_LEVELS:
            raise ValueError(
                f"SynthConfig.marker_level: expected one of {sorted(MARKER_LEVELS)}, a number or "
                f"a (low, high) pair, got {self.marker_level!r}."
            )
        if not 0.0 <= self.marker_variation < 1.0:
            raise ValueError(
                f"SynthConfig.marker_variation must be in [0, 1), got {self.marker_variation}."
            )
        if len(self.glass) != 3 or not all(0.5 <= g <= 1.0 for g in self.glass):
            raise ValueError(
                f"SynthConfig.glass: expected 3 values in [0.5, 1], got {self.glass!r}."
            )
        for name, lo, hi in (
            ("density", 0.0, 100.0),
            ("clustering", 0.0, 1.0),
            ("nucleus_radius", 1.5, 100.0),
            ("elongation", 1.0, 10.0),
            ("irregularity", 0.0, 0.5),
            ("chromatin", 0.0, 1.0),
            ("cell_radius", 0.0, 100.0),
            ("hematoxylin", 0.0, 3.0),
            ("counterstain", 0.0, 1.0),
            ("lumen", 0.0, 0.9),
            ("positive_fraction", 0.0, 1.0),
            ("nonspecific", 0.0, 1.0),
            ("scanner_blur", 0.0, 10.0),
            ("psf", 0.0, 10.0),
            ("if_background", 0.0, 1.0),
        ):
            _range(getattr(self, name), name, lo, hi)
        if not isinstance(self.marker_level, str):
            _range(self.marker_level, "marker_level", 0.0, 3.0)

    def marker_range(self) -> Range:
        """The marker optical density range of positive cells."""
        if isinstance(self.marker_level, str):
            v = MARKER_LEVELS[self.marker_level]
            return v, v
        return _range(self.marker_level, "marker_level", 0.0, 3.0)

    def range(self, name: str) -> Range:
        """A setting as a ``(low, high)`` pair."""
        return _range(getattr(self, name), name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for manifests)."""
        return dataclasses.asdict(self)
