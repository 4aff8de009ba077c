"""Do re-stained nuclei look real? Per-nucleus features and a real-vs-re-stained classifier.

A re-stained positive nucleus should be indistinguishable from a real positive nucleus of the
same slide, and a nucleus whose marker was removed from a real negative one. `realism`
measures both on labelled fields (`restainaug.eval_fields.EvalField` with marker status):

* ``added_auc`` - a gradient-boosting classifier over per-nucleus colour, texture and edge
  statistics (`nucleus_features`), 5-fold cross-validated, separating the field's real
  positive nuclei from its negative nuclei after `MarkerToNuclei` made them positive (once
  at each of the 1+, 2+ and 3+ levels). ``0.5``
  means the classifier cannot tell them apart, ``1.0`` that it always can;
* ``removed_auc`` - the same for real negatives against positives after `RemoveMarker`;
* ``glass_delta_e`` - the mean CIEDE2000 colour difference that `RemoveMarker` makes on glass
  (pixels far from any tissue), which should be far below 1 (the just-noticeable difference);
* DAB statistics of real, added and removed nuclei (mean and spread of the DAB optical
  density inside each nucleus, and the G - B balance of their colour).

The classifier needs scikit-learn (``pip install "restainaug[eval]"``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .stains import stain_matrix

if TYPE_CHECKING:
    from .eval_fields import EvalField
    from .ops import Op
    from .transform import RestainTransform
    from .translator import Translator

__all__ = [
    "FEATURES",
    "RealismScores",
    "classifier_auc",
    "glass_delta_e",
    "nucleus_features",
    "realism",
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


def _od(rgb: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(rgb.astype(np.float64) / 255.0, 1e-3, 1.0))


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
    slices = ndimage.find_objects(labels)
    out = np.full((len(ids), len(FEATURES)), np.nan)
    h, w = labels.shape
    for row, i in enumerate(ids):
        sl = slices[i - 1] if 0 < i <= len(slices) else None
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - ring - 1, 0), min(sl[0].stop + ring + 1, h)
        x0, x1 = max(sl[1].start - ring - 1, 0), min(sl[1].stop + ring + 1, w)
        win = labels[y0:y1, x0:x1]
        inside = win == i
        if inside.sum() < 4:
            continue
        grown = ndimage.binary_dilation(inside, iterations=ring)
        band = grown & ~inside & (win == 0)
        edge = inside & ~ndimage.binary_erosion(inside)
        core = ndimage.binary_erosion(inside)
        px = od[y0:y1, x0:x1][inside]
        st = stains[y0:y1, x0:x1][inside]
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
        feats.append(lap[y0:y1, x0:x1][core if core.any() else inside].mean())
        ring_od = od[y0:y1, x0:x1][band].mean(0) if band.any() else np.zeros(3)
        g = grad[y0:y1, x0:x1][edge].mean()
        contrast = mean - ring_od
        feats += [g, g / max(abs(contrast.mean()), 0.02)]
        feats += list(contrast)
        out[row] = feats
    return out


def classifier_auc(real: np.ndarray, fake: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a gradient-boosting classifier telling ``real`` from ``fake``.

    Rows with ``nan`` are dropped. ``0.5``: indistinguishable; ``1.0``: always told apart.

    Args:
        real: features of real nuclei, ``(N, F)``.
        fake: features of re-stained nuclei, ``(M, F)``.
        folds: stratified folds (fewer when a class has fewer rows).
        seed: seed of the folds and the classifier.

    Returns:
        The out-of-fold AUC, or ``nan`` when a class has fewer than 2 rows.

    Raises:
        ImportError: without scikit-learn.
    """
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'The realism classifier needs scikit-learn: pip install "restainaug[eval]".'
        ) from err
    real = real[np.isfinite(real).all(1)]
    fake = fake[np.isfinite(fake).all(1)]
    k = min(folds, len(real), len(fake))
    if k < 2:
        return math.nan
    x = np.concatenate([real, fake])
    y = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    scores = np.zeros(len(y))
    split = StratifiedKFold(k, shuffle=True, random_state=seed)
    for train, test in split.split(x, y):
        clf = HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.1, max_leaf_nodes=15, random_state=seed
        )
        clf.fit(x[train], y[train])
        scores[test] = clf.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, scores))


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


