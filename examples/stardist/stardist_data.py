"""Data settings of the StarDist example: which fields to train, validate and test on.

Every setting returns a `Setting`: labelled RGB fields (uint8 ``(H, W, 3)`` with int32
instance labels) for the source stain (train, validation) and the target stain (test), and,
for the in-domain reference arm, training and validation fields in the target stain.

* ``synthetic``: the paper's setting with `restainaug.synth`: train on membrane-marker IHC,
  test on nuclear-marker IHC (DAB-brown nuclei the training set never shows).
* ``deepliif``: real fields: train on the hematoxylin-only panels of the DeepLIIF images (IHC
  with no marker stain), test on their Ki67 panels (brown nuclei). The panels are first moved
  into the Ki67 panel's frame (``read_deepliif(..., register=True)``: as stored, the masks
  lie 6-9 pixels from the Ki67 IHC, which alone would fail most matches at IoU 0.5). Each
  field (about 505x505 once registered) is cut into four quadrants; fold 0 trains on
  quadrants 0 and 3 of every field and tests on 1 and 2, fold 1 the other way round, so no
  test tissue is seen in training.
* ``bcdata``: leave one lab out: train on the hematoxylin-only panels of every DeepLIIF
  quadrant (as above), test on the 26 Ki67 fields of BCData, another lab, scanner and tissue,
  scored at their nucleus centre points (`restainaug.evaluation.point_detection`: detection
  F1, and the recall of Ki67-positive and negative nuclei). BCData has no masks, so there is
  no in-domain reference arm.
* ``folders``: your own images and instance labels, paired by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restainaug.data import pair_folders, read_deepliif, read_image, read_labels
from restainaug.data.points import read_points
from restainaug.synth import SynthConfig, synthesize

Fields = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class Setting:
    """The fields of one experiment (one fold).

    Attributes:
        name: setting and fold, e.g. ``"deepliif-fold0"``.
        train, val: source-stain fields (validation sets the detection thresholds).
        test: target-stain fields, never used for training or model selection.
        ref_train, ref_val: target-stain fields for the in-domain reference arm (empty when
            there are none).
        notes: what the source and target stains are, for the report.
        test_points: per test field, its nucleus centre points ``(xy, positive)``; when given,
            the test fields are scored at these points (their labels are unused).
    """

    name: str
    train: Fields
    val: Fields
    test: Fields
    ref_train: Fields = field(default_factory=list)
    ref_val: Fields = field(default_factory=list)
    notes: str = ""
    test_points: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def _synth(n: int, size: int, marker: str, seed: int) -> Fields:
    cfg = SynthConfig(size=(size, size), marker=marker)  # type: ignore[arg-type]
    out = []
    for i in range(n):
        f = synthesize(cfg, seed=seed * 100_003 + i)
        out.append((f.ihc, f.labels.astype(np.int32)))
    return out


def synthetic(n_train: int, n_val: int, n_test: int, size: int = 256) -> list[Setting]:
    """Membrane-marker fields to train on, nuclear-marker fields to test on (one fold).

    Field seeds differ between every split, so no field is shared.
    """
    return [
        Setting(
            name="synthetic",
            train=_synth(n_train, size, "membrane", seed=1),
            val=_synth(n_val, size, "membrane", seed=2),
            test=_synth(n_test, size, "nuclear", seed=3),
            ref_train=_synth(n_train, size, "nuclear", seed=4),
            ref_val=_synth(n_val, size, "nuclear", seed=5),
            notes="train: synthetic membrane-marker IHC; test: synthetic nuclear-marker IHC",
        )
    ]


def _quadrants(a: np.ndarray) -> list[np.ndarray]:
    h, w = a.shape[0] // 2, a.shape[1] // 2
    return [a[:h, :w], a[:h, w:], a[h:, :w], a[h:, w:]]


def deepliif(shared_data: str | os.PathLike[str]) -> list[Setting]:
    """Two folds over the quadrants of the DeepLIIF fields (see the module docstring)."""
    folder = Path(shared_data) / "deepliif" / "train"
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise ValueError(f"deepliif: no DeepLIIF images (*.png) in {folder}.")
    tiles = []  # per field: (hematoxylin quadrants, Ki67 quadrants, label quadrants)
    for path in paths:
        f = read_deepliif(path, register=True)
        tiles.append((_quadrants(f.hematoxylin), _quadrants(f.ihc), _quadrants(f.labels)))
    settings = []
    for fold, (train_q, test_q) in enumerate([((0, 3), (1, 2)), ((1, 2), (0, 3))]):

        def pick(panel: int, quads: tuple[int, ...]) -> Fields:
            return [
                (np.ascontiguousarray(t[panel][q]), np.ascontiguousarray(t[2][q]).astype(np.int32))
                for t in tiles
                for q in quads
            ]

        # Few fields: thresholds are set on the training tiles themselves (source stain).
        train = pick(0, train_q)
        ref = pick(1, train_q)
        settings.append(
            Setting(
                name=f"deepliif-fold{fold}",
                train=train,
                val=train,
                test=pick(1, test_q),
                ref_train=ref,
                ref_val=ref,
                notes="train: DeepLIIF hematoxylin-only panels; test: Ki67 IHC panels of "
                "other quadrants",
            )
        )
    return settings


def bcdata(shared_data: str | os.PathLike[str]) -> list[Setting]:
    """Train on every DeepLIIF quadrant's hematoxylin-only panel, test on BCData at points."""
    folder = Path(shared_data) / "deepliif" / "train"
    paths = sorted(folder.glob("*.png"))
    bc = Path(shared_data) / "bcdata_ki67"
    images = sorted((bc / "images").glob("*.png"))
    if not paths or not images:
        raise ValueError(f"bcdata: needs DeepLIIF images in {folder} and BCData in {bc}.")
    train: Fields = []
    for path in paths:
        f = read_deepliif(path, register=True)
        for h, lab in zip(_quadrants(f.hematoxylin), _quadrants(f.labels), strict=True):
            train.append((np.ascontiguousarray(h), np.ascontiguousarray(lab).astype(np.int32)))
    test: Fields = []
    points = []
    for image in images:
        rgb = read_image(image)[..., :3]
        test.append((rgb, np.zeros(rgb.shape[:2], np.int32)))
        points.append(read_points(bc / "points" / f"{image.stem}.csv"))
    return [
        Setting(
            name="deepliif-bcdata",
            train=train,
            val=train,
            test=test,
            notes="train: DeepLIIF hematoxylin-only panels (one lab); test: BCData Ki67 IHC "
            "(another lab), scored at its nucleus centre points",
            test_points=points,
        )
    ]


