"""Where labelled fields (`EvalField`) come from: data sets read as fields to evaluate on.

* `deepliif_fields` - DeepLIIF training images: Ki67 IHC, real DAPI and Ki67 IF, nuclei with
  their Ki67 status;
* `synth_fields` - synthetic tissue with exact ground truth (`restainaug.synth`);
* `folder_fields` - any folder of images and label images (no marker status unless given);
* `point_fields` - images annotated by nucleus centre points (BCData), nuclei grown from them;
* `load_fields` - one of these by name, as ``restainaug evaluate --data`` takes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .fields import EvalField

__all__ = [
    "deepliif_fields",
    "folder_fields",
    "load_fields",
    "point_fields",
    "synth_fields",
]


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
    from ..data import read_deepliif

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
    from ..synth import SynthConfig, synthesize
    from ..synth.dataset import field_seed

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
    from ..data import pair_folders

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
    from ..data import IMAGE_SUFFIXES, read_image
    from ..data.points import labels_from_points, read_points

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
