"""Pair image files with their label files by file name.

The pairing rule: an image ``NAME.ext`` pairs with the label file whose stem is ``NAME``
itself or ``NAME`` plus one of `LABEL_SUFFIXES` (``NAME_label``, ``NAME_labels``,
``NAME_mask``, ``NAME_masks``; the suffix is matched ignoring case, ``NAME`` exactly), with any
image extension on either side: ``images/img01.jpg`` pairs with ``labels/img01_mask.png``.
When both folders are the same folder, files whose stem ends in a suffix are the labels and
all others the images.

Every image must have exactly one label file and every label file an image; anything else is
an `UnmatchedFilesError` (a ValueError) that lists the offending names (``strict=False``
drops unmatched files instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import IMAGE_SUFFIXES, PathLike, read_image, read_labels, read_size

__all__ = ["LABEL_SUFFIXES", "Pair", "UnmatchedFilesError", "pair_folders"]

#: Suffixes a label file's stem may add to its image's stem (matched ignoring case).
LABEL_SUFFIXES: tuple[str, ...] = ("_label", "_labels", "_mask", "_masks")


class UnmatchedFilesError(ValueError):
    """Images without label files, or label files without images (`pair_folders`).

    The message is ``f"{problem}; {advice}"``.

    Attributes:
        problem: the unmatched files and the naming rule, for callers that give their own
            advice (a command line has other options than ``strict=False``).
    """

    def __init__(self, problem: str, advice: str) -> None:
        super().__init__(f"{problem}; {advice}")
        self.problem = problem


@dataclass(frozen=True)
class Pair:
    """An image file and its instance label file.

    Attributes:
        image: path of the image.
        labels: path of the label image.
    """

    image: Path
    labels: Path

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """Read both files and check that their sizes agree.

        Returns:
            ``(image, labels)``: the image as stored (see `restainaug.data.read_image`) and
            ``int32`` labels.

        Raises:
            ValueError: if a file cannot be read, or the two sizes differ (the message names
                both files and both sizes).
        """
        image, labels = read_image(self.image), read_labels(self.labels)
        check_same_size(image, labels, str(self.image), str(self.labels))
        return image, labels


def check_same_size(
    image: np.ndarray, labels: np.ndarray, image_name: str, label_name: str
) -> None:
    """Raise a ValueError naming both sources when image and labels differ in height/width."""
    if image.shape[:2] != labels.shape[:2]:
        raise ValueError(
            f"Image {image_name} is {image.shape[0]}x{image.shape[1]} (HxW) but its labels "
            f"{label_name} are {labels.shape[0]}x{labels.shape[1]}; they must be the same size."
        )


def _strip_suffix(stem: str) -> str | None:
    low = stem.lower()
    for s in LABEL_SUFFIXES:
        if low.endswith(s) and len(stem) > len(s):
            return stem[: -len(s)]
    return None


def _listing(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder not found: {folder}")
    return sorted(
        f
        for f in folder.glob(pattern)
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )


def _by_key(files: list[Path], key: dict[Path, str], what: str, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dups: dict[str, list[str]] = {}
    for f in files:
        k = key[f]
        if k in out:
            dups.setdefault(k, [out[k].name]).append(f.name)
        out[k] = f
    if dups:
        shown = "; ".join(f"{k}: {v}" for k, v in list(dups.items())[:5])
        raise ValueError(
            f"{len(dups)} duplicate {what} stem(s) in {folder} ({shown}); each stem must occur "
            f"once: remove or rename the extra files."
        )
    return out


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def pair_folders(
    images_dir: PathLike,
    labels_dir: PathLike,
    pattern: str = "*",
    strict: bool = True,
    check_sizes: bool = False,
) -> list[Pair]:
    """Pair the images of one folder with the label images of another, by file stem.

    Args:
        images_dir: folder of images (PNG, JPEG, TIFF, BMP; not searched recursively).
        labels_dir: folder of label images; may be ``images_dir`` itself.
        pattern: glob pattern both folders' file names must match, e.g. ``"*.png"``.
        strict: raise for images without labels and labels without images; when false,
            unmatched files are left out.
        check_sizes: compare image and label sizes now, from the file headers (otherwise
            `Pair.read` checks them when the files are read).

    Returns:
        The pairs, sorted by image stem.

    Raises:
        FileNotFoundError: if a folder does not exist.
        UnmatchedFilesError: for unmatched files (``strict``); a ValueError.
        ValueError: for duplicate stems, no pairs at all, or (``check_sizes``) a size
            mismatch; messages list the names involved.

    Examples:
        >>> import tempfile, pathlib
        >>> from restainaug.data import write_image, write_labels
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     root = pathlib.Path(tmp)
        ...     _ = write_image(root / "img" / "a.png", np.zeros((4, 4, 3), np.uint8))
        ...     _ = write_labels(root / "lab" / "a_mask.png", np.zeros((4, 4), np.int32))
        ...     [(p.image.name, p.labels.name) for p in pair_folders(root / "img", root / "lab")]
        [('a.png', 'a_mask.png')]
    """
    idir, ldir = Path(images_dir), Path(labels_dir)
    image_files, label_files = _listing(idir, pattern), _listing(ldir, pattern)
    if idir.resolve() == ldir.resolve():
        label_files = [f for f in image_files if _strip_suffix(f.stem) is not None]
        image_files = [f for f in image_files if _strip_suffix(f.stem) is None]
    images = _by_key(image_files, {f: f.stem for f in image_files}, "image", idir)
    label_keys = {f: _strip_suffix(f.stem) or f.stem for f in label_files}
    labels = _by_key(label_files, label_keys, "label", ldir)
    no_labels = sorted(images[k].name for k in images.keys() - labels.keys())
    no_images = sorted(labels[k].name for k in labels.keys() - images.keys())
    if strict and (no_labels or no_images):
        parts = []
        if no_labels:
            parts.append(f"{len(no_labels)} image(s) in {idir} without labels: {_few(no_labels)}")
        if no_images:
            parts.append(
                f"{len(no_images)} label file(s) in {ldir} without images: {_few(no_images)}"
            )
        raise UnmatchedFilesError(
            "; ".join(parts) + f". A label file must be named like its image, optionally with "
            f"one of the suffixes {LABEL_SUFFIXES} (img01.png <-> img01_mask.png)",
            "pass strict=False to skip unmatched files.",
        )
    pairs = [Pair(images[k], labels[k]) for k in sorted(images.keys() & labels.keys())]
    if not pairs:
        raise ValueError(f"No image/label pairs found in {idir} and {ldir} (pattern {pattern!r}).")
    if check_sizes:
        for p in pairs:
            hi, wi = read_size(p.image)
            hl, wl = read_size(p.labels)
            if (hi, wi) != (hl, wl):
                raise ValueError(
                    f"Image {p.image} is {hi}x{wi} (HxW) but its labels {p.labels} are "
                    f"{hl}x{wl}; they must be the same size."
                )
    return pairs
