"""Scores of translators on fields: one `FieldScores` row per model and field, and the
`EvalReport` that holds them, averages them and writes them as a table or a CSV file.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from .._files import atomic_write

__all__ = ["METRICS", "REFERENCE", "EvalReport", "FieldScores"]

#: The metrics of a `FieldScores` row, in column order.
METRICS: tuple[str, ...] = (
    "nuclear_auc",
    "otsu_dice",
    "marker_auc",
    "nuclear_r",
    "marker_r",
    "cycle_ssim",
    "cycle_psnr",
    "stability_dice",
)
#: The model name of the rows that score the real IF channels (`restainaug.evaluation.reference`).
REFERENCE = "real IF"

_HEADERS = {
    "nuclear_auc": "nuclear AUC",
    "otsu_dice": "Otsu Dice",
    "marker_auc": "marker AUC",
    "nuclear_r": "r nuclear",
    "marker_r": "r marker",
    "cycle_ssim": "cycle SSIM",
    "cycle_psnr": "cycle PSNR",
    "stability_dice": "stability Dice",
}


@dataclass(frozen=True)
class FieldScores:
    """The scores of one model on one field; ``nan`` where a metric does not apply.

    Attributes:
        model: the translator's name, or `REFERENCE` for the real IF.
        field: the field's name.
        nuclear_auc: ROC AUC of the nuclear channel for nucleus pixels.
        otsu_dice: Dice of the nuclear channel's Otsu foreground with the nuclei.
        marker_auc: ROC AUC of per-nucleus (or per-cell) marker means for positive nuclei.
        nuclear_r: Pearson correlation with the real nuclear IF channel.
        marker_r: Pearson correlation with the real marker IF channel.
        cycle_ssim: SSIM of ``to_ihc(to_if(x))`` with ``x``.
        cycle_psnr: PSNR of ``to_ihc(to_if(x))`` with ``x`` in dB.
        stability_dice: Dice of nuclear masks before and after re-staining.
    """

    model: str
    field: str
    nuclear_auc: float = math.nan
    otsu_dice: float = math.nan
    marker_auc: float = math.nan
    nuclear_r: float = math.nan
    marker_r: float = math.nan
    cycle_ssim: float = math.nan
    cycle_psnr: float = math.nan
    stability_dice: float = math.nan


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def _cell(metric: str, v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.1f}" if metric == "cycle_psnr" else f"{v:.3f}"


@dataclass(frozen=True)
class EvalReport:
    """Per-field scores of one or more models, with their means.

    Attributes:
        rows: one `FieldScores` per model and field, in evaluation order.

    Examples:
        >>> r = EvalReport((FieldScores("m", "a", nuclear_auc=0.8), FieldScores("m", "b")))
        >>> r.models, r.mean("m")["nuclear_auc"]
        (['m'], 0.8)
        >>> (r + r).rows == r.rows * 2
        True
    """

    rows: tuple[FieldScores, ...]

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        bad = sorted({type(r).__name__ for r in rows if not isinstance(r, FieldScores)})
        if bad:
            raise TypeError(f"EvalReport: rows must be FieldScores, got {', '.join(bad)}.")
        object.__setattr__(self, "rows", rows)

    def __add__(self, other: EvalReport) -> EvalReport:
        if not isinstance(other, EvalReport):
            return NotImplemented
        return EvalReport(self.rows + other.rows)

    @property
    def models(self) -> list[str]:
        """The model names, in order of first appearance."""
        return list(dict.fromkeys(r.model for r in self.rows))

    def mean(self, model: str | None = None) -> dict[str, float]:
        """The mean of each metric over the fields of ``model``, skipping ``nan``.

        Args:
            model: a name from `models`; may be left out when the report has one model.

        Returns:
            ``{metric: mean}`` for every name in `METRICS` (``nan`` if no field has it).

        Raises:
            ValueError: for an unknown model, or ``None`` with several models.
        """
        if model is None:
            if len(self.models) != 1:
                raise ValueError(f"mean: the report has models {self.models}; pass one of them.")
            model = self.models[0]
        rows = [r for r in self.rows if r.model == model]
        if not rows:
            raise ValueError(f"mean: no model {model!r} in the report; it has {self.models}.")
        return {m: _mean([getattr(r, m) for r in rows]) for m in METRICS}

    def format_table(self) -> str:
        """A Markdown table: one row per model (means over its fields), one column per metric."""
        head = ["model", "fields", *(_HEADERS[m] for m in METRICS)]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for model in self.models:
            n = sum(r.model == model for r in self.rows)
            means = self.mean(model)
            cells = [model, str(n), *(_cell(m, means[m]) for m in METRICS)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the per-field rows (columns ``model``, ``field`` and `METRICS`) to a CSV file.

        Returns:
            The path written (atomically; parent folders are created).
        """

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow([f.name for f in fields(FieldScores)])
                w.writerows(astuple(r) for r in self.rows)

        return atomic_write(path, write)
