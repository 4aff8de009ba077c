"""Image and ranking metrics for evaluating translators, in plain numpy (float64).

* `auc` - area under the ROC curve of a score for a binary class, threshold-free: the
  Mann-Whitney ``U`` statistic with ties counted half (average ranks), ``U / (n_pos * n_neg)``;
* `dice` - overlap of two binary masks;
* `otsu_mask` - foreground of Otsu's threshold (`restainaug.nuclei.otsu_threshold`);
* `pearson` - linear correlation of two images;
* `ssim`, `psnr` - similarity of two RGB images in ``[0, 1]``; `ssim` uses a Gaussian window
  (sigma 1.5) and matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1)``.

Undefined values (one class only, a constant image) are ``nan``, never a warning.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..nuclei import otsu_threshold

__all__ = ["auc", "dice", "matched_objects", "otsu_mask", "pearson", "psnr", "ssim"]


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{what}: expected two arrays of the same shape, got {a.shape} and {b.shape}."
        )


def auc(scores: np.ndarray, positive: np.ndarray, max_samples: int | None = None) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative.

    Computed from average ranks (Mann-Whitney ``U``), so ties count one half and no threshold
    is chosen. With ``max_samples``, a fixed random subset of that many elements (the same
    subset for the same inputs, always) stands in for all of them.

    Args:
        scores: any real values; higher means "more likely positive".
        positive: the true class of each element, same shape as ``scores``.
        max_samples: use at most this many elements (``None``: all).

    Returns:
        The AUC in ``[0, 1]`` (``0.5`` = chance); ``nan`` if a class is empty.

    Raises:
        ValueError: for different shapes, non-finite scores or ``max_samples < 2``.

    Examples:
        >>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
        0.75
        >>> auc(np.array([1.0, 1.0]), np.array([False, True]))
        0.5
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(positive).astype(bool).ravel()
    _same_shape(s, y, "auc")
    if not np.isfinite(s).all():
        raise ValueError("auc: scores contain NaN or infinite values.")
    if max_samples is not None:
        if max_samples < 2:
            raise ValueError(f"auc: max_samples must be >= 2 or None, got {max_samples}.")
        if s.size > max_samples:
            keep = np.random.default_rng(0).choice(s.size, max_samples, replace=False)
            s, y = s[keep], y[keep]
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Tied values share the mean of the ranks (1-based) they occupy.
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap ``2 |A & B| / (|A| + |B|)`` of two binary masks; ``1.0`` when both are empty.

    Raises:
        ValueError: for different shapes.

    Examples:
        >>> dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
        0.6666666666666666
    """
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    _same_shape(a, b, "dice")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def matched_objects(found: np.ndarray, truth: np.ndarray, iou: float = 0.5) -> int:
    """How many ``truth`` objects one ``found`` object overlaps with IoU ``>= iou``.

    At ``iou >= 0.5`` a match is one-to-one (two objects cannot both cover more than half of
    the union with a third), so this is the number of true positives of instance matching at
    that threshold, as in the usual segmentation F1.

    Args:
        found: integer object ids, ``0`` = background (e.g. from
            `restainaug.nuclei.nuclei_from_channel`).
        truth: integer instance labels of the same shape, ``0`` = background.
        iou: the intersection-over-union threshold, in ``(0, 1]``.

    Raises:
        TypeError: if an input is not an integer array.
        ValueError: for different shapes, negative ids, or ``iou`` outside ``(0, 1]``.

    Examples:
        >>> truth = np.array([[1, 1, 0, 2, 2, 2]])
        >>> matched_objects(np.array([[5, 5, 5, 0, 7, 0]]), truth)  # IoU 2/3 and 1/3
        1
    """
    found, truth = np.asarray(found), np.asarray(truth)
    for name, a in (("found", found), ("truth", truth)):
        if a.dtype.kind not in "iu":
            raise TypeError(f"matched_objects: {name} must hold integer ids, got {a.dtype}.")
        if a.size and a.min() < 0:
            raise ValueError(f"matched_objects: {name} has negative ids (min {a.min()}).")
    _same_shape(found, truth, "matched_objects")
    if not 0 < iou <= 1:
        raise ValueError(f"matched_objects: iou must be in (0, 1], got {iou}.")
    if not found.any() or not truth.any():
        return 0
    f, t = found.astype(np.int64).ravel(), truth.astype(np.int64).ravel()
    n = int(f.max()) + 1
    inter = np.bincount(t * n + f, minlength=(int(t.max()) + 1) * n).reshape(-1, n)
    union = inter.sum(1, keepdims=True) + inter.sum(0, keepdims=True) - inter
    ratio = inter[1:, 1:] / np.maximum(union[1:, 1:], 1)
    return int((ratio >= iou).any(1).sum())


