"""Nucleus centre points (``x,y,class`` CSV files) and nucleus regions grown from them.

Point annotations (BCData and many Ki67 scoring sets) mark each nucleus by its centre and its
class (``positive`` / ``negative``). `labels_from_points` turns them into instance labels by a
seeded watershed on the image's optical density, so that per-nucleus colour, texture and edge
statistics can be measured without masks.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["labels_from_points", "read_points"]


def read_points(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``x,y,class`` CSV file of nucleus centres.

    Args:
        path: the CSV file; a header row ``x,y,class`` is required, ``class`` is ``positive``
            or ``negative`` (any case).

    Returns:
        ``(xy, positive)``: integer ``(N, 2)`` pixel coordinates (x, y) and bool ``(N,)``.

    Raises:
        ValueError: for a missing column, a non-integer coordinate or an unknown class.
    """
    path = Path(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
        fields = set(rows[0]) if rows else set()
    if rows and not {"x", "y", "class"} <= fields:
        raise ValueError(f"{path}: expected the columns x, y, class, got {sorted(fields)}.")
    xy = np.zeros((len(rows), 2), np.int64)
    positive = np.zeros(len(rows), bool)
    for i, row in enumerate(rows):
        cls = row["class"].strip().lower()
        if cls not in ("positive", "negative"):
            raise ValueError(
                f"{path}, row {i + 2}: class must be positive or negative, got {cls!r}."
            )
        try:
            xy[i] = (round(float(row["x"])), round(float(row["y"])))
        except ValueError as err:
            raise ValueError(f"{path}, row {i + 2}: x and y must be numbers, got {row}.") from err
        positive[i] = cls == "positive"
    return xy, positive


def labels_from_points(rgb: np.ndarray, xy: np.ndarray, radius: int = 16) -> np.ndarray:
    """Nucleus regions around centre points: a watershed of the optical density.

    Each point seeds a region (id ``i + 1`` for point ``i``) by a watershed of the smoothed
    mean optical density, no further than ``radius`` pixels from its point, so neighbouring
    regions meet along the valleys between them. Each region keeps the pixels above its half
    maximum: half way between the density at its point and the local background (the darkest
    of the lightest pixels around), so a pale nucleus beside dark ones keeps its own outline.
    Every region keeps at least a 2 px disc. Points outside the image get no region.

    Args:
        rgb: the image, ``uint8`` ``(H, W, 3)``.
        xy: point coordinates ``(N, 2)`` as (x, y).
        radius: largest distance of a region's pixel from its point.

    Returns:
        int32 ids ``(H, W)``, ``0`` = background.

    Examples:
        >>> img = np.full((30, 30, 3), 240, np.uint8); img[10:20, 10:20] = 90
        >>> lab = labels_from_points(img, np.array([[15, 15]]))
        >>> int((lab == 1).sum())  # the 10 x 10 square, corners smoothed off
        96
    """
    from scipy import ndimage
    from skimage.segmentation import watershed

    h, w = rgb.shape[:2]
    od = -np.log10(np.clip(rgb.astype(np.float64) / 255.0, 1e-3, 1.0)).mean(-1)
    smooth = ndimage.gaussian_filter(od, 1.0)
    markers = np.zeros((h, w), np.int32)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    ids = np.flatnonzero(inside) + 1
    markers[xy[inside, 1], xy[inside, 0]] = ids
    dist = ndimage.distance_transform_edt(markers == 0)
    regions = watershed(-smooth, markers, mask=dist <= radius)
    # Half maximum per nucleus: between its centre's density and the local background, so
    # pale nuclei beside dark ones keep their own outline.
    centre = np.zeros(len(xy) + 1)
    disc = np.where(dist <= 2, regions, 0)
    if ids.size:
        centre[ids] = ndimage.median(smooth, disc, index=ids)
    background = ndimage.minimum_filter(ndimage.gaussian_filter(od, 2.0), 4 * radius + 1)
    keep = smooth >= background + 0.5 * (centre[regions] - background)
    labels = np.where(keep | (dist <= 2), regions, 0)
    return labels.astype(np.int32)
