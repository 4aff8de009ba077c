"""Low-level decoding: TIFF pages with tifffile (Pillow as the fallback), other formats with Pillow.

Every reader here returns plain numpy pages in native byte order and never leaves a file open.
The public functions in `restainaug.data.io` build on `read_pages`.

``tifffile`` is optional and imported lazily: it decodes every TIFF flavour (16-bit RGB,
planar channels, BigTIFF) but needs the ``imagecodecs`` package for LZW or JPEG compression.
When it is missing or fails, Pillow reads the file (8/16/32-bit and float greyscale, 8-bit RGB,
LZW, Deflate); a file neither can decode raises a ValueError that names both causes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Page", "PathLike", "check_file", "is_tiff", "read_pages", "read_size"]

#: A file system path.
PathLike = str | os.PathLike[str]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Pillow modes that numpy cannot take as they are: converted to RGB(A) first.
_TO_RGB = {"CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB"}
_TO_RGBA = {"RGBa": "RGBA", "PA": "RGBA", "La": "LA"}


@dataclass(frozen=True)
class Page:
    """One decoded page (frame) of an image file.

    Attributes:
        array: the pixels, ``(H, W)`` or ``(H, W, S)`` with ``S`` samples per pixel.
        description: the TIFF ImageDescription tag (``""`` when absent).
        reduced: whether the page is a reduced-resolution copy (TIFF NewSubfileType bit 0).
    """

    array: np.ndarray
    description: str = ""
    reduced: bool = False


def check_file(path: PathLike) -> Path:
    """Return ``path`` as a `Path` if it is an existing file.

    Raises:
        TypeError: if ``path`` is not a string or path-like object.
        FileNotFoundError: if nothing exists at ``path``.
        ValueError: if ``path`` is a directory.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected a file path (str or pathlib.Path), got {type(path).__name__}.")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"Image file not found: {p}")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; expected an image file.")
    return p


def is_tiff(path: Path) -> bool:
    """Whether the file starts with a TIFF or BigTIFF signature (the suffix is not trusted)."""
    with open(path, "rb") as f:
        return f.read(4) in _TIFF_MAGIC


def _native(a: np.ndarray) -> np.ndarray:
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def _pillow_array(im: Any, keep_palette: bool) -> np.ndarray:
    mode = im.mode
    if mode == "P" and not keep_palette:
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in _TO_RGB:
        im = im.convert(_TO_RGB[mode])
    elif mode in _TO_RGBA:
        im = im.convert(_TO_RGBA[mode])
    return _native(np.array(im))


def _pillow_pages(path: Path, keep_palette: bool) -> list[Page]:
    from PIL import Image

    pages = []
    with Image.open(path) as im:
        for k in range(getattr(im, "n_frames", 1)):
            im.seek(k)
            tags = getattr(im, "tag_v2", None)
            desc = tags.get(270, "") if tags is not None else ""
            reduced = bool(int(tags.get(254, 0)) & 1) if tags is not None else False
            desc = desc.decode("latin-1") if isinstance(desc, bytes) else str(desc)
            pages.append(Page(_pillow_array(im, keep_palette), desc, reduced))
    return pages


def _tifffile_pages(path: Path) -> list[Page]:
    import tifffile  # optional: ImportError makes the caller fall back to Pillow

    pages = []
    with tifffile.TiffFile(path) as tf:
        for page in tf.pages:
            a = page.asarray()
            spp = int(getattr(page, "samplesperpixel", 1))
            if spp > 1 and int(getattr(page, "planarconfig", 1)) == 2 and a.ndim == 3:
                a = np.moveaxis(a, 0, -1)  # planar (S, H, W) -> (H, W, S)
            desc = str(getattr(page, "description", "") or "")
            reduced = bool(int(getattr(page, "subfiletype", 0)) & 1)
            pages.append(Page(_native(a), desc, reduced))
    return pages


def read_pages(path: PathLike, keep_palette: bool = False) -> list[Page]:
    """Decode the pages of an image file (one page for PNG and JPEG).

    Args:
        path: the file.
        keep_palette: return palette images as their indices instead of RGB(A) colours.

    Returns:
        The pages in file order.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file cannot be decoded (the message names the file and the cause).
    """
    p = check_file(path)
    tiff_error = ""
    if is_tiff(p):
        try:
            return _tifffile_pages(p)
        except ImportError:
            tiff_error = "tifffile is not installed; "
        except Exception as e:  # any decoder failure: Pillow may still read it
            tiff_error = f"tifffile: {type(e).__name__}: {e}; "
    try:
        return _pillow_pages(p, keep_palette)
    except Exception as e:
        prefix = "Pillow: " if tiff_error else ""
        raise ValueError(
            f"Cannot read image {p}: {tiff_error}{prefix}{type(e).__name__}: {e}. Check that "
            f"the file is a complete PNG, JPEG or TIFF (for LZW/JPEG-compressed TIFFs install "
            f"tifffile and imagecodecs)."
        ) from None


def read_size(path: PathLike) -> tuple[int, int]:
    """Height and width of the first page, from the file header (pixels are not decoded).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the header cannot be read.
    """
    p = check_file(path)
    if is_tiff(p):
        try:
            import tifffile

            with tifffile.TiffFile(p) as tf:
                page = tf.pages[0]
                return int(page.imagelength), int(page.imagewidth)
        except Exception:  # tifffile missing or failing: try Pillow
            pass
    try:
        from PIL import Image

        with Image.open(p) as im:
            w, h = im.size
        return int(h), int(w)
    except Exception as e:
        raise ValueError(f"Cannot read image {p}: {type(e).__name__}: {e}") from None
