"""The realism score: re-stain labelled fields and ask a classifier to tell them from real.

`realism` edits the nuclei of each field (`MarkerToNuclei` adds marker, `RemoveMarker` takes
it away), describes real and edited nuclei with `nucleus_features`, and cross-validates
`classifier_auc` on them; the result is a `RealismScores`. Next to them it reports the context
floor: how well real positives and real negatives are told apart by what no edit confined to a
nucleus can change (their surroundings and label shape, `context_features`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .features import context_features, dab_stats, glass_delta_e, nucleus_features

if TYPE_CHECKING:
    from ...ops import Op
    from ...transform import RestainTransform
    from ...translator import Translator
    from ..fields import EvalField

__all__ = ["RealismScores", "classifier_auc", "realism"]


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
        context_auc: the context floor, real positives vs real negatives over
            `context_features` of the original image (their surroundings and label shape,
            which an edit confined to the nucleus does not change). Where it is high, the
            added AUC cannot go much below it; ``nan`` when not measured.
    """

    model: str
    added_auc: float
    removed_auc: float
    glass_delta_e: float
    counts: dict[str, int] = field(default_factory=dict)
    dab: dict[str, dict[str, float]] = field(default_factory=dict)
    context_auc: float = math.nan

    def format_table(self) -> str:
        """A plain-text summary: the scores and the context floor, then DAB statistics."""
        lines = [
            f"realism of {self.model}: added AUC {self.added_auc:.3f}, removed AUC "
            f"{self.removed_auc:.3f}, glass Delta E {self.glass_delta_e:.2f}, context floor AUC "
            f"{self.context_auc:.3f}",
            "(context floor: real positives vs real negatives, from their surroundings and shape "
            "alone)",
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
    all fields are pooled before the classifier is cross-validated. The context floor
    (``context_auc``) is the same classifier on the real positives and real negatives, over
    `context_features` of the original image.

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
    from ..._validate import resolve_device
    from ...models.registry import load_model
    from ...ops import MARKER_LEVELS, MarkerToNuclei, RemoveMarker
    from ...policy import Sequential

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
    context: dict[bool, list[np.ndarray]] = {True: [], False: []}
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
        context[True].append(context_features(f.ihc, f.labels, ids[pos]))
        context[False].append(context_features(f.ihc, f.labels, ids[~pos]))
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
        context_auc=classifier_auc(
            np.concatenate(context[True]), np.concatenate(context[False]), seed=seed
        ),
    )


_GROUPS = ("real_positive", "added", "real_negative", "removed")


def _transform(translator: Translator, ops: Op, seed: int) -> RestainTransform:
    from ...transform import RestainTransform

    return RestainTransform(model=translator, ops=ops, p=1.0, seed=seed, min_tissue=0.0)
