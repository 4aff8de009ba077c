"""Labelled IHC fields to evaluate translators on, and where to get them.

An `EvalField` is one brightfield IHC image with its nucleus instance labels and, when known,
the marker status of each nucleus, the cells around the nuclei and the real IF channels
(nuclear first, then the marker). Sources:

* `deepliif_fields` - DeepLIIF training images: Ki67 IHC, real DAPI and Ki67 IF, nuclei with
  their Ki67 status;
* `synth_fields` - synthetic tissue with exact ground truth (`restainaug.synth`);
* `folder_fields` - any folder of images and label images (no marker status unless given);
* `load_fields` - one of these by name, as ``restainaug evaluate --data`` takes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "EvalField",
    "deepliif_fields",
    "folder_fields",
    "load_fields",
    "point_fields",
    "synth_fields",
]


@dataclass(frozen=True, eq=False)
class EvalField:
    """One labelled IHC field to evaluate on. The arrays are used as given, never modified.

    Attributes:
        name: what the field is called in reports (a file stem, ``synth_00000_membrane``).
        ihc: brightfield RGB, ``uint8`` ``(H, W, 3)``.
        labels: nucleus instance ids, integer ``(H, W)``, ``0`` = background.
        positive: marker status per id, ``bool`` ``(N + 1,)`` with ``N >= labels.max()``
            (``positive[0]`` is ignored), or ``None`` when unknown.
        if_: real IF channels, float ``(C, H, W)``: nuclear first, then the marker (when
            ``C >= 2``); ``None`` when the field has no IF.
        cells: cell instance ids with the nuclei's ids, integer ``(H, W)``, or ``None``.
            When given, ``marker_auc`` averages the marker over each cell instead of each
            nucleus (for membrane and cytoplasmic markers).

    Raises:
        TypeError: for arrays of the wrong type or dtype.
        ValueError: for shapes that do not match, or negative ids.

    Examples:
        >>> f = EvalField("tile", np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8), np.int32))
        >>> f.ihc.shape, f.positive, f.if_
        ((8, 8, 3), None, None)
    """

    name: str
    ihc: np.ndarray
    labels: np.ndarray
    positive: np.ndarray | None = None
    if_: np.ndarray | None = None
    cells: np.ndarray | None = None

    def __post_init__(self) -> None:
        what = f"EvalField {self.name!r}"
        if not isinstance(self.name, str):
            raise TypeError(f"EvalField: name must be a str, got {type(self.name).__name__}.")
        ihc, labels = self.ihc, self.labels
        if not isinstance(ihc, np.ndarray) or ihc.dtype != np.uint8:
            got = ihc.dtype if isinstance(ihc, np.ndarray) else type(ihc).__name__
            raise TypeError(f"{what}: ihc must be a uint8 numpy array (H, W, 3), got {got}.")
        if ihc.ndim != 3 or ihc.shape[-1] != 3 or ihc.shape[0] < 1 or ihc.shape[1] < 1:
            raise ValueError(f"{what}: ihc must have shape (H, W, 3), got {ihc.shape}.")
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
            got = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
            raise TypeError(f"{what}: labels must be an integer numpy array (H, W), got {got}.")
        if labels.shape != ihc.shape[:2]:
            raise ValueError(
                f"{what}: labels must have the image's shape {ihc.shape[:2]}, got {labels.shape}."
            )
        if labels.size and int(labels.min()) < 0:
            raise ValueError(f"{what}: label ids must be >= 0, got {int(labels.min())}.")
        if self.cells is not None:
            cells = self.cells
            if not isinstance(cells, np.ndarray) or cells.dtype.kind not in "iu":
                got = cells.dtype if isinstance(cells, np.ndarray) else type(cells).__name__
                raise TypeError(f"{what}: cells must be an integer numpy array (H, W), got {got}.")
            if cells.shape != labels.shape or (cells.size and int(cells.min()) < 0):
                raise ValueError(
                    f"{what}: cells must be ids >= 0 of the labels' shape {labels.shape}, got "
                    f"shape {cells.shape}."
                )
        if self.positive is not None:
            pos = self.positive
            if not isinstance(pos, np.ndarray) or pos.ndim != 1 or pos.dtype != np.bool_:
                desc = (
                    f"{pos.dtype} of shape {pos.shape}"
                    if isinstance(pos, np.ndarray)
                    else type(pos).__name__
                )
                raise TypeError(f"{what}: positive must be a 1-D bool numpy array, got {desc}.")
            top = max(int(a.max(initial=0)) for a in (labels, self.cells) if a is not None)
            if pos.size <= top:
                raise ValueError(
                    f"{what}: positive has {pos.size} entries but the largest id is {top}; it "
                    "needs one entry per id (index 0 = background)."
                )
        if self.if_ is not None:
            if_ = self.if_
            if not isinstance(if_, np.ndarray) or if_.dtype.kind != "f":
                got = if_.dtype if isinstance(if_, np.ndarray) else type(if_).__name__
                raise TypeError(f"{what}: if_ must be a float numpy array (C, H, W), got {got}.")
            if if_.ndim != 3 or if_.shape[0] < 1 or if_.shape[1:] != labels.shape:
                raise ValueError(
                    f"{what}: if_ must have shape (C, {labels.shape[0]}, {labels.shape[1]}) with "
                    f"the nuclear channel first, got {if_.shape}."
                )


def deepliif_fields(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    register: bool = True,
) -> list[EvalField]:
    """Fields from DeepLIIF training images: Ki67 IHC, real DAPI and Ki67 IF, nuclei.

    Args:
        source: a folder of six-panel PNGs (read in name order) or a list of files.
        register: move the segmentation and IF panels into the IHC panel's frame first
            (`restainaug.data.DeepLIIFField.registered`). The sample fields need it: their
            masks lie 6-9 pixels away from the IHC they label, which would score the
            misregistration rather than the translator. ``False`` scores the panels as
            stored.

    Returns:
        One field per file, named by its stem; ``if_`` holds DAPI and Ki67.

    Raises:
        ValueError: if the folder holds no PNG, or a file is not a DeepLIIF image.
        ImportError: without Pillow (``pip install restainaug[data]``).
    """
    from .data import read_deepliif

    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        paths = sorted(Path(source).glob("*.png"))
        if not paths:
            raise ValueError(f"deepliif_fields: no .png files in {source}.")
    elif isinstance(source, (str, os.PathLike)):
        paths = [Path(source)]
    else:
        paths = [Path(p) for p in source]
    out = []
    for path in paths:
        f = read_deepliif(path, register=register)
        if_ = np.stack([f.dapi, f.marker])
        out.append(EvalField(path.stem, f.ihc, f.labels, f.positive, if_))
    return out


def synth_fields(
    n: int = 8,
    seed: int = 0,
    size: int = 256,
    markers: Sequence[str] = ("membrane", "nuclear"),
) -> list[EvalField]:
    """Synthetic fields with exact ground truth (`restainaug.synth.synthesize`).

    Field ``i`` has marker localisation ``markers[i % len(markers)]`` and seed
    ``field_seed(seed, i)`` (as in ``restainaug synth``).

    Args:
        n: number of fields.
        seed: seed of the set.
        size: side of each square field in pixels (at least 16).
        markers: marker localisations to cycle through.

    Returns:
        Fields named ``synth_00000_membrane`` and so on, with IF (nuclear, marker), and
        cells for the fields whose marker is not nuclear.

    Raises:
        ValueError: for ``n < 1``, an empty ``markers`` or invalid synthesis settings.

    Examples:
        >>> [f.name for f in synth_fields(2, size=32)]
        ['synth_00000_membrane', 'synth_00001_nuclear']
    """
    from .synth import SynthConfig, synthesize
    from .synth.dataset import field_seed

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"synth_fields: n must be an int >= 1, got {n!r}.")
    if isinstance(markers, str) or not markers:
        raise ValueError(f"synth_fields: markers must be a non-empty list, got {markers!r}.")
    out = []
    for i in range(n):
        marker = markers[i % len(markers)]
        cfg = SynthConfig(size=(size, size), marker=marker)  # type: ignore[arg-type]
        f = synthesize(cfg, seed=field_seed(seed, i))
        cells = None if marker == "nuclear" else f.cells
        name = f"synth_{i:05d}_{marker}"
        out.append(EvalField(name, f.ihc, f.labels, f.positive, f.if_, cells))
    return out


def folder_fields(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    positive: Mapping[str, np.ndarray] | None = None,
) -> list[EvalField]:
    """Fields from a folder of IHC images and their label images (`restainaug.data.pair_folders`).

    Args:
        images: folder of ``uint8`` RGB(A) images (alpha is dropped).
        labels: folder of label images; ``None``: the same folder (``NAME_mask.png`` etc.).
        positive: optional marker status per image stem (see `EvalField.positive`).

    Returns:
        One field per pair, named by the image stem, without IF.

    Raises:
        FileNotFoundError: if a folder does not exist.
        ValueError: for unpaired files, images that are not 8-bit RGB, or bad ``positive``.
        ImportError: without Pillow (``pip install restainaug[data]``).
    """
    from .data import pair_folders

    status = dict(positive or {})
    out = []
    for pair in pair_folders(images, images if labels is None else labels):
        image, ids = pair.read()
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(
                f"{pair.image}: expected an 8-bit RGB image for evaluation, got "
                f"{image.dtype} of shape {image.shape}."
            )
        name = pair.image.stem
        pos = status.pop(name, None)
        out.append(EvalField(name, np.ascontiguousarray(image[..., :3]), ids, pos))
    if status:
        raise ValueError(f"positive: no image named {sorted(status)[:5]} in {images}.")
    return out


def point_fields(
    images: str | os.PathLike[str], points: str | os.PathLike[str], radius: int = 16
) -> list[EvalField]:
    """Fields annotated by nucleus centre points (``points/NAME.csv`` beside ``images/NAME.*``).

    Nuclei are grown from the points by `restainaug.data.points.labels_from_points`; their
    marker status is the points' class. Images without a CSV file are skipped.

    Args:
        images: folder of IHC images.
        points: folder of ``x,y,class`` CSV files named after the images.
        radius: largest nucleus radius in pixels.

    Raises:
        ValueError: when no image has a points file.
    """
    from .data import IMAGE_SUFFIXES, read_image
    from .data.points import labels_from_points, read_points

    out = []
    paths = [p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    for path in sorted(paths, key=lambda p: (len(p.stem), p.stem)):
        csv_path = Path(points) / f"{path.stem}.csv"
        if not csv_path.is_file():
            continue
        rgb = np.ascontiguousarray(read_image(path)[..., :3])
        xy, positive = read_points(csv_path)
        labels = labels_from_points(rgb, xy, radius)
        out.append(EvalField(path.stem, rgb, labels, np.r_[False, positive]))
    if not out:
        raise ValueError(f"No image in {images} has a points file in {points}.")
    return out


def _shared_data(shared_data: str | os.PathLike[str] | None) -> Path:
    if shared_data is not None:
        return Path(shared_data)
    env = os.environ.get("RESTAINAUG_SHARED_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def load_fields(
    data: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    shared_data: str | os.PathLike[str] | None = None,
    n_synth: int = 8,
    size: int = 256,
    seed: int = 0,
    register: bool = True,
) -> list[EvalField]:
    """The fields of a named source, as ``restainaug evaluate --data`` takes them.

    Args:
        data: ``"deepliif"`` (the training images under ``shared_data/deepliif/train``),
            ``"bcdata"`` (``shared_data/bcdata_ki67``, nuclei grown from points: `point_fields`),
            ``"synth"`` (`synth_fields`), or a folder of images (`folder_fields`);
            ``None``: ``"deepliif"`` when that folder exists, ``"synth"`` otherwise.
        labels: the label folder for a folder of images (default: the same folder).
        shared_data: the shared data folder; default: ``RESTAINAUG_SHARED_DATA`` or
            ``../shared/data`` relative to the working folder.
        n_synth: number of synthetic fields.
        size: side of the synthetic fields in pixels.
        seed: seed of the synthetic fields.
        register: for ``"deepliif"``, move the masks and IF into the IHC panels' frame (see
            `deepliif_fields`).

    Returns:
        The fields.

    Raises:
        ValueError: for an unknown source or a missing folder (the message says which).

    Examples:
        >>> len(load_fields("synth", n_synth=1, size=32))
        1
    """
    root = _shared_data(shared_data)
    deepliif = root / "deepliif" / "train"
    if data is None:
        data = "deepliif" if deepliif.is_dir() else "synth"
    if labels is not None and data in ("deepliif", "synth", "bcdata"):
        raise ValueError(f"labels: only used with a folder of images, not with {data!r}.")
    if data == "deepliif":
        if not deepliif.is_dir():
            raise ValueError(
                f"DeepLIIF data not found at {deepliif}: pass the shared data folder "
                "(--shared-data or RESTAINAUG_SHARED_DATA), or use 'synth' or a folder."
            )
        return deepliif_fields(deepliif, register)
    if data == "synth":
        return synth_fields(n_synth, seed, size)
    if data == "bcdata":
        bc = root / "bcdata_ki67"
        if not bc.is_dir():
            raise ValueError(f"BCData not found at {bc}: pass the shared data folder.")
        return point_fields(bc / "images", bc / "points")
    if not Path(data).is_dir():
        raise ValueError(
            f"data: expected 'deepliif', 'synth' or a folder of images, got {str(data)!r} "
            "(no such folder)."
        )
    if labels is not None and not Path(labels).is_dir():
        raise ValueError(f"labels: expected a folder of label images, got {str(labels)!r}.")
    return folder_fields(data, labels)
