"""Reading and writing images and label images (PNG, JPEG, TIFF) as numpy arrays.

Layouts returned:

* `read_image`: one page, ``(H, W)`` for greyscale or ``(H, W, S)`` for RGB / RGBA
  (``S`` samples per pixel), with the file's dtype (``uint8``, ``uint16``, ``int32``,
  ``float32``, ``bool`` for 1-bit images). Palette images come back as RGB(A) colours.
* `read_stack`: all pages as channels first, ``(C, H, W)``: the multi-page layout of
  multiplexed fluorescence (one page per channel).
* `read_labels`: a single-channel instance label image as ``int32`` ``(H, W)``.

Writers replace their target atomically (temporary file in the same folder, then
``os.replace``), so a crash never leaves a half-written file under the final name. TIFFs are
written Deflate-compressed, which both tifffile (without ``imagecodecs``) and Pillow decode.

The module is longer than 300 lines, as data readers may be: the readers and writers of these
formats stay together so that the suffixes, formats and TIFF options they share are defined
once, next to the layouts above.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._files import atomic_write
from ._readers import Page, PathLike, check_file, read_pages, read_size

__all__ = [
    "IMAGE_SUFFIXES",
    "PathLike",
    "read_image",
    "read_labels",
    "read_size",
    "read_stack",
    "write_image",
    "write_labels",
    "write_plane",
]

#: File suffixes recognised as images (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_PILLOW_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
# Deflate: compact, and decoded by tifffile without imagecodecs and by Pillow.
_SAVE_OPTIONS: dict[str, dict[str, object]] = {"TIFF": {"compression": "tiff_adobe_deflate"}}


def _main_pages(path: PathLike, keep_palette: bool = False) -> list[Page]:
    pages = [pg for pg in read_pages(path, keep_palette=keep_palette) if not pg.reduced]
    if not pages:
        raise ValueError(f"Cannot read image {path}: it holds only reduced-resolution pages.")
    return pages


def _one_page(path: PathLike, page: int | None, keep_palette: bool = False) -> np.ndarray:
    if page is not None and (isinstance(page, bool) or not isinstance(page, int)):
        raise TypeError(f"page: expected None or an int >= 0, got {type(page).__name__}.")
    if page is not None and page < 0:
        raise ValueError(f"page: expected None or an int >= 0, got {page}.")
    pages = _main_pages(path, keep_palette)
    if page is None:
        if len(pages) != 1:
            raise ValueError(
                f"{path} has {len(pages)} pages; pass page=0..{len(pages) - 1} to pick one, or "
                f"use read_stack() to get all of them as (C, H, W)."
            )
        return pages[0].array
    if page >= len(pages):
        raise ValueError(f"{path} has {len(pages)} pages; page={page} does not exist.")
    return pages[page].array


def read_image(path: PathLike, page: int | None = None) -> np.ndarray:
    """Read an image file as a numpy array with the file's dtype.

    Args:
        path: a PNG, JPEG, TIFF (8/16/32-bit integer or float, greyscale or RGB) or BMP file.
        page: which page of a multi-page TIFF (counting full-resolution pages from 0);
            ``None`` requires a single-page file.

    Returns:
        The pixels.

    Shape:
        - output: `(H, W)` for greyscale, `(H, W, S)` for `S` samples per pixel (RGB: 3).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file cannot be decoded (the message names it and the cause), or
            it has several pages and ``page`` is ``None``.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(pathlib.Path(tmp) / "a.png", np.zeros((4, 6, 3), np.uint8))
        ...     read_image(path).shape, read_image(path).dtype
        ((4, 6, 3), dtype('uint8'))
    """
    return _one_page(path, page)


def read_stack(path: PathLike) -> np.ndarray:
    """Read the pages of a (multi-page) image as channels, ``(C, H, W)``.

    Each page of shape ``(H, W)`` is one channel; a page with ``S`` samples per pixel
    (``(H, W, S)``, e.g. RGB) gives ``S`` channels. Pages whose shape or dtype differ from the
    first page's (thumbnails, previews) and reduced-resolution pages are skipped. A
    single-page greyscale file gives ``(1, H, W)``.

    Args:
        path: the file.

    Returns:
        The channels, with the pages' dtype.

    Shape:
        - output: `(C, H, W)`

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file cannot be decoded.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(pathlib.Path(tmp) / "a.png", np.zeros((4, 6, 3), np.uint8))
        ...     read_stack(path).shape
        (3, 4, 6)
    """
    return stack_with_descriptions(path)[0]


def stack_with_descriptions(path: PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """Like `read_stack`, also returning each channel's page description (TIFF tag 270)."""
    pages = _main_pages(path)
    ref = pages[0].array
    planes: list[np.ndarray] = []
    descriptions: list[str] = []
    for pg in pages:
        if pg.array.shape != ref.shape or pg.array.dtype != ref.dtype:
            continue
        chans = pg.array[None] if pg.array.ndim == 2 else np.moveaxis(pg.array, -1, 0)
        planes.extend(chans)
        descriptions.extend([pg.description] * len(chans))
    return np.ascontiguousarray(np.stack(planes)), tuple(descriptions)


