"""Torch datasets: unpaired IHC / IF patches for CycleGAN fitting, labelled IHC for segmentation.

Both draw their random numbers from ``numpy.random.default_rng((seed, index))``: item
``index`` is the same in every process and epoch, so they are safe in ``DataLoader`` workers
and reproducible. To see new crops in a new epoch, change ``seed`` (e.g. ``seed=epoch``).

Sources can be file paths, read on first use and cached in the dataset (each ``DataLoader``
worker keeps its own cache), or in-memory arrays, checked when the dataset is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .folders import Pair, check_same_size
from .ifimage import IFImage
from .io import PathLike, as_labels, read_image, read_labels, read_size

__all__ = ["LabelledIHC", "UnpairedPatches"]


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}.")
    return int(value)


def rgb_uint8(a: np.ndarray, source: str) -> np.ndarray:
    """``a`` as ``uint8`` RGB ``(H, W, 3)`` (alpha dropped), or an error naming ``source``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{source}: expected a numpy array, got {type(a).__name__}.")
    if a.dtype != np.uint8:
        raise TypeError(
            f"{source}: expected uint8 RGB pixels, got dtype {a.dtype}. Convert float images in "
            f"[0, 1] with (x * 255).round().astype(np.uint8)."
        )
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"{source}: expected an RGB image (H, W, 3), got shape {a.shape}.")
    return a[..., :3]  # an alpha channel is dropped


def check_patch_size(shape: tuple[int, ...], size: int, source: str) -> None:
    """Raise a ``ValueError`` naming ``source`` when ``shape`` (H, W, ...) is below ``size``."""
    if shape[0] < size or shape[1] < size:
        raise ValueError(
            f"{source} is {shape[0]}x{shape[1]} (HxW), smaller than the patch size {size}; use a "
            f"smaller size or leave this image out (images are never padded)."
        )


def _window(rng: np.random.Generator, h: int, w: int, size: int) -> tuple[slice, slice]:
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    return slice(y, y + size), slice(x, x + size)


def _dihedral(a: np.ndarray, rng: np.random.Generator, axes: tuple[int, int]) -> np.ndarray:
    """One of the 8 flips/rotations of the square patch, drawn uniformly."""
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    a = np.rot90(a, k, axes=axes)
    return np.flip(a, axis=axes[1]) if flip else a


class UnpairedPatches(Dataset):
    """Random, independent patches of IHC and IF images: the unpaired data of a CycleGAN.

    Item ``index`` is an IHC patch from a randomly chosen IHC image and an IF patch from a
    randomly chosen IF image (uniformly, whatever their sizes), each at its own random
    position and (``flips``) with its own random flip / 90-degree rotation. Images smaller
    than ``size`` are an error (no padding). Patches are copies: changing them leaves the
    dataset's images alone.

    Args:
        ihc_images: IHC images: file paths (read lazily, cached) or ``uint8`` ``(H, W, 3)``
            arrays.
        if_images: IF images: `IFImage`s or float ``(C, H, W)`` arrays, all with the same
            ``C``; values are used as they are (normalise them first, see
            `restainaug.data.read_multiplex`).
        size: patch side in pixels.
        length: number of items (patches drawn per epoch).
        seed: seed of the draws; item ``index`` depends only on ``(seed, index)``.
        flips: apply random flips and 90-degree rotations.

    Shape:
        - item["ihc"]: `(3, size, size)`, float32 in `[0, 1]`
        - item["if"]: `(C, size, size)`, float32

    Raises:
        TypeError: for sources of the wrong type or dtype.
        ValueError: for empty source lists, mismatched channel counts, or images smaller than
            ``size`` (files are checked from their headers when the dataset is built).

    Examples:
        >>> ds = UnpairedPatches([np.zeros((40, 50, 3), np.uint8)], [np.ones((2, 32, 32))],
        ...                      size=16, length=4)
        >>> item = ds[0]
        >>> tuple(item["ihc"].shape), tuple(item["if"].shape), len(ds)
        ((3, 16, 16), (2, 16, 16), 4)
    """

    def __init__(
        self,
        ihc_images: Sequence[PathLike | np.ndarray],
        if_images: Sequence[IFImage | np.ndarray],
        size: int = 256,
        length: int = 1000,
        seed: int = 0,
        flips: bool = True,
    ) -> None:
        self.size = _int(size, "size", 1)
        self.length = _int(length, "length", 1)
        self.seed = _int(seed, "seed", 0)
        self.flips = bool(flips)
        if not len(ihc_images) or not len(if_images):
            raise ValueError("UnpairedPatches: need at least one IHC image and one IF image.")
        self.ihc: list[PathLike | np.ndarray] = []
        for i, src in enumerate(ihc_images):
            if isinstance(src, np.ndarray):
                src = rgb_uint8(src, f"ihc_images[{i}]")
                check_patch_size(src.shape, self.size, f"ihc_images[{i}]")
            else:
                check_patch_size(read_size(src), self.size, f"IHC image {src}")
            self.ihc.append(src)
        self.if_: list[np.ndarray] = []
        #: Roles of the IF channels when the IF images are `IFImage`s, else ``None``.
        self.roles: tuple[str, ...] | None = None
        for i, image in enumerate(if_images):
            a = image.data if isinstance(image, IFImage) else image
            if not isinstance(a, np.ndarray) or a.ndim != 3 or a.dtype.kind not in "biuf":
                raise TypeError(
                    f"if_images[{i}]: expected an IFImage or a real (C, H, W) numpy array, got "
                    f"{getattr(a, 'shape', type(a).__name__)}."
                )
            c = self.if_[0].shape[0] if self.if_ else a.shape[0]
            if a.shape[0] != c:
                raise ValueError(
                    f"if_images[{i}] has {a.shape[0]} channels, if_images[0] has {c}: all IF "
                    f"images need the same channels."
                )
            if isinstance(image, IFImage):
                if self.roles is not None and image.roles != self.roles:
                    raise ValueError(
                        f"if_images[{i}] has channel roles {image.roles}, an earlier IF image "
                        f"{self.roles}: put the channels in the same order (IFImage.select)."
                    )
                self.roles = image.roles
            check_patch_size(a.shape[1:], self.size, f"if_images[{i}]")
            self.if_.append(np.ascontiguousarray(a, dtype=np.float32))
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def _ihc(self, i: int) -> np.ndarray:
        src = self.ihc[i]
        if isinstance(src, np.ndarray):
            return src
        if i not in self._cache:
            self._cache[i] = rgb_uint8(read_image(src), f"IHC image {src}")
        return self._cache[i]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"UnpairedPatches: index {index} out of range 0..{self.length - 1}.")
        rng = np.random.default_rng((self.seed, int(index)))
        s = self.size
        ihc = self._ihc(int(rng.integers(len(self.ihc))))
        ihc = ihc[_window(rng, ihc.shape[0], ihc.shape[1], s)]
        if_ = self.if_[int(rng.integers(len(self.if_)))]
        rows, cols = _window(rng, if_.shape[1], if_.shape[2], s)
        if_ = if_[:, rows, cols]
        if self.flips:
            ihc, if_ = _dihedral(ihc, rng, (0, 1)), _dihedral(if_, rng, (1, 2))
        ihc_t = torch.from_numpy(np.ascontiguousarray(ihc.transpose(2, 0, 1))).float() / 255.0
        return {"ihc": ihc_t, "if": torch.from_numpy(np.array(if_, dtype=np.float32, order="C"))}


