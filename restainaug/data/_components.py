"""Connected-component labelling and label growth on small 2-D numpy arrays.

Plain numpy (no scipy): a vectorised union-find over the edges between neighbouring pixels,
hooking the larger root onto the smaller one and compressing paths until every edge joins
one component. Components are numbered ``1..N`` in raster order of their first pixel, the
order ``scipy.ndimage.label`` and ``skimage.measure.label`` use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grow_into", "label_classes"]


def _edges(classes: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = classes.shape
    idx = np.arange(h * w).reshape(h, w)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    heads, tails = [], []
    for dy, dx in offsets:
        p = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
        q = (slice(dy, h), slice(max(0, dx), w + min(0, dx)))
        same = (classes[p] != 0) & (classes[p] == classes[q])
        heads.append(idx[p][same])
        tails.append(idx[q][same])
    return np.concatenate(heads), np.concatenate(tails)


def label_classes(classes: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Label connected regions of equal, non-zero class value.

    Neighbouring pixels of different classes are never joined, so touching regions of two
    classes stay two components.

    Args:
        classes: integer class map, ``0`` = background.
        connectivity: ``4`` (edge neighbours) or ``8`` (edge and corner neighbours).

    Returns:
        ``int32`` component ids ``1..N`` in raster order of first pixel, ``0`` = background.

    Shape:
        - classes: `(H, W)`
        - output: `(H, W)`

    Examples:
        >>> label_classes(np.array([[1, 1, 0, 2], [0, 0, 0, 2], [1, 0, 1, 1]])).tolist()
        [[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 4, 4]]
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity: expected 4 or 8, got {connectivity!r}.")
    h, w = classes.shape
    parent = np.arange(h * w)
    a, b = _edges(classes, connectivity)
    while a.size:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
        if not a.size:
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # pointer jumping until every pixel points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots = parent.reshape(h, w)
    fg = classes != 0
    out = np.zeros((h, w), dtype=np.int32)
    _, ids = np.unique(roots[fg], return_inverse=True)
    out[fg] = ids.reshape(-1) + 1
    return out


def grow_into(labels: np.ndarray, where: np.ndarray, steps: int) -> np.ndarray:
    """Grow labels into the pixels ``where`` by up to ``steps`` pixels (8-neighbourhood).

    Each step, an unlabelled pixel in ``where`` takes the largest id among its eight
    neighbours (ties between touching objects go to the larger id).

    Args:
        labels: ids, ``0`` = unlabelled.
        where: bool mask of the pixels that may be taken.
        steps: how far to grow (chessboard distance).

    Returns:
        A new label array.

    Shape:
        - labels, where: `(H, W)`
        - output: `(H, W)`

    Examples:
        >>> grow_into(np.array([[1, 0, 0, 0]]), np.array([[0, 1, 1, 1]], bool), 2).tolist()
        [[1, 1, 1, 0]]
    """
    out = labels.copy()
    for _ in range(steps):
        free = where & (out == 0)
        if not free.any():
            break
        p = np.pad(out, 1)
        h, w = out.shape
        best = np.zeros_like(out)
        for dy in range(3):
            for dx in range(3):
                np.maximum(best, p[dy : dy + h, dx : dx + w], out=best)
        out = np.where(free, best, out)
    return out