def otsu_mask(x: np.ndarray) -> np.ndarray:
    """Pixels above Otsu's threshold of ``x`` (128-bin histogram, see `restainaug.nuclei`).

    Shape:
        - x: `(H, W)`
        - output: bool `(H, W)`

    Examples:
        >>> otsu_mask(np.array([[0.0, 0.1], [0.9, 1.0]])).tolist()
        [[False, False], [True, True]]
    """
    t = torch.from_numpy(np.asarray(x, dtype=np.float32))
    return (t > otsu_threshold(t[None])[0]).numpy()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays (all elements); ``nan`` when one is constant.

    Raises:
        ValueError: for different shapes.

    Examples:
        >>> round(pearson(np.arange(5.0), 2 * np.arange(5.0) + 1), 6)
        1.0
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    _same_shape(a, b, "pearson")
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else math.nan


def _check_rgb_pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    _same_shape(a, b, what)
    if a.ndim not in (2, 3):
        raise ValueError(f"{what}: expected images (H, W) or (H, W, C), got shape {a.shape}.")
    return a, b


def _gauss_filter(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Separable correlation, "valid" part only: (H, W, C) -> (H - k + 1, W - k + 1, C).
    k = w.size
    rows = sum(w[i] * x[i : x.shape[0] - k + 1 + i] for i in range(k))
    return sum(w[i] * rows[:, i : x.shape[1] - k + 1 + i] for i in range(k))


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5, data_range: float = 1.0) -> float:
    """Structural similarity with a Gaussian window, mean over pixels and channels.

    Local means, variances and covariance are weighted by a Gaussian of ``sigma`` truncated
    at ``3.5 sigma`` (an 11x11 window for 1.5); pixels whose window leaves the image are
    not counted, and population (not sample) statistics are used, as in Wang et al. (2004)
    and scikit-image with ``gaussian_weights=True, use_sample_covariance=False``.

    Args:
        a: first image, values on a scale of ``data_range``.
        b: second image.
        sigma: standard deviation of the window in pixels.
        data_range: the span of possible values (``1`` for ``[0, 1]`` images).

    Returns:
        The mean SSIM, ``1.0`` for identical images.

    Shape:
        - a: `(H, W)` or `(H, W, C)`, larger than the window
        - b: same as ``a``

    Raises:
        ValueError: for different shapes, images smaller than the window, or ``sigma <= 0``.

    Examples:
        >>> x = np.random.default_rng(0).random((32, 32, 3))
        >>> ssim(x, x)
        1.0
        >>> ssim(x, 1 - x) < 0
        True
    """
    a, b = _check_rgb_pair(a, b, "ssim")
    if not sigma > 0:
        raise ValueError(f"ssim: sigma must be > 0, got {sigma}.")
    r = int(3.5 * sigma + 0.5)
    if min(a.shape[:2]) <= 2 * r:
        raise ValueError(
            f"ssim: images of {a.shape[0]}x{a.shape[1]} pixels are too small for a window of "
            f"{2 * r + 1}x{2 * r + 1} (sigma {sigma})."
        )
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    w /= w.sum()
    mu_a, mu_b = _gauss_filter(a, w), _gauss_filter(b, w)
    var_a = _gauss_filter(a * a, w) - mu_a**2
    var_b = _gauss_filter(b * b, w) - mu_b**2
    cov = _gauss_filter(a * b, w) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(s.mean(axis=(0, 1)).mean())


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB; ``inf`` if equal.

    Raises:
        ValueError: for different shapes.

    Examples:
        >>> round(psnr(np.zeros((4, 4)), np.full((4, 4), 0.1)), 6)
        20.0
    """
    a, b = _check_rgb_pair(a, b, "psnr")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)
