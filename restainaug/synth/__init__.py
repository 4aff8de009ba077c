"""Synthetic tissue with known ground truth: IHC, IF, instance labels and stain maps.

One call of :func:`synthesize` draws a field: nuclei with irregular shapes and chromatin
texture, cells around them (a Voronoi-like partition with membranes), a marker placed on
membranes, nuclei or cytoplasm of a random fraction of cells at a chosen strength, and the
concentration of every stain at every pixel. From the same concentrations it renders a
fluorescence image (nuclear + marker channels, optical blur, background, noise) and a
brightfield image (Beer-Lambert with jittered hematoxylin and DAB vectors, scanner blur,
noise, glass). The concentrations are the ground truth for measuring any translator.

Examples:
    >>> from restainaug.synth import SynthConfig, synthesize
    >>> field = synthesize(SynthConfig(size=(64, 64), marker="nuclear"), seed=0)
    >>> field.ihc.shape, field.ihc.dtype, field.if_.shape, int(field.labels.max()) == field.n
    ((64, 64, 3), dtype('uint8'), (2, 64, 64), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..stains import DAB, HEMATOXYLIN
from .config import LOCALISATIONS, Localisation, SynthConfig
from .layout import Layout, draw_layout, smooth_field
from .render import jitter_stain, render_if, render_ihc

__all__ = ["LOCALISATIONS", "Localisation", "SynthConfig", "SynthField", "synthesize"]

#: Classes of nuclei in :attr:`SynthField.classes`.
CLASSES = {0: "background", 1: "epithelial", 2: "stromal"}


@dataclass
class SynthField:
    """One synthetic field and its ground truth.

    Attributes:
        ihc: brightfield RGB image, uint8 ``(H, W, 3)``.
        if_: fluorescence image, float32 ``(2, H, W)``: nuclear (DAPI-like) and marker
            channels on the nominal scale (1 = strong staining).
        labels: nucleus instance labels, int32 ``(H, W)``, ids ``1..n``.
        cells: cell instance labels (same ids), int32 ``(H, W)``.
        classes: class of each id (``0`` background, ``1`` epithelial, ``2`` stromal), ``(n+1,)``.
        positive: marker status of each id, bool ``(n+1,)``.
        concentrations: hematoxylin and marker optical densities as imaged in ``ihc``
            (after scanner blur), float32 ``(2, H, W)``.
        stains: the hematoxylin and marker absorption vectors used, float32 ``(2, 3)``.
        params: the values drawn for this field (for manifests).
    """

    ihc: np.ndarray
    if_: np.ndarray
    labels: np.ndarray
    cells: np.ndarray
    classes: np.ndarray
    positive: np.ndarray
    concentrations: np.ndarray
    stains: np.ndarray
    params: dict[str, Any]

    @property
    def n(self) -> int:
        """Number of nuclei."""
        return int(self.classes.shape[0] - 1)


def _draw(rng: np.random.Generator, cfg: SynthConfig, name: str) -> float:
    lo, hi = cfg.range(name)
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def _marker_map(
    rng: np.random.Generator,
    cfg: SynthConfig,
    lay: Layout,
    positive: np.ndarray,
    texture: np.ndarray,
) -> np.ndarray:
    lo, hi = cfg.marker_range()
    level = rng.uniform(lo, hi, positive.shape[0]) * (
        1 + cfg.marker_variation * rng.uniform(-1, 1, positive.shape[0])
    )
    amp = (level * positive)[lay.cells].astype(np.float32)
    if cfg.marker == "membrane":
        return amp * lay.membrane
    if cfg.marker == "nuclear":
        return amp * lay.shape * (0.85 + 0.15 * texture)
    if cfg.marker == "cytoplasmic":
        cyto = ((lay.cells > 0) & (lay.labels == 0)).astype(np.float32)
        return amp * cyto * (1 - lay.shape) * (0.85 + 0.15 * smooth_field(rng, cyto.shape, 2.0))
    return np.zeros_like(amp)


def synthesize(config: SynthConfig | None = None, seed: int = 0, **overrides: Any) -> SynthField:
    """Draw one synthetic field.

    Args:
        config: the settings (defaults when ``None``).
        seed: the seed; the same config and seed give the same field, bit for bit.
        **overrides: settings that replace those of ``config`` (e.g. ``marker="nuclear"``).

    Returns:
        The field with its ground truth.

    Raises:
        TypeError, ValueError: for invalid settings (see :class:`SynthConfig`).
    """
    cfg = replace(config or SynthConfig(), **overrides)
    rng = np.random.default_rng(seed)
    h, w = cfg.size
    drawn = {
        k: _draw(rng, cfg, k)
        for k in (
            "density",
            "clustering",
            "elongation",
            "irregularity",
            "chromatin",
            "cell_radius",
            "counterstain",
            "lumen",
            "positive_fraction",
            "nonspecific",
            "scanner_blur",
            "psf",
            "if_background",
        )
    }
    lay = draw_layout(
        rng,
        (h, w),
        density=drawn["density"],
        clustering=drawn["clustering"],
        radius=cfg.range("nucleus_radius"),
        elongation=(1.0, max(drawn["elongation"], 1.0)),
        irregularity=drawn["irregularity"],
        cell_radius=drawn["cell_radius"],
        lumen=drawn["lumen"],
    )
    n = lay.n
    classes = np.concatenate([[0], np.where(lay.nested, 1, 2)]).astype(np.int8)
    # Membrane and cytoplasmic markers stain epithelial cells; nuclear markers also some stroma.
    stromal_share = 0.3 if cfg.marker == "nuclear" else 0.0
    p_pos = np.where(classes == 1, 1.0, stromal_share) * drawn["positive_fraction"]
    positive = (rng.random(n + 1) < p_pos) & (cfg.marker != "none")
    positive[0] = False

    texture = smooth_field(rng, (h, w), 1.3)
    hem = rng.uniform(*cfg.range("hematoxylin"), n + 1).astype(np.float32)
    hem[0] = 0.0
    if cfg.marker == "nuclear":
        hem[positive] *= 0.5  # DAB precipitate masks the counterstain of positive nuclei
    nuclear = hem[lay.cells] * lay.shape * (1 + drawn["chromatin"] * texture) * (1 + 0.2 * lay.rim)
    nuclear = np.clip(nuclear, 0, None).astype(np.float32)
    fibres = smooth_field(rng, (h, w), 1.5, stretch=5.0, angle=float(rng.uniform(0, np.pi)))
    stroma = (
        drawn["counterstain"]
        * lay.tissue
        * np.clip(1 + 0.35 * fibres + 0.25 * smooth_field(rng, (h, w), 8.0), 0, None)
    )
    cytoplasm = ((lay.cells > 0) & (lay.labels == 0)).astype(np.float32)
    hematoxylin = nuclear + stroma * (1 + 0.5 * cytoplasm) * (1 - lay.shape)
    marker = _marker_map(rng, cfg, lay, positive, texture)
    marker = marker + drawn["nonspecific"] * lay.tissue * np.clip(
        1 + 0.5 * smooth_field(rng, (h, w), 6.0), 0, None
    )

    stains = np.stack(
        [
            jitter_stain(rng, np.array(HEMATOXYLIN), cfg.stain_jitter),
            jitter_stain(rng, np.array(DAB), cfg.stain_jitter),
        ]
    ).astype(np.float32)
    glass = np.clip(np.asarray(cfg.glass) + rng.uniform(-0.03, 0.03, 3), 0.5, 1.0)
    ihc, imaged = render_ihc(
        rng, np.stack([hematoxylin, marker]), stains, glass, drawn["scanner_blur"], cfg.ihc_noise
    )
    if_ = render_if(
        rng, np.stack([nuclear, marker]), drawn["psf"], drawn["if_background"], cfg.if_noise
    )
    params = {
        **drawn,
        "n": n,
        "glass": glass.tolist(),
        "stains": stains.tolist(),
        "seed": seed,
        "marker": cfg.marker,
    }
    return SynthField(
        ihc=ihc,
        if_=if_,
        labels=lay.labels,
        cells=lay.cells,
        classes=classes,
        positive=positive,
        concentrations=imaged,
        stains=stains,
        params=params,
    )