def _read(images: str | os.PathLike[str], labels: str | os.PathLike[str]) -> Fields:
    out = []
    for pair in pair_folders(images, labels):
        image = read_image(pair.image)
        if image.ndim != 3 or image.shape[-1] < 3:
            raise ValueError(f"{pair.image}: expected an RGB image, got shape {image.shape}.")
        if image.dtype != np.uint8:
            raise ValueError(f"{pair.image}: expected 8-bit RGB, got {image.dtype}.")
        out.append((image[..., :3], read_labels(pair.labels).astype(np.int32)))
    return out


def _hold_out(fields: Fields, fraction: float) -> tuple[Fields, Fields]:
    """(train, validation): the last ``fraction`` of the fields, at least one, held out; a
    single field serves as both."""
    n = max(1, round(len(fields) * fraction)) if len(fields) > 1 else 0
    return (fields[:-n], fields[-n:]) if n else (fields, fields)


def folders(
    images: str,
    labels: str,
    test_images: str,
    test_labels: str,
    val_fraction: float = 0.2,
    reference: tuple[str, str] | None = None,
) -> list[Setting]:
    """Your own data: training fields (a share held out for validation) and test fields."""
    train, val = _hold_out(_read(images, labels), val_fraction)
    ref_train, ref_val = _hold_out(_read(*reference), val_fraction) if reference else ([], [])
    return [
        Setting(
            name="folders",
            train=train,
            val=val,
            test=_read(test_images, test_labels),
            ref_train=ref_train,
            ref_val=ref_val,
            notes=f"train: {images}; test: {test_images}",
        )
    ]
