"""Translation between two images of the same field, by cross-correlation (plain numpy).

Panels that should be co-registered often are not quite: the DeepLIIF sample fields, for
one, have their IHC panel 6-9 pixels away from their nucleus masks and a few pixels from
their IF panels. `estimate_shift` finds the integer translation that best lines up two
images of the same field: both are high-pass filtered (a Gaussian of ``sigma`` pixels is
subtracted, so that uneven background does not count), normalised, zero-padded and
cross-correlated with FFTs; the peak within ``max_shift`` pixels wins.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_shifted", "estimate_shift"]


def _highpass(image: np.ndarray, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """``image`` minus its Gaussian blur (none if ``sigma`` is 0), standardised, zero-padded."""
    x = image.astype(np.float64)
    x = x - x.mean()
    h, w = x.shape
    out = np.zeros(shape)
    out[:h, :w] = x
    if sigma > 0:
        fy = np.fft.fftfreq(shape[0])[:, None]
        fx = np.fft.rfftfreq(shape[1])[None, :]
        keep = 1.0 - np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
        out = np.fft.irfft2(np.fft.rfft2(out) * keep, shape)
        out[h:, :] = 0.0  # the blur spread into the padding; keep the padding empty
        out[:, w:] = 0.0
    return out / max(float(out[:h, :w].std()), 1e-12)


def estimate_shift(
    reference: np.ndarray, moving: np.ndarray, max_shift: int = 16, sigma: float = 8.0
) -> tuple[int, int]:
    """The integer translation that lines ``moving`` up with ``reference``.

    Args:
        reference: a 2-D image (any real dtype), for example the optical density of an IHC
            panel.
        moving: a 2-D image of the same field and shape, for example a nucleus mask.
        max_shift: largest translation searched, in pixels along each axis.
        sigma: scale, in pixels, of the background removed before correlating (``0``: none).

    Returns:
        ``(dy, dx)`` such that ``np.roll(moving, (dy, dx), axis=(0, 1))`` best matches
        ``reference``: the content of ``moving`` at ``(y, x)`` belongs at
        ``(y + dy, x + dx)``. ``(0, 0)`` when either image is constant.

    Raises:
        TypeError: if an input is not a real numpy array.
        ValueError: if the inputs are not 2-D of one shape, or ``max_shift`` is negative or
            too large for the images.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> image = rng.random((64, 64))
        >>> estimate_shift(image, np.roll(image, (3, -2), axis=(0, 1)), sigma=0)
        (-3, 2)
    """
    for name, a in (("reference", reference), ("moving", moving)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"estimate_shift: {name} must be a real numpy array, got {got}.")
        if a.ndim != 2:
            raise ValueError(f"estimate_shift: {name} must be 2-D (H, W), got shape {a.shape}.")
    if reference.shape != moving.shape:
        raise ValueError(
            f"estimate_shift: reference and moving must have one shape, got {reference.shape} "
            f"and {moving.shape}."
        )
    h, w = reference.shape
    if not 0 <= max_shift < min(h, w) // 2:
        raise ValueError(
            f"estimate_shift: max_shift must be in [0, {min(h, w) // 2 - 1}] for images of "
            f"{h}x{w}, got {max_shift}."
        )
    if reference.std() == 0 or moving.std() == 0:
        return 0, 0  # nothing to line up
    shape = (h + max_shift, w + max_shift)
    a = np.fft.rfft2(_highpass(reference, sigma, shape))
    b = np.fft.rfft2(_highpass(moving, sigma, shape))
    corr = np.fft.irfft2(a * np.conj(b), shape)  # corr[s] = sum_y ref[y + s] * mov[y]
    # The overlap shrinks with the shift; divide by it so that large shifts are not favoured.
    r = max_shift
    sy = np.arange(-r, r + 1)
    window = corr[np.ix_(sy % shape[0], sy % shape[1])]
    overlap = (h - np.abs(sy))[:, None] * (w - np.abs(sy))[None, :]
    i, j = np.unravel_index(int(np.argmax(window / overlap)), window.shape)
    return int(sy[i]), int(sy[j])


def crop_shifted(
    images: dict[str, np.ndarray], shifts: dict[str, tuple[int, int]]
) -> dict[str, np.ndarray]:
    """Move images of one field into a common frame, keeping only the part all of them cover.

    Args:
        images: images of one shape in their first two axes, by name.
        shifts: ``(dy, dx)`` of each image, as `estimate_shift` returns it against the common
            frame; a name without an entry is already in that frame (``(0, 0)``).

    Returns:
        The images cropped so that pixel ``(y, x)`` is one place in all of them; the result
        is ``(H - span_y, W - span_x)`` where ``span`` is the range of the shifts (with 0).

    Raises:
        ValueError: if the images differ in shape, a shift names no image, or the shifts
            leave nothing.

    Examples:
        >>> a = np.arange(25).reshape(5, 5)
        >>> out = crop_shifted({"a": a, "b": np.roll(a, 1, axis=0)}, {"b": (-1, 0)})
        >>> out["a"].shape, bool((out["a"] == out["b"]).all())
        ((4, 5), True)
    """
    shapes = {k: v.shape[:2] for k, v in images.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"crop_shifted: images must share their first two axes, got {shapes}.")
    unknown = sorted(set(shifts) - set(images))
    if unknown:
        raise ValueError(f"crop_shifted: shifts given for images that are not there: {unknown}.")
    h, w = next(iter(shapes.values()))
    all_shifts = [shifts.get(k, (0, 0)) for k in images]
    y0 = max(0, *(dy for dy, _ in all_shifts))
    x0 = max(0, *(dx for _, dx in all_shifts))
    y1 = h + min(0, *(dy for dy, _ in all_shifts))
    x1 = w + min(0, *(dx for _, dx in all_shifts))
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"crop_shifted: shifts {all_shifts} leave no common region of {h}x{w}.")
    out = {}
    for k, v in images.items():
        dy, dx = shifts.get(k, (0, 0))
        out[k] = np.ascontiguousarray(v[y0 - dy : y1 - dy, x0 - dx : x1 - dx])
    return out
