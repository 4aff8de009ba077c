"""Detection scores of predicted nuclei against nucleus centre points (point annotations).

Many Ki67 data sets (BCData among them) mark each nucleus by its centre and its class, not
by its outline, so an instance segmentation can be scored only at the points. A point hits
the predicted instance under it (or the nearest one within ``radius`` pixels, as annotated
centres are a few pixels off); an instance hit by one or more points is one true positive,
credited to the point nearest its centroid (the other points in it are missed nuclei: the
instance merged them); an instance that no point hits is a false positive. Where annotations
cover only some cell types (BCData: tumour cells), unannotated nuclei count as false
positives, so compare precision between models on the same data, not with mask-based scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["PointScores", "point_detection"]


@dataclass(frozen=True)
class PointScores:
    """Counts and rates of one or more images (add them up with ``+``).

    Attributes:
        tp: instances credited to a point.
        fp: instances no point hits.
        fn: points not credited (no instance under them, or another point got it).
        hits_positive: marker-positive points credited.
        positives: marker-positive points.
        hits_negative: marker-negative points credited.
        negatives: marker-negative points.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    hits_positive: int = 0
    positives: int = 0
    hits_negative: int = 0
    negatives: int = 0

    def __add__(self, other: PointScores) -> PointScores:
        return PointScores(*(a + b for a, b in zip(self._counts(), other._counts(), strict=True)))

    def _counts(self) -> tuple[int, ...]:
        return (
            self.tp,
            self.fp,
            self.fn,
            self.hits_positive,
            self.positives,
            self.hits_negative,
            self.negatives,
        )

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")

    @property
    def recall_positive(self) -> float:
        """Share of marker-positive points detected (nan without positive points)."""
        return self.hits_positive / self.positives if self.positives else float("nan")

    @property
    def recall_negative(self) -> float:
        """Share of marker-negative points detected (nan without negative points)."""
        return self.hits_negative / self.negatives if self.negatives else float("nan")


def point_detection(
    found: np.ndarray, xy: np.ndarray, positive: np.ndarray | None = None, radius: int = 4
) -> PointScores:
    """Score predicted instances against nucleus centre points.

    Args:
        found: predicted instance ids, integer ``(H, W)``, ``0`` = background.
        xy: point coordinates ``(N, 2)`` as (x, y) pixels (`restainaug.data.read_points`).
        positive: marker status per point, bool ``(N,)``; ``None`` counts every point as
            negative.
        radius: how far from a point (in pixels) an instance may lie and still be hit.

    Returns:
        The counts (see `PointScores`).

    Raises:
        ValueError: for a ``found`` that is not 2-D integer ids, points not shaped ``(N, 2)``,
            a ``positive`` of another length, or a negative ``radius``.

    Examples:
        >>> found = np.zeros((20, 20), int)
        >>> found[2:8, 2:8], found[12:18, 12:18] = 1, 2
        >>> s = point_detection(found, np.array([[5, 5], [15, 15], [5, 15]]))
        >>> s.tp, s.fp, s.fn
        (2, 0, 1)
    """
    found = np.asarray(found)
    if found.ndim != 2 or not np.issubdtype(found.dtype, np.integer):
        raise ValueError(
            f"found: expected integer instance ids (H, W), got {found.dtype} {found.shape}."
        )
    xy = np.asarray(xy)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy: expected (N, 2) point coordinates, got shape {xy.shape}.")
    pos = np.zeros(len(xy), bool) if positive is None else np.asarray(positive, bool)
    if pos.shape != (len(xy),):
        raise ValueError(f"positive: expected {len(xy)} values (one per point), got {pos.shape}.")
    if radius < 0:
        raise ValueError(f"radius: expected a number of pixels >= 0, got {radius!r}.")
    h, w = found.shape
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    x, y = np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)
    hit = np.where(inside, found[y, x], 0)
    if radius > 0 and (hit == 0).any() and found.any():
        # Points just off an instance: the nearest instance pixel within the radius.
        dist, (iy, ix) = ndi.distance_transform_edt(found == 0, return_indices=True)
        near = inside & (hit == 0) & (dist[y, x] <= radius)
        hit[near] = found[iy[y[near], x[near]], ix[y[near], x[near]]]
    ids = np.unique(found[found > 0])
    credited = np.zeros(len(xy), bool)
    if len(ids) and (hit > 0).any():
        centres = np.array(ndi.center_of_mass(np.ones_like(found), found, ids))
        index = {int(i): k for k, i in enumerate(ids)}
        best: dict[int, tuple[float, int]] = {}
        for p in np.flatnonzero(hit > 0):
            cy, cx = centres[index[int(hit[p])]]
            d = float((y[p] - cy) ** 2 + (x[p] - cx) ** 2)
            if int(hit[p]) not in best or d < best[int(hit[p])][0]:
                best[int(hit[p])] = (d, int(p))
        credited[[p for _, p in best.values()]] = True
    tp = int(credited.sum())
    return PointScores(
        tp=tp,
        fp=len(ids) - tp,
        fn=len(xy) - tp,
        hits_positive=int((credited & pos).sum()),
        positives=int(pos.sum()),
        hits_negative=int((credited & ~pos).sum()),
        negatives=int((~pos).sum()),
    )