@dataclass
class RealismScores:
    """Realism of one model on a set of fields (see the module docstring).

    Attributes:
        model: the model's name.
        added_auc: real positives vs nuclei made positive by `MarkerToNuclei`.
        removed_auc: real negatives vs positives after `RemoveMarker`.
        glass_delta_e: mean CIEDE2000 change of glass by `RemoveMarker`.
        counts: nuclei per group (``real_positive``, ``real_negative``, ``added``, ``removed``).
        dab: `dab_stats` per group.
    """

    model: str
    added_auc: float
    removed_auc: float
    glass_delta_e: float
    counts: dict[str, int] = field(default_factory=dict)
    dab: dict[str, dict[str, float]] = field(default_factory=dict)

    def format_table(self) -> str:
        """A plain-text summary: the three scores, then DAB statistics per group."""
        lines = [
            f"realism of {self.model}: added AUC {self.added_auc:.3f}, removed AUC "
            f"{self.removed_auc:.3f}, glass Delta E {self.glass_delta_e:.2f}",
            f"{'nuclei':<14}{'count':>7}{'DAB mean':>10}{'DAB spread':>12}{'G-B':>8}",
        ]
        for group, stats in self.dab.items():
            lines.append(
                f"{group:<14}{self.counts.get(group, 0):>7}{stats['dab_mean']:>10.3f}"
                f"{stats['dab_std']:>12.3f}{stats['chroma_gb']:>8.3f}"
            )
        return "\n".join(lines)


def realism(
    fields: Sequence[EvalField],
    model: str | os.PathLike[str] | Translator = "default",
    seed: int = 0,
    device: str | None = None,
    grain: float = 0.0,
    edge: int = 0,
) -> RealismScores:
    """Score how real re-stained nuclei look on fields with marker status.

    On each field, every negative nucleus is made positive (``RemoveMarker`` then
    ``MarkerToNuclei(fraction=1)`` at each of the 1+, 2+ and 3+ levels in turn, the labels
    choosing the nuclei) and compared with the field's real positives; every positive nucleus
    loses its marker (``RemoveMarker``) and is compared with the real negatives. Features of
    all fields are pooled before the classifier is cross-validated.

    Args:
        fields: labelled fields; those without ``positive`` or without both classes are skipped.
        model: the model to re-stain with (a name, a file or a translator).
        seed: seed of the re-staining draws and the classifier's folds.
        device: torch device for the model.
        grain: ``MarkerToNuclei(grain=...)`` of the added marker.
        edge: ``MarkerToNuclei(edge=...)`` of the added marker.

    Returns:
        The scores (see the module docstring).

    Raises:
        ValueError: when no field has both positive and negative nuclei, or for a CUDA
            ``device`` where CUDA is not available.
    """
    from ._validate import resolve_device
    from .models.registry import load_model
    from .ops import MARKER_LEVELS, MarkerToNuclei, RemoveMarker
    from .policy import Sequential

    translator = model if not isinstance(model, (str, os.PathLike)) else load_model(model)
    if device is not None:
        translator = translator.to(resolve_device(device))
    adds = [
        _transform(
            translator,
            Sequential(RemoveMarker(), MarkerToNuclei(1.0, level, grain=grain, edge=edge)),
            seed,
        )
        for level in (MARKER_LEVELS[k] for k in ("1+", "2+", "3+"))
    ]
    remove = _transform(translator, RemoveMarker(), seed)
    groups: dict[str, list[np.ndarray]] = {k: [] for k in _GROUPS}
    delta_e: list[float] = []
    for f in fields:
        if f.positive is None:
            continue
        ids = np.unique(f.labels[f.labels > 0])
        pos = f.positive[ids]
        if pos.all() or not pos.any():
            continue
        neg_labels = np.where(np.isin(f.labels, ids[~pos]), f.labels, 0)
        removed = remove(f.ihc)
        groups["real_positive"].append(nucleus_features(f.ihc, f.labels, ids[pos]))
        groups["real_negative"].append(nucleus_features(f.ihc, f.labels, ids[~pos]))
        for add in adds:  # every negative nucleus at each level
            added = add(f.ihc, labels=neg_labels)
            groups["added"].append(nucleus_features(added, f.labels, ids[~pos]))
        groups["removed"].append(nucleus_features(removed, f.labels, ids[pos]))
        delta_e.append(glass_delta_e(f.ihc, removed))
    if not groups["added"]:
        raise ValueError(
            "realism: no field has both marker-positive and negative nuclei (EvalField.positive)."
        )
    feats = {k: np.concatenate(v) for k, v in groups.items()}
    glass = [d for d in delta_e if math.isfinite(d)]
    return RealismScores(
        model=getattr(translator, "name", str(model)),
        added_auc=classifier_auc(feats["real_positive"], feats["added"], seed=seed),
        removed_auc=classifier_auc(feats["real_negative"], feats["removed"], seed=seed),
        glass_delta_e=float(np.mean(glass)) if glass else math.nan,
        counts={k: len(v) for k, v in feats.items()},
        dab={k: dab_stats(v) for k, v in feats.items()},
    )


_GROUPS = ("real_positive", "added", "real_negative", "removed")


def _transform(translator: Translator, ops: Op, seed: int) -> RestainTransform:
    from .transform import RestainTransform

    return RestainTransform(model=translator, ops=ops, p=1.0, seed=seed, min_tissue=0.0)
