"""Score translators on labelled fields: `evaluate` one, `reference` the real IF, `compare`.

`evaluate` runs one translator over labelled fields (`EvalField`) and scores each field
(one `FieldScores` row; the metrics are listed in `restainaug.evaluation`).
`nuclear_scores` and `marker_auc` score one field's predicted channels against its labels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from .._progress import progress
from .._validate import resolve_device
from ..models.registry import load_model
from ..transform import RestainTransform
from ..translator import Translator
from .fields import EvalField
from .metrics import auc, dice, otsu_mask, pearson, psnr, ssim
from .report import REFERENCE, EvalReport, FieldScores

__all__ = ["compare", "evaluate", "marker_auc", "nuclear_scores", "reference"]


@contextmanager
def _inference(translator: Translator) -> Iterator[None]:
    # Evaluate in eval mode without autograd; give the module back in the state it came in.
    modes = [(m, m.training) for m in translator.modules()]
    grads = [(p, p.requires_grad) for p in translator.parameters()]
    try:
        translator.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, g in grads:
            p.requires_grad_(g)


def nuclear_scores(
    nuclear: np.ndarray, field: EvalField, max_pixels: int | None = 2**18
) -> dict[str, float]:
    """``nuclear_auc`` and ``otsu_dice`` of a nuclear channel against the field's nuclei.

    Args:
        nuclear: the nuclear channel predicted for ``field``, ``(H, W)``.
        field: the field; every nucleus (``labels > 0``) is the positive class.
        max_pixels: pixels for ``nuclear_auc`` (a fixed random subset above this).

    Returns:
        ``{"nuclear_auc": ..., "otsu_dice": ...}``.

    Examples:
        >>> from restainaug.evaluation import synth_fields
        >>> f = synth_fields(1, size=32)[0]
        >>> nuclear_scores(f.if_[0], f)["nuclear_auc"] > 0.9
        True
    """
    truth = field.labels > 0
    return {
        "nuclear_auc": auc(nuclear, truth, max_pixels),
        "otsu_dice": dice(otsu_mask(nuclear), truth),
    }


def marker_auc(marker: np.ndarray, field: EvalField) -> float:
    """ROC AUC of the mean marker over each nucleus (or each cell) for marker-positive nuclei.

    Args:
        marker: the marker channel predicted for ``field``, ``(H, W)``.
        field: the field; ``field.cells`` replaces the nuclei when given.

    Returns:
        The AUC, or ``nan`` without marker status or with one class only.

    Examples:
        >>> labels = np.array([[1, 1, 0, 2, 2]])
        >>> f = EvalField("f", np.zeros((1, 5, 3), np.uint8), labels, np.array([0, 1, 0], bool))
        >>> marker_auc(np.array([[0.9, 0.7, 0.0, 0.2, 0.1]]), f)
        1.0
    """
    if field.positive is None:
        return math.nan
    ids = (field.labels if field.cells is None else field.cells).ravel()
    count = np.bincount(ids)
    total = np.bincount(ids, weights=marker.ravel().astype(np.float64))
    present = np.flatnonzero(count[1:]) + 1
    return auc(total[present] / count[present], field.positive[present])


def _score(
    tr: Translator,
    transform: RestainTransform,
    field: EvalField,
    variants: int,
    seed: int,
    max_pixels: int | None,
) -> FieldScores:
    dtype = next((t.dtype for t in (*tr.parameters(), *tr.buffers())), torch.float32)
    x = torch.as_tensor(np.array(field.ihc)).permute(2, 0, 1)[None]  # a copy: may be read-only
    if variants:
        transform.set_random_state(seed)
        batch = np.broadcast_to(field.ihc, (variants, *field.ihc.shape))
        ids = np.broadcast_to(field.labels, (variants, *field.labels.shape))
        restained = torch.from_numpy(transform(batch, labels=ids)).permute(0, 3, 1, 2)
        x = torch.cat([x, restained])
    x = x.to(tr.device, dtype).div_(255.0)
    if_ = tr.to_if(x)
    if not bool(torch.isfinite(if_).all()):
        raise ValueError(f"Translator {tr.name!r} gave NaN or infinite IF on field {field.name!r}.")
    back = tr.to_ihc(if_[:1])
    nuclear = if_[:, tr.nuclear_index].float().cpu().numpy()
    scores = nuclear_scores(nuclear[0], field, max_pixels)
    rgb, rgb_back = (t[0].permute(1, 2, 0).float().cpu().numpy() for t in (x, back))
    scores["cycle_ssim"], scores["cycle_psnr"] = ssim(rgb, rgb_back), psnr(rgb, rgb_back)
    if variants:
        mask = otsu_mask(nuclear[0])
        scores["stability_dice"] = float(np.mean([dice(mask, otsu_mask(v)) for v in nuclear[1:]]))
    if field.if_ is not None:
        scores["nuclear_r"] = pearson(nuclear[0], field.if_[0])
    if tr.marker_index is not None:
        marker = if_[0, tr.marker_index].float().cpu().numpy()
        scores["marker_auc"] = marker_auc(marker, field)
        if field.if_ is not None and field.if_.shape[0] >= 2:
            scores["marker_r"] = pearson(marker, field.if_[1])
    return FieldScores(tr.name, field.name, **scores)


def _check_fields(fields_: Sequence[EvalField]) -> list[EvalField]:
    if isinstance(fields_, EvalField):
        fields_ = [fields_]
    out = list(fields_)
    bad = [type(f).__name__ for f in out if not isinstance(f, EvalField)]
    if bad or not out:
        raise TypeError(
            f"fields: expected a non-empty list of EvalField (see load_fields), got "
            f"{'an empty list' if not out else 'items of type ' + ', '.join(sorted(set(bad)))}."
        )
    return out


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}.")
    return int(value)


def _as_translator(model: str | os.PathLike[str] | Translator, device: str | None) -> Translator:
    if isinstance(model, Translator):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model: expected a name, a path or a Translator, got {type(model).__name__}."
        )
    tr = load_model(model)
    return tr.to(resolve_device(device)) if device is not None else tr


def evaluate(
    translator: Translator | str | os.PathLike[str],
    fields: Sequence[EvalField],
    variants: int = 4,
    seed: int = 0,
    max_pixels: int | None = 2**18,
    device: str | None = None,
    show_progress: bool = False,
) -> EvalReport:
    """Score one translator on labelled fields (see the module docstring for the metrics).

    The translator runs in eval mode without autograd; its modes and ``requires_grad`` flags
    are restored afterwards. Fields are never modified.

    Args:
        translator: a `Translator`, or a model name or path for `restainaug.load_model`.
        fields: the fields (`load_fields` and friends).
        variants: re-stained variants per field for ``stability_dice`` (``0`` skips it).
        seed: seed of the variants; every field gets the same draws.
        max_pixels: pixels per field for ``nuclear_auc`` (a fixed random subset above this).
        device: where to run a model given by name; a `Translator` runs where it is.
        show_progress: show a progress bar on stderr.

    Returns:
        One row per field.

    Raises:
        TypeError: for a bad translator or fields.
        ValueError: for an unknown model, a negative ``variants``, ``max_pixels < 2``, a
            translator that returns NaN, or a CUDA ``device`` where CUDA is not available.

    Examples:
        >>> from restainaug.evaluation import synth_fields
        >>> report = evaluate("optical", synth_fields(1, size=48), variants=1)
        >>> [r.field for r in report.rows]
        ['synth_00000_membrane']
        >>> 0.5 < report.mean()["nuclear_auc"] <= 1.0
        True
    """
    tr = _as_translator(translator, device)
    fields = _check_fields(fields)
    variants = _check_count(variants, "variants")
    seed = _check_count(seed, "seed")
    if max_pixels is not None and _check_count(max_pixels, "max_pixels") < 2:
        raise ValueError(f"max_pixels: expected an int >= 2 or None, got {max_pixels!r}.")
    with _inference(tr):
        transform = RestainTransform(model=tr, p=1.0, seed=seed, device=tr.device)
        rows = tuple(
            _score(tr, transform, f, variants, seed, max_pixels)
            for f in progress(fields, len(fields), f"evaluate {tr.name}", show_progress)
        )
    return EvalReport(rows)


def reference(fields: Sequence[EvalField], max_pixels: int | None = 2**18) -> EvalReport:
    """Score the fields' real IF channels as if a translator had predicted them.

    The nuclear channel gives ``nuclear_auc`` and ``otsu_dice``, the marker channel
    ``marker_auc``: what a perfect IHC -> IF translator could reach against these labels.

    Args:
        fields: the fields; those without IF are skipped.
        max_pixels: pixels per field for ``nuclear_auc``.

    Returns:
        One `REFERENCE` row per field with IF (no rows if none has IF).

    Examples:
        >>> from restainaug.evaluation import synth_fields
        >>> r = reference(synth_fields(1, size=48))
        >>> r.models, r.rows[0].nuclear_auc > 0.9
        (['real IF'], True)
    """
    rows = []
    for f in _check_fields(fields):
        if f.if_ is None:
            continue
        scores = nuclear_scores(f.if_[0], f, max_pixels)
        if f.if_.shape[0] >= 2:
            scores["marker_auc"] = marker_auc(f.if_[1], f)
        rows.append(FieldScores(REFERENCE, f.name, **scores))
    return EvalReport(tuple(rows))


def compare(
    models: Sequence[str | os.PathLike[str] | Translator],
    fields: Sequence[EvalField],
    variants: int = 4,
    seed: int = 0,
    with_reference: bool = True,
    device: str | None = None,
    show_progress: bool = False,
) -> EvalReport:
    """Evaluate several models on the same fields, always including ``optical``.

    Args:
        models: names, paths or translators; ``optical`` is put first when no model has
            that name.
        fields: the fields.
        variants: re-stained variants per field (see `evaluate`).
        seed: seed of the variants.
        with_reference: add the `REFERENCE` rows of the fields with real IF.
        device: where to run models given by name.
        show_progress: show progress bars on stderr.

    Returns:
        The rows of every model, then the reference rows.

    Raises:
        TypeError, ValueError: as `evaluate`.

    Examples:
        >>> from restainaug.evaluation import synth_fields
        >>> compare([], synth_fields(1, size=48), variants=0).models
        ['optical', 'real IF']
    """
    if isinstance(models, (str, os.PathLike, Translator)):
        models = [models]
    fields = _check_fields(fields)
    translators = [_as_translator(m, device) for m in models]
    if not any(t.name == "optical" for t in translators):
        translators.insert(0, _as_translator("optical", device))
    report = EvalReport(())
    for tr in translators:
        report += evaluate(tr, fields, variants, seed, show_progress=show_progress)
    return report + reference(fields) if with_reference else report
