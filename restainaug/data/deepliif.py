"""DeepLIIF training panels: co-registered IHC, IF channels and nucleus instances.

A DeepLIIF training image is six square panels side by side (width = 6 x height), left to
right: (1) Ki67 IHC with hematoxylin, (2) the hematoxylin-only IHC of the same field,
(3) IF DAPI (grey), (4) IF LAP2beta (shown green), (5) IF Ki67 (grey), (6) the segmentation
in pure colours: black background, blue Ki67-negative nucleus, red Ki67-positive nucleus,
green nucleus boundary. Panels 1-5 are meant to be co-registered, but in the public sample
fields they are not quite: the IHC panel lies 6-9 pixels away from the segmentation and a few
pixels from the IF panels. `DeepLIIFField.registered` (``read_deepliif(..., register=True)``)
moves every panel into the IHC panel's frame (integer translations found by
cross-correlation, `restainaug.data.register`) and crops to the part all of them cover.

`segmentation_to_instances` turns panel 6 into instance labels: each connected blue or red
region is one nucleus; its green boundary ring is added to it (``include_boundary``); specks
and nuclei cut down to slivers by the image edge (``min_size``) are dropped. With the defaults
this gives the published counts of the DeepLIIF sample images (Bladder1: 183 nuclei, 15
positive; Lung1: 60 nuclei, 11 positive).

The module is longer than 300 lines, as data readers may be: it reads one file format, whose
panel layout, colour segmentation and registration only make sense together.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ._components import grow_into, label_classes
from .ifimage import IFImage
from .io import PathLike, read_image
from .register import crop_shifted, estimate_shift

__all__ = ["DeepLIIFField", "read_deepliif", "segmentation_to_instances"]

_NAMES = ("black", "blue", "red", "green")


def segmentation_to_instances(
    seg: np.ndarray,
    include_boundary: bool = True,
    boundary_width: int = 2,
    min_size: int = 50,
    connectivity: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert a DeepLIIF colour segmentation to nucleus instances and their Ki67 status.

    Each channel is thresholded at 128, so near-pure colours (``(0, 0, 253)``) count as pure.
    Blue and red regions are labelled separately: a red region touching a blue one stays a
    separate nucleus. Ids follow raster order of each nucleus' first pixel.

    Args:
        seg: the segmentation panel, ``uint8`` RGB.
        include_boundary: add green boundary pixels within ``boundary_width`` pixels
            (chessboard distance) of a nucleus to it, so masks cover whole nuclei; where two
            nuclei share a boundary the larger id wins ties.
        boundary_width: how far nuclei grow into the green boundary (the rings are ~4 px
            wide; 2 takes the inner half).
        min_size: drop blue/red regions with fewer pixels than this (measured before adding
            the boundary). 50 reproduces the published DeepLIIF counts: it drops edge slivers
            of 4-44 pixels and keeps every nucleus of 55 pixels or more.
        connectivity: ``8`` or ``4`` neighbours.

    Returns:
        ``(labels, positive)``: ``int32`` ids ``1..N`` (``0`` = background), and a ``bool``
        array of length ``N + 1`` with ``positive[i]`` true when nucleus ``i`` is
        Ki67-positive (red); ``positive[0]`` (background) is false.

    Shape:
        - seg: `(H, W, 3)`
        - labels: `(H, W)`
        - positive: `(N + 1,)`

    Raises:
        TypeError: if ``seg`` is not a ``uint8`` numpy array.
        ValueError: for a wrong shape, or colours other than black, blue, red and green.

    Examples:
        >>> seg = np.zeros((12, 12, 3), np.uint8)
        >>> seg[1:9, 1:9] = (0, 255, 0); seg[3:7, 3:7] = (255, 0, 0)
        >>> labels, positive = segmentation_to_instances(seg, min_size=4)
        >>> int(labels.max()), positive.tolist(), int((labels == 1).sum())
        (1, [False, True], 64)
    """
    if not isinstance(seg, np.ndarray) or seg.dtype != np.uint8:
        got = seg.dtype if isinstance(seg, np.ndarray) else type(seg).__name__
        raise TypeError(f"seg: expected a uint8 numpy RGB image, got {got}.")
    if seg.ndim != 3 or seg.shape[-1] != 3:
        raise ValueError(f"seg: expected an RGB image (H, W, 3), got shape {seg.shape}.")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity: expected 4 or 8, got {connectivity!r}.")
    if boundary_width < 0 or min_size < 0:
        raise ValueError(
            f"boundary_width and min_size must be >= 0, got {boundary_width}, {min_size}."
        )
    hi = seg >= 128
    code = hi[..., 0] * 4 + hi[..., 1] * 2 + hi[..., 2]  # bits R, G, B
    odd = ~np.isin(code, (0, 1, 2, 4))
    if odd.any():
        y, x = np.argwhere(odd)[0]
        raise ValueError(
            f"seg: expected only black, blue, red and green pixels (DeepLIIF segmentation), "
            f"got {int(odd.sum())} other pixels, e.g. {tuple(int(v) for v in seg[y, x])} at "
            f"({y}, {x}). Is this the sixth panel?"
        )
    classes = np.where(code == 1, 1, np.where(code == 4, 2, 0))  # 1 = blue, 2 = red
    labels = label_classes(classes, connectivity)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    new_id = np.zeros(sizes.size, dtype=np.int32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    red = np.zeros(sizes.size, dtype=bool)
    red[labels[classes == 2]] = True
    labels = new_id[labels]
    positive = np.concatenate([[False], red[keep]])
    if include_boundary and boundary_width > 0:
        labels = grow_into(labels, code == 2, boundary_width)
    return labels, positive


@dataclass(frozen=True, eq=False)
class DeepLIIFField:
    """One DeepLIIF field: co-registered IHC and IF images with nucleus instances.

    Attributes:
        ihc: Ki67 IHC with hematoxylin, ``uint8`` ``(H, W, 3)``.
        hematoxylin: the hematoxylin-only IHC, ``uint8`` ``(H, W, 3)``.
        dapi: IF DAPI, ``float32`` ``(H, W)`` in ``[0, 1]`` (the grey panel / 255).
        lap2: IF LAP2beta, ``float32`` ``(H, W)`` in ``[0, 1]`` (the green channel / 255).
        marker: IF Ki67, ``float32`` ``(H, W)`` in ``[0, 1]``.
        labels: nucleus instance ids, ``int32`` ``(H, W)``, ``0`` = background.
        positive: ``bool`` ``(N + 1,)``: ``positive[i]`` is true when nucleus ``i`` is
            Ki67-positive; ``positive[0]`` is false.
        source: the file it was read from.
        offsets: ``(dy, dx)`` by which each panel was moved into the IHC panel's frame
            (``"segmentation"``, ``"hematoxylin"``, ``"if"``); empty when the field is as
            read (see `registered`).
    """

    ihc: np.ndarray
    hematoxylin: np.ndarray
    dapi: np.ndarray
    lap2: np.ndarray
    marker: np.ndarray
    labels: np.ndarray
    positive: np.ndarray
    source: str = ""
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def num_nuclei(self) -> int:
        """Number of nucleus instances."""
        return len(self.positive) - 1

    @property
    def num_positive(self) -> int:
        """Number of Ki67-positive nuclei."""
        return int(self.positive.sum())

    def if_image(self, lap2: bool = False) -> IFImage:
        """The IF panels as an `IFImage`: DAPI (nuclear) and Ki67 (marker).

        Args:
            lap2: also include LAP2beta as a third channel with role ``"other"``.
        """
        planes = [self.dapi, self.marker] + ([self.lap2] if lap2 else [])
        names = ("DAPI", "Ki67", "LAP2beta")[: len(planes)]
        roles = ("nuclear", "marker", "other")[: len(planes)]
        return IFImage(np.stack(planes), names, roles, self.source)

    def registered(
        self, max_shift: int = 16, offsets: dict[str, tuple[int, int]] | None = None
    ) -> DeepLIIFField:
        """The field with every panel moved into the IHC panel's frame, cropped to the overlap.

        Each panel's integer translation to the IHC panel is found by cross-correlation
        (`estimate_shift`) against the IHC's optical density, summed over RGB: the nucleus
        mask for the segmentation, the optical density of the hematoxylin-only panel, and
        DAPI for the IF panels (DAPI, LAP2beta and Ki67 share one frame). No model is
        involved. Nuclei cropped away entirely are dropped and the ids renumbered.

        Args:
            max_shift: largest translation searched, in pixels.
            offsets: use these translations (``offsets`` of another reading of the same
                file, e.g. with the boundary ring left out) instead of estimating them.

        Returns:
            A new field, ``H - span_y`` by ``W - span_x`` where ``span`` is the range of the
            translations; ``offsets`` records them. This field is not changed.

        Examples:
            >>> f = DeepLIIFField.from_panels(np.zeros((40, 240, 3), np.uint8))
            >>> g = f.registered(max_shift=4)
            >>> sorted(g.offsets), g.ihc.shape[2]
            (['hematoxylin', 'if', 'segmentation'], 3)
        """
        if offsets is None:
            od = _optical_density(self.ihc)
            mask = (self.labels > 0).astype(np.float32)
            shifts = {
                "segmentation": estimate_shift(od, mask, max_shift),
                "hematoxylin": estimate_shift(od, _optical_density(self.hematoxylin), max_shift),
                "if": estimate_shift(od, self.dapi, max_shift),
            }
        else:
            missing = sorted({"segmentation", "hematoxylin", "if"} - set(offsets))
            if missing:
                raise ValueError(f"registered: offsets lacks {missing}, got {sorted(offsets)}.")
            shifts = {k: (int(offsets[k][0]), int(offsets[k][1])) for k in offsets}
        panels = {
            "ihc": self.ihc,
            "hematoxylin": self.hematoxylin,
            "dapi": self.dapi,
            "lap2": self.lap2,
            "marker": self.marker,
            "labels": self.labels,
        }
        frame = {"hematoxylin": "hematoxylin", "dapi": "if", "lap2": "if", "marker": "if",
                 "labels": "segmentation"}  # fmt: skip
        out = crop_shifted(panels, {k: shifts[v] for k, v in frame.items()})
        ids = np.unique(out["labels"])
        ids = ids[ids > 0]
        new_id = np.zeros(len(self.positive), dtype=np.int32)
        new_id[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
        labels = new_id[out.pop("labels")]
        positive = np.concatenate([[False], self.positive[ids]])
        return replace(self, **out, labels=labels, positive=positive, offsets=shifts)

    @classmethod
    def from_panels(
        cls,
        panels: np.ndarray,
        source: str = "DeepLIIF image",
        include_boundary: bool = True,
        boundary_width: int = 2,
        min_size: int = 50,
    ) -> DeepLIIFField:
        """Split a six-panel DeepLIIF image held in memory.

        Args:
            panels: ``uint8`` RGB(A) image of width 6 x height (alpha is dropped).
            source: name for messages (usually the file).
            include_boundary: see `segmentation_to_instances`.
            boundary_width: see `segmentation_to_instances`.
            min_size: see `segmentation_to_instances`.

        Shape:
            - panels: `(H, 6 * H, 3)`

        Raises:
            TypeError: if ``panels`` is not a ``uint8`` numpy array.
            ValueError: if it is not RGB, not six square panels wide, or panel 6 is not a
                DeepLIIF segmentation.

        Examples:
            >>> field = DeepLIIFField.from_panels(np.zeros((8, 48, 3), np.uint8))
            >>> field.ihc.shape, field.dapi.dtype, field.num_nuclei
            ((8, 8, 3), dtype('float32'), 0)
        """
        if not isinstance(panels, np.ndarray) or panels.dtype != np.uint8:
            got = panels.dtype if isinstance(panels, np.ndarray) else type(panels).__name__
            raise TypeError(f"{source}: expected a uint8 RGB image, got {got}.")
        if panels.ndim != 3 or panels.shape[-1] not in (3, 4):
            raise ValueError(f"{source}: expected an RGB image (H, W, 3), got {panels.shape}.")
        h, w = panels.shape[:2]
        if w != 6 * h:
            raise ValueError(
                f"{source}: a DeepLIIF training image is six square panels side by side, so its "
                f"width must be 6 x its height; got width {w} and height {h}."
            )
        p = [np.ascontiguousarray(panels[:, i * h : (i + 1) * h, :3]) for i in range(6)]
        labels, positive = segmentation_to_instances(
            p[5], include_boundary, boundary_width, min_size
        )
        grey = [(x.astype(np.float32).mean(-1) / 255.0).astype(np.float32) for x in (p[2], p[4])]
        return cls(
            ihc=p[0],
            hematoxylin=p[1],
            dapi=grey[0],
            lap2=p[3][..., 1].astype(np.float32) / 255.0,
            marker=grey[1],
            labels=labels,
            positive=positive,
            source=source,
        )


def _optical_density(rgb: np.ndarray) -> np.ndarray:
    """Optical density summed over RGB, ``-log10((I + 1) / 256)``."""
    return -np.log10((rgb[..., :3].astype(np.float32) + 1.0) / 256.0).sum(-1)


def read_deepliif(
    path: PathLike,
    include_boundary: bool = True,
    boundary_width: int = 2,
    min_size: int = 50,
    register: bool = False,
) -> DeepLIIFField:
    """Read a DeepLIIF training image (six panels side by side) from a file.

    Args:
        path: the PNG.
        include_boundary: add the green boundary ring to each nucleus (see
            `segmentation_to_instances`).
        boundary_width: how far, in pixels, nuclei grow into the boundary.
        min_size: drop blue/red regions smaller than this many pixels.
        register: move every panel into the IHC panel's frame and crop to the overlap
            (`DeepLIIFField.registered`); the sample fields need it, their panels are
            several pixels apart.

    Returns:
        The field: IHC, hematoxylin-only IHC, DAPI, LAP2beta, Ki67 and nucleus instances.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be read, or is not a six-panel DeepLIIF image.

    Examples:
        >>> import tempfile, pathlib
        >>> from restainaug.data import write_image
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_image(pathlib.Path(tmp) / "f.png", np.zeros((16, 96, 3), np.uint8))
        ...     read_deepliif(path).labels.shape
        (16, 16)
    """
    panels = read_image(path)
    f = DeepLIIFField.from_panels(panels, str(path), include_boundary, boundary_width, min_size)
    return f.registered() if register else f
