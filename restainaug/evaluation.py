"""How well a translator separates the stains of real, labelled IHC, next to ``optical``.

`evaluate` runs one translator over labelled fields (`EvalField`) and scores each field
(one `FieldScores` row):

* ``nuclear_auc`` - the predicted nuclear channel as a score for nucleus vs other pixels
  (truth: labels > 0, marker-positive nuclei included); ROC AUC, threshold-free;
* ``otsu_dice`` - Dice of the nuclear channel's Otsu foreground with labels > 0;
* ``marker_auc`` - the mean of the predicted marker channel over each nucleus (or each cell,
  when the field has cells) as a score for marker-positive vs negative nuclei (needs the
  marker status; ``nan`` with one class);
* ``nuclear_r``, ``marker_r`` - Pearson correlation of the predicted nuclear and marker
  channels with the real IF channels, where the field has them;
* ``cycle_ssim``, ``cycle_psnr`` - the round trip IHC -> IF -> IHC against the input;
* ``stability_dice`` - Dice of the Otsu nuclear masks of ``to_if(x)`` and
  ``to_if(restained x)``, mean over seeded `RestainTransform` variants (default policy).

`reference` scores the real IF channels themselves (the ``"real IF"`` row); `compare` runs
several models and always includes ``optical``. Fields come from `deepliif_fields`,
`synth_fields`, `folder_fields` or `load_fields` (`restainaug.eval_fields`); the rows and
their means are an `EvalReport` (`restainaug.eval_report`); the metrics live in
`restainaug.metrics`. Every name is importable from here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from ._progress import progress
from ._validate import resolve_device
from .eval_fields import EvalField, deepliif_fields, folder_fields, load_fields, synth_fields
from .eval_report import METRICS, REFERENCE, EvalReport, FieldScores
from .metrics import auc, dice, otsu_mask, pearson, psnr, ssim
from .models.registry import load_model
from .transform import RestainTransform
from .translator import Translator

__all__ = [
    "METRICS",
    "REFERENCE",
    "EvalField",
    "EvalReport",
    "FieldScores",
    "compare",
    "deepliif_fields",
    "evaluate",
    "folder_fields",
    "load_fields",
    "reference",
    "synth_fields",
]


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


def _nuclear_scores(
    nuclear: np.ndarray, field: EvalField, max_pixels: int | None
) -> dict[str, float]:
    truth = field.labels > 0
    return {
        "nuclear_auc": auc(nuclear, truth, max_pixels),
        "otsu_dice": dice(otsu_mask(nuclear), truth),
    }


def _marker_auc(marker: np.ndarray, field: EvalField) -> float:
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
    scores = _nuclear_scores(nuclear[0], field, max_pixels)
    rgb, rgb_back = (t[0].permute(1, 2, 0).float().cpu().numpy() for t in (x, back))
    scores["cycle_ssim"], scores["cycle_psnr"] = ssim(rgb, rgb_back), psnr(rgb, rgb_back)
    if variants:
        mask = otsu_mask(nuclear[0])
        scores["stability_dice"] = float(np.mean([dice(mask, otsu_mask(v)) for v in nuclear[1:]]))
    if field.if_ is not None:
        scores["nuclear_r"] = pearson(nuclear[0], field.if_[0])
    if tr.marker_index is not None:
        marker = if_[0, tr.marker_index].float().cpu().numpy()
        scores["marker_auc"] = _marker_auc(marker, field)
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
        >>> r = reference(synth_fields(1, size=48))
        >>> r.models, r.rows[0].nuclear_auc > 0.9
        (['real IF'], True)
    """
    rows = []
    for f in _check_fields(fields):
        if f.if_ is None:
            continue
        scores = _nuclear_scores(f.if_[0], f, max_pixels)
        if f.if_.shape[0] >= 2:
            scores["marker_auc"] = _marker_auc(f.if_[1], f)
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
