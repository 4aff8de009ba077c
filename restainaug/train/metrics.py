"""Validation metrics logged during training, on paired fields (IHC with its true IF).

* ``nuclear_r`` / ``marker_r``: Pearson correlation of the predicted and the true nuclear /
  marker channel (scale-free: real DAPI and the training IF need not share a scale);
* ``nuclear_mae`` / ``marker_mae``: mean absolute error on the nominal IF scale (meaningful
  when the training IF and the validation IF share a scale, e.g. synthetic tissue);
* ``cycle_mae`` / ``cycle_psnr``: IHC -> IF -> IHC reconstruction error (RGB in ``[0, 1]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..evaluation.metrics import pearson, psnr
from .data import ValField

__all__ = ["translate_fields", "validation_metrics"]


@torch.no_grad()
def translate_fields(
    ihc_to_if: nn.Module, if_to_ihc: nn.Module, fields: Sequence[ValField], device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(IF, IHC -> IF -> IHC)`` of each field on the user scale (IF nominal, RGB ``[0, 1]``)."""
    out = []
    for f in fields:
        x = f.ihc[None].to(device) * 2 - 1
        fake = ihc_to_if(x).float()
        rec = if_to_ihc(fake).float()
        out.append((((fake[0] + 1) / 2).cpu(), ((rec[0] + 1) / 2).clamp(0, 1).cpu()))
    return out


def validation_metrics(
    fields: Sequence[ValField],
    translated: Sequence[tuple[torch.Tensor, torch.Tensor]],
    nuclear_index: int,
    marker_index: int | None,
) -> dict[str, float]:
    """Means over fields of the metrics in this module's docstring.

    Args:
        fields: the validation fields.
        translated: `translate_fields` output for them.
        nuclear_index: channel of the nuclear stain in the predicted IF.
        marker_index: channel of the marker in the predicted IF (``None``: no marker metrics).
    """
    rows: dict[str, list[float]] = {}

    def add(k: str, v: float) -> None:
        rows.setdefault(k, []).append(v)

    for f, (fake, rec) in zip(fields, translated, strict=True):
        add("nuclear_r", pearson(fake[nuclear_index].numpy(), f.nuclear.numpy()))
        add("nuclear_mae", float((fake[nuclear_index] - f.nuclear).abs().mean()))
        if marker_index is not None and f.marker is not None:
            add("marker_r", pearson(fake[marker_index].numpy(), f.marker.numpy()))
            add("marker_mae", float((fake[marker_index] - f.marker).abs().mean()))
        add("cycle_mae", float((rec - f.ihc).abs().mean()))
        add("cycle_psnr", psnr(rec.numpy(), f.ihc.numpy()))
    mean: Callable[[list[float]], float] = lambda v: math.fsum(v) / len(v)  # noqa: E731
    return {k: mean(v) for k, v in rows.items()}