class LabelledIHC(Dataset):
    """IHC images with instance labels, optionally as random crops, for segmentation.

    Args:
        sources: `Pair`s (see `restainaug.data.pair_folders`) or ``(image, labels)`` tuples,
            each a file path (read lazily, cached) or an array: ``uint8`` ``(H, W, 3)`` image
            and integer ``(H, W)`` labels.
        size: side of a random square crop (the same window for image and labels); ``None``
            returns whole images.
        seed: seed of the crops; item ``index`` depends only on ``(seed, index)``.

    Shape:
        - item: `((H, W, 3) uint8, (H, W) int32)`, ``H = W = size`` when cropping

    Raises:
        TypeError: for sources of the wrong type.
        ValueError: when a file cannot be read (the message names it), image and labels
            differ in size, or an image is smaller than ``size``.

    Examples:
        >>> ds = LabelledIHC([(np.zeros((20, 30, 3), np.uint8), np.ones((20, 30), int))], 8)
        >>> image, labels = ds[0]
        >>> image.shape, labels.shape, labels.dtype
        ((8, 8, 3), (8, 8), dtype('int32'))
    """

    def __init__(
        self,
        sources: Sequence[Pair | tuple[PathLike | np.ndarray, PathLike | np.ndarray]],
        size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.size = None if size is None else _int(size, "size", 1)
        self.seed = _int(seed, "seed", 0)
        self.sources: list[tuple[Any, Any]] = []
        for i, src in enumerate(sources):
            if isinstance(src, Pair):
                src = (src.image, src.labels)
            if not isinstance(src, (tuple, list)) or len(src) != 2:
                raise TypeError(
                    f"sources[{i}]: expected a Pair or an (image, labels) tuple, got "
                    f"{type(src).__name__}."
                )
            image, labels = src
            if isinstance(image, np.ndarray) and isinstance(labels, np.ndarray):
                image, labels = self._checked(image, labels, f"sources[{i}][0]", f"sources[{i}][1]")
            self.sources.append((image, labels))
        if not self.sources:
            raise ValueError("LabelledIHC: need at least one (image, labels) source.")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _checked(
        self, image: np.ndarray, labels: np.ndarray, iname: str, lname: str
    ) -> tuple[np.ndarray, np.ndarray]:
        image, labels = rgb_uint8(image, iname), as_labels(labels, lname)
        check_same_size(image, labels, iname, lname)
        if self.size is not None:
            check_patch_size(image.shape, self.size, iname)
        return image, labels

    def __len__(self) -> int:
        return len(self.sources)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._cache:
            image, labels = self.sources[i]
            iname, lname = f"sources[{i}][0]", f"sources[{i}][1]"
            if not isinstance(image, np.ndarray):
                image, iname = read_image(image), str(image)
            if not isinstance(labels, np.ndarray):
                labels, lname = read_labels(labels), str(labels)
            self._cache[i] = self._checked(image, labels, iname, lname)
        return self._cache[i]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self.sources):
            raise IndexError(f"LabelledIHC: index {index} out of range 0..{len(self) - 1}.")
        image, labels = self._load(int(index))
        if self.size is not None:
            rng = np.random.default_rng((self.seed, int(index)))
            win = _window(rng, image.shape[0], image.shape[1], self.size)
            image, labels = image[win], labels[win]
        return np.array(image, order="C"), np.array(labels, order="C")
