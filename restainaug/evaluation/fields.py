"""`EvalField`: one labelled IHC field to evaluate on, checked once when it is made.

A field is one brightfield IHC image with its nucleus instance labels and, when known, the
marker status of each nucleus, the cells around the nuclei and the real IF channels (nuclear
first, then the marker). `restainaug.evaluation.sources` reads fields from data sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EvalField"]


@dataclass(frozen=True, eq=False)
class EvalField:
    """One labelled IHC field to evaluate on. The arrays are used as given, never modified.

    Attributes:
        name: what the field is called in reports (a file stem, ``synth_00000_membrane``).
        ihc: brightfield RGB, ``uint8`` ``(H, W, 3)``.
        labels: nucleus instance ids, integer ``(H, W)``, ``0`` = background.
        positive: marker status per id, ``bool`` ``(N + 1,)`` with ``N >= labels.max()``
            (``positive[0]`` is ignored), or ``None`` when unknown.
        if_: real IF channels, float ``(C, H, W)``: nuclear first, then the marker (when
            ``C >= 2``); ``None`` when the field has no IF.
        cells: cell instance ids with the nuclei's ids, integer ``(H, W)``, or ``None``.
            When given, ``marker_auc`` averages the marker over each cell instead of each
            nucleus (for membrane and cytoplasmic markers).

    Raises:
        TypeError: for arrays of the wrong type or dtype.
        ValueError: for shapes that do not match, or negative ids.

    Examples:
        >>> f = EvalField("tile", np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8), np.int32))
        >>> f.ihc.shape, f.positive, f.if_
        ((8, 8, 3), None, None)
    """

    name: str
    ihc: np.ndarray
    labels: np.ndarray
    positive: np.ndarray | None = None
    if_: np.ndarray | None = None
    cells: np.ndarray | None = None

    def __post_init__(self) -> None:
        what = f"EvalField {self.name!r}"
        if not isinstance(self.name, str):
            raise TypeError(f"EvalField: name must be a str, got {type(self.name).__name__}.")
        ihc, labels = self.ihc, self.labels
        if not isinstance(ihc, np.ndarray) or ihc.dtype != np.uint8:
            got = ihc.dtype if isinstance(ihc, np.ndarray) else type(ihc).__name__
            raise TypeError(f"{what}: ihc must be a uint8 numpy array (H, W, 3), got {got}.")
        if ihc.ndim != 3 or ihc.shape[-1] != 3 or ihc.shape[0] < 1 or ihc.shape[1] < 1:
            raise ValueError(f"{what}: ihc must have shape (H, W, 3), got {ihc.shape}.")
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
            got = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
            raise TypeError(f"{what}: labels must be an integer numpy array (H, W), got {got}.")
        if labels.shape != ihc.shape[:2]:
            raise ValueError(
                f"{what}: labels must have the image's shape {ihc.shape[:2]}, got {labels.shape}."
            )
        if labels.size and int(labels.min()) < 0:
            raise ValueError(f"{what}: label ids must be >= 0, got {int(labels.min())}.")
        if self.cells is not None:
            cells = self.cells
            if not isinstance(cells, np.ndarray) or cells.dtype.kind not in "iu":
                got = cells.dtype if isinstance(cells, np.ndarray) else type(cells).__name__
                raise TypeError(f"{what}: cells must be an integer numpy array (H, W), got {got}.")
            if cells.shape != labels.shape or (cells.size and int(cells.min()) < 0):
                raise ValueError(
                    f"{what}: cells must be ids >= 0 of the labels' shape {labels.shape}, got "
                    f"shape {cells.shape}."
                )
        if self.positive is not None:
            pos = self.positive
            if not isinstance(pos, np.ndarray) or pos.ndim != 1 or pos.dtype != np.bool_:
                desc = (
                    f"{pos.dtype} of shape {pos.shape}"
                    if isinstance(pos, np.ndarray)
                    else type(pos).__name__
                )
                raise TypeError(f"{what}: positive must be a 1-D bool numpy array, got {desc}.")
            top = max(int(a.max(initial=0)) for a in (labels, self.cells) if a is not None)
            if pos.size <= top:
                raise ValueError(
                    f"{what}: positive has {pos.size} entries but the largest id is {top}; it "
                    "needs one entry per id (index 0 = background)."
                )
        if self.if_ is not None:
            if_ = self.if_
            if not isinstance(if_, np.ndarray) or if_.dtype.kind != "f":
                got = if_.dtype if isinstance(if_, np.ndarray) else type(if_).__name__
                raise TypeError(f"{what}: if_ must be a float numpy array (C, H, W), got {got}.")
            if if_.ndim != 3 or if_.shape[0] < 1 or if_.shape[1:] != labels.shape:
                raise ValueError(
                    f"{what}: if_ must have shape (C, {labels.shape[0]}, {labels.shape[1]}) with "
                    f"the nuclear channel first, got {if_.shape}."
                )
