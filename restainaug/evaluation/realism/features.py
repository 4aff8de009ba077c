"""Per-nucleus colour, texture and edge statistics, and the colour change of glass.

`nucleus_features` describes each nucleus of an image by the columns of `FEATURES`; the
realism classifier (`restainaug.evaluation.realism.classifier_auc`) tells real from re-stained
nuclei by them. `context_features` describes what no edit confined to a nucleus can change
(its surroundings and its label's shape, `CONTEXT_FEATURES`): the context floor of the realism
score. `glass_delta_e` measures how much an edit changes the glass around the tissue,
and `dab_stats` summarises the DAB of a group of nuclei.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from ...stains import stain_matrix

__all__ = [
    "CONTEXT_FEATURES",
    "FEATURES",
    "context_features",
    "dab_stats",
    "glass_delta_e",
    "glass_mask",
    "nucleus_features",
]

#: Colour deconvolution into hematoxylin, DAB and residual (the `optical` translator's).
_UNMIX = np.linalg.inv(stain_matrix().numpy())

#: Names of the columns of `nucleus_features`.
FEATURES: tuple[str, ...] = (
    *(f"od_{c}_{s}" for c in "rgb" for s in ("mean", "std", "p10", "p50", "p90")),
    *(f"{k}_{s}" for k in ("hema", "dab") for s in ("mean", "std", "p10", "p90")),
    "chroma_rg",
    "chroma_gb",
    "laplacian",
    "edge_gradient",
    "edge_sharpness",
    *(f"contrast_{c}" for c in "rgb"),
)

#: Names of the columns of `context_features`.
CONTEXT_FEATURES: tuple[str, ...] = (
    *(f"band_od_{c}" for c in "rgb"),
    "area",
    "eccentricity",
    "solidity",
    "perimeter2_area",
)


def _od(rgb: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(rgb.astype(np.float64) / 255.0, 1e-3, 1.0))


def _windows(
    labels: np.ndarray, ids: np.ndarray, ring: int
) -> Iterator[tuple[int, tuple[slice, slice], np.ndarray, np.ndarray]]:
    """Per nucleus of at least 4 pixels: its row in ``ids``, a window around it (``ring`` + 1
    pixels of margin), its mask in the window and the ``ring``-pixel band around it outside
    every label."""
    from scipy import ndimage

    slices = ndimage.find_objects(labels)
    h, w = labels.shape
    for row, i in enumerate(ids):
        sl = slices[i - 1] if 0 < i <= len(slices) else None
        if sl is None:
            continue
        ys = slice(max(sl[0].start - ring - 1, 0), min(sl[0].stop + ring + 1, h))
        xs = slice(max(sl[1].start - ring - 1, 0), min(sl[1].stop + ring + 1, w))
        win = labels[ys, xs]
        inside = win == i
        if inside.sum() < 4:
            continue
        band = ndimage.binary_dilation(inside, iterations=ring) & ~inside & (win == 0)
        yield row, (ys, xs), inside, band


def nucleus_features(
    rgb: np.ndarray, labels: np.ndarray, ids: Sequence[int] | None = None, ring: int = 3
) -> np.ndarray:
    """Colour, texture and edge statistics of each nucleus, one row per id.

    Columns (`FEATURES`): optical density (OD) per RGB channel (mean, spread, 10/50/90th
    percentiles), hematoxylin and DAB amounts by colour deconvolution (mean, spread, 10/90th
    percentiles), OD chromaticity (R - G and G - B over the OD sum), mean absolute Laplacian of
    the grey OD (texture), mean OD gradient on the nucleus boundary and that gradient relative
    to the nucleus' contrast (edge sharpness), and the OD contrast with a ``ring`` pixel band
    around the nucleus.

    Args:
        rgb: the image, ``uint8`` ``(H, W, 3)``.
        labels: nucleus ids, integer ``(H, W)``, ``0`` = background.
        ids: the nuclei to describe (default: every id present, ascending).
        ring: width in pixels of the surrounding band for the contrast.

    Returns:
        float64 array ``(len(ids), len(FEATURES))``; a row of ``nan`` for an id with fewer than
        4 pixels.

    Examples:
        >>> img = np.full((20, 20, 3), 230, np.uint8); img[5:12, 5:12] = (120, 90, 60)
        >>> lab = np.zeros((20, 20), np.int32); lab[5:12, 5:12] = 1
        >>> nucleus_features(img, lab).shape == (1, len(FEATURES))
        True
    """
    from scipy import ndimage

    od = _od(rgb)
    grey = od.mean(-1)
    stains = od @ _UNMIX
    lap = np.abs(ndimage.laplace(ndimage.gaussian_filter(grey, 0.7)))
    grad = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1)) / 8.0
    ids = np.unique(labels[labels > 0]) if ids is None else np.asarray(ids, dtype=np.int64)
    out = np.full((len(ids), len(FEATURES)), np.nan)
    for row, (ys, xs), inside, band in _windows(labels, ids, ring):
        edge = inside & ~ndimage.binary_erosion(inside)
        core = ndimage.binary_erosion(inside)
        px = od[ys, xs][inside]
        st = stains[ys, xs][inside]
        feats: list[float] = []
        for c in range(3):
            v = px[:, c]
            feats += [v.mean(), v.std(), *np.percentile(v, (10, 50, 90))]
        for c in range(2):
            v = st[:, c]
            feats += [v.mean(), v.std(), *np.percentile(v, (10, 90))]
        mean = px.mean(0)
        total = max(mean.sum(), 1e-6)
        feats += [(mean[0] - mean[1]) / total, (mean[1] - mean[2]) / total]
        feats.append(lap[ys, xs][core if core.any() else inside].mean())
        ring_od = od[ys, xs][band].mean(0) if band.any() else np.zeros(3)
        g = grad[ys, xs][edge].mean()
        contrast = mean - ring_od
        feats += [g, g / max(abs(contrast.mean()), 0.02)]
        feats += list(contrast)
        out[row] = feats
    return out


def context_features(
    rgb: np.ndarray, labels: np.ndarray, ids: Sequence[int] | None = None, ring: int = 3
) -> np.ndarray:
    """Surroundings and shape of each nucleus, one row per id: what a nuclear edit keeps.

    Columns (`CONTEXT_FEATURES`): the mean optical density (OD) per RGB channel of the
    ``ring`` pixel band around the nucleus outside every label (the nucleus dilated by
    ``ring`` pixels, less the nucleus, restricted to label-``0`` pixels), and the label's area,
    eccentricity, solidity and perimeter squared over area (`skimage.measure.regionprops`).
    An edit that changes only the pixels of a nucleus leaves all of them as they were, so a
    classifier on them sets the floor of the realism score (`RealismScores.context_auc`).

    Args:
        rgb: the image, ``uint8`` ``(H, W, 3)``.
        labels: nucleus ids, integer ``(H, W)``, ``0`` = background.
        ids: the nuclei to describe (default: every id present, ascending).
        ring: width in pixels of the surrounding band.

    Returns:
        float64 array ``(len(ids), len(CONTEXT_FEATURES))``; a row of ``nan`` for an id with
        fewer than 4 pixels or without background pixels in its band.

    Raises:
        ImportError: without scikit-image (``pip install "restainaug[eval]"``).

    Examples:
        >>> img = np.full((20, 20, 3), 230, np.uint8); img[5:12, 5:12] = (120, 90, 60)
        >>> lab = np.zeros((20, 20), np.int32); lab[5:12, 5:12] = 1
        >>> f = context_features(img, lab)
        >>> f.shape == (1, len(CONTEXT_FEATURES)), float(f[0, CONTEXT_FEATURES.index("area")])
        (True, 49.0)
    """

    try:
        from skimage.measure import regionprops
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'context_features needs scikit-image: pip install "restainaug[eval]".'
        ) from err

    od = _od(rgb)
    ids = np.unique(labels[labels > 0]) if ids is None else np.asarray(ids, dtype=np.int64)
    out = np.full((len(ids), len(CONTEXT_FEATURES)), np.nan)
    for row, window, inside, band in _windows(labels, ids, ring):
        if not band.any():
            continue
        (props,) = regionprops(inside.astype(np.uint8))
        out[row, :3] = od[window][band].mean(0)
        out[row, 3:] = (
            props.area,
            props.eccentricity,
            props.solidity,
            props.perimeter**2 / props.area,
        )
    return out


def glass_mask(rgb: np.ndarray, threshold: float = 0.1, margin: int = 5) -> np.ndarray:
    """Glass: pixels whose mean optical density stays below ``threshold`` within ``margin``."""
    from scipy import ndimage

    tissue = _od(rgb).mean(-1) >= threshold
    return ~ndimage.binary_dilation(tissue, iterations=margin) if margin else ~tissue


def glass_delta_e(before: np.ndarray, after: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CIEDE2000 difference between two RGB images on glass (``nan`` without glass).

    Args:
        before: ``uint8`` ``(H, W, 3)``.
        after: ``uint8`` ``(H, W, 3)``, same shape.
        mask: where to compare (default: `glass_mask` of ``before``).
    """
    from skimage.color import deltaE_ciede2000, rgb2lab

    if before.shape != after.shape:
        raise ValueError(f"glass_delta_e: shapes differ, {before.shape} and {after.shape}.")
    mask = glass_mask(before) if mask is None else mask
    if not mask.any():
        return math.nan
    a = rgb2lab(before[mask][None].astype(np.float64) / 255.0)
    b = rgb2lab(after[mask][None].astype(np.float64) / 255.0)
    return float(deltaE_ciede2000(a, b).mean())


def dab_stats(features: np.ndarray) -> dict[str, float]:
    """Mean DAB amount, DAB spread and G - B chromaticity over nuclei (rows of features)."""
    cols = {name: FEATURES.index(name) for name in ("dab_mean", "dab_std", "chroma_gb")}
    ok = features[np.isfinite(features).all(1)] if len(features) else features
    if not len(ok):
        return {k: math.nan for k in cols}
    return {k: float(ok[:, c].mean()) for k, c in cols.items()}