def as_labels(a: np.ndarray, source: str = "labels") -> np.ndarray:
    """Check a label image and return it as ``int32`` ``(H, W)`` (ids kept as they are).

    Accepted: integer, bool or whole-number float arrays, ``(H, W)`` or ``(H, W, C)`` whose
    channels are all equal (greyscale saved as RGB; a constant alpha channel is ignored).

    Raises:
        TypeError: if ``a`` is not a numpy array of a numeric dtype.
        ValueError: for colour label images, negative or fractional ids, or ids that do not fit
            ``int32``.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{source}: expected a numpy array, got {type(a).__name__}.")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{source}: expected integer labels, got dtype {a.dtype}.")
    if a.ndim == 3 and a.shape[-1] in (2, 4) and np.all(a[..., -1] == a[..., -1].flat[0]):
        a = a[..., :-1]  # a constant alpha channel carries no ids
    if a.ndim == 3:
        if not all(np.array_equal(a[..., 0], a[..., c]) for c in range(1, a.shape[-1])):
            raise ValueError(
                f"{source}: expected a single-channel label image (H, W), got a {a.shape[-1]}-"
                f"channel colour image {a.shape}. Save instance ids as a greyscale 16-bit PNG "
                f"or TIFF; colour-coded masks must be converted first (for DeepLIIF panels use "
                f"restainaug.data.segmentation_to_instances)."
            )
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"{source}: expected a label image (H, W), got shape {a.shape}.")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
            raise ValueError(f"{source}: float labels must hold whole numbers (instance ids).")
    if a.size and a.min() < 0:
        raise ValueError(f"{source}: ids must be >= 0 (0 = background), got {a.min()}.")
    if a.size and a.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{source}: ids up to {a.max()} do not fit int32.")
    return np.ascontiguousarray(a, dtype=np.int32)


def read_labels(path: PathLike, page: int | None = None) -> np.ndarray:
    """Read an instance label image (``0`` = background) as ``int32``.

    Palette PNGs give their palette indices (the ids), not colours. RGB files are accepted
    only when their channels are equal (greyscale saved as RGB).

    Args:
        path: an 8/16/32-bit PNG or TIFF.
        page: which page of a multi-page TIFF (counting full-resolution pages from 0);
            ``None`` requires a single-page file.

    Returns:
        The ids, unchanged (not relabelled).

    Shape:
        - output: `(H, W)`

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be decoded, is a colour image, or holds negative or
            fractional values.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_labels(pathlib.Path(tmp) / "l.png", np.array([[0, 1], [300, 2]]))
        ...     read_labels(path).tolist()
        [[0, 1], [300, 2]]
    """
    return as_labels(_one_page(path, page, keep_palette=True), str(check_file(path)))


def _format(path: PathLike, allowed: tuple[str, ...]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise ValueError(f"{path}: expected a name ending in one of {allowed}, got {suffix!r}.")
    return _PILLOW_FORMATS[suffix]


def _save(path: PathLike, pixels: np.ndarray, fmt: str, **options: object) -> Path:
    # Pillow writes the array in format ``fmt`` (TIFFs Deflate-compressed), atomically.
    from PIL import Image

    im = Image.fromarray(pixels)
    options = options or _SAVE_OPTIONS.get(fmt, {})
    return atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **options))


def write_image(path: PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write an 8-bit RGB (or greyscale) image atomically; the suffix picks the format.

    Args:
        path: destination ending in ``.png``, ``.jpg``/``.jpeg`` (lossy) or ``.tif``/``.tiff``;
            missing parent folders are created.
        image: ``uint8`` pixels.
        quality: JPEG quality (1-95; ignored for PNG and TIFF, which are lossless).

    Returns:
        The written path.

    Shape:
        - image: `(H, W, 3)` or `(H, W)`

    Raises:
        TypeError: if ``image`` is not a ``uint8`` numpy array.
        ValueError: for other shapes or suffixes.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     write_image(pathlib.Path(tmp) / "a.png", np.full((2, 2, 3), 255, np.uint8)).name
        'a.png'
    """
    fmt = _format(path, (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise TypeError(
            f"write_image: expected a uint8 numpy array, got {got}. Convert float images in "
            f"[0, 1] with (x * 255).round().astype(np.uint8)."
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)) or image.size == 0:
        raise ValueError(f"write_image: expected shape (H, W, 3) or (H, W), got {image.shape}.")
    quality_ = {"quality": int(quality)} if fmt == "JPEG" else {}
    return _save(path, np.ascontiguousarray(image), fmt, **quality_)


def write_labels(path: PathLike, labels: np.ndarray) -> Path:
    """Write instance labels atomically: 16-bit PNG, or 16/32-bit TIFF.

    A ``.png`` is written as 16-bit greyscale and needs ids below 65536; a ``.tif``/``.tiff``
    is 16-bit when the ids fit, else 32-bit signed integer.

    Args:
        path: destination ending in ``.png``, ``.tif`` or ``.tiff``; parent folders are created.
        labels: non-negative integer ids (bool and whole-number floats are accepted).

    Returns:
        The written path.

    Shape:
        - labels: `(H, W)`

    Raises:
        TypeError: if ``labels`` is not a numeric numpy array.
        ValueError: for other shapes, negative ids, or ids too large for a PNG.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_labels(pathlib.Path(tmp) / "big.tif", np.array([[0, 70000]]))
        ...     read_labels(path).tolist()
        [[0, 70000]]
    """
    fmt = _format(path, (".png", ".tif", ".tiff"))
    ids = as_labels(labels, "write_labels")
    top = int(ids.max()) if ids.size else 0
    if top >= 2**16 and fmt == "PNG":
        raise ValueError(
            f"write_labels: ids up to {top} do not fit a 16-bit PNG ({path}); write a .tif "
            f"instead, or relabel the ids consecutively."
        )
    return _save(path, ids.astype(np.uint16) if top < 2**16 else ids, fmt)


def write_plane(path: PathLike, plane: np.ndarray) -> Path:
    """Write one float channel (an IF plane) atomically as a 32-bit float TIFF.

    Folders of such planes named by channel (``DAPI.tif``, ``HER2.tif``) are what
    `read_multiplex` reads as one multi-channel image.

    Args:
        path: destination ending in ``.tif`` or ``.tiff``; parent folders are created.
        plane: finite numbers, converted to ``float32``.

    Returns:
        The written path.

    Shape:
        - plane: `(H, W)`

    Raises:
        TypeError: if ``plane`` is not a numeric numpy array.
        ValueError: for other shapes or non-finite values.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_plane(pathlib.Path(tmp) / "DAPI.tif", np.full((2, 3), 0.5))
        ...     read_image(path).dtype, read_image(path)[0, 0]
        (dtype('float32'), np.float32(0.5))
    """
    fmt = _format(path, (".tif", ".tiff"))
    if not isinstance(plane, np.ndarray) or plane.dtype.kind not in "biuf":
        got = plane.dtype if isinstance(plane, np.ndarray) else type(plane).__name__
        raise TypeError(f"write_plane: expected a numeric numpy array, got {got}.")
    if plane.ndim != 2 or plane.size == 0:
        raise ValueError(f"write_plane: expected shape (H, W), got {plane.shape}.")
    if not np.isfinite(plane).all():
        raise ValueError("write_plane: the plane contains NaN or infinite values.")
    return _save(path, np.ascontiguousarray(plane, dtype=np.float32), fmt)  # Pillow mode "F"
