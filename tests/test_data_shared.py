"""restainaug.data on the real sample data in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restainaug.data import (
    IFImage,
    UnpairedPatches,
    read_deepliif,
    read_image,
    read_labels,
    read_multiplex,
    read_stack,
)
from restainaug.data.io import stack_with_descriptions

pytestmark = pytest.mark.shared_data

PHENOPTR_PLANES = ("Alexa 594", "Cy3", "Cy5", "DAPI", "FITC")


@pytest.mark.parametrize(("name", "nuclei", "positive"), [("Bladder1", 183, 15), ("Lung1", 60, 11)])
def test_deepliif_counts_and_panels(shared_data: Path, name: str, nuclei: int, positive: int):
    field = read_deepliif(shared_data / "deepliif" / "train" / f"{name}.png")
    assert (field.num_nuclei, field.num_positive) == (nuclei, positive)
    assert field.labels.dtype == np.int32
    assert np.array_equal(np.unique(field.labels), np.arange(nuclei + 1))  # ids 1..N, all used
    assert field.ihc.shape == field.hematoxylin.shape == (512, 512, 3)
    assert field.ihc.dtype == field.hematoxylin.dtype == np.uint8
    assert not np.array_equal(field.ihc, field.hematoxylin)
    for plane in (field.dapi, field.lap2, field.marker):
        assert plane.shape == (512, 512) and plane.dtype == np.float32
        assert 0 <= plane.min() and plane.max() <= 1
    inside = field.labels > 0
    assert field.dapi[inside].mean() > 2.5 * field.dapi[~inside].mean()
    assert field.lap2[inside].mean() > 3 * field.lap2[~inside].mean()  # nuclear envelope
    pos = field.positive[field.labels] & inside
    assert field.marker[pos].mean() > 3 * field.marker[inside & ~pos].mean()
    core = read_deepliif(shared_data / "deepliif" / "train" / f"{name}.png", include_boundary=False)
    assert core.num_nuclei == nuclei and (core.labels > 0).sum() < 0.85 * inside.sum()
    im = field.if_image()
    assert im.names == ("DAPI", "Ki67") and np.array_equal(im.nuclear, field.dapi)


@pytest.mark.parametrize("name", ["Bladder1", "Lung1"])
def test_deepliif_registration(shared_data: Path, name: str) -> None:
    path = shared_data / "deepliif" / "train" / f"{name}.png"
    raw, reg = read_deepliif(path), read_deepliif(path, register=True)
    assert reg.num_nuclei == raw.num_nuclei and reg.num_positive == raw.num_positive
    assert max(abs(v) for shift in reg.offsets.values() for v in shift) >= 5  # not co-registered
    h, w = reg.labels.shape
    assert reg.ihc.shape == reg.hematoxylin.shape == (h, w, 3) and reg.marker.shape == (h, w)
    # The IHC panel is only cropped; the masks now sit on its dark (high optical density)
    # nuclei, and the DAPI on the masks, much better than as stored.

    def contrast(f) -> tuple[float, float]:
        od = -np.log10((f.ihc.astype(np.float32) + 1) / 256).sum(-1)
        inside = f.labels > 0
        dapi = f.dapi[inside].mean() / f.dapi[~inside].mean()
        return float(od[inside].mean() / od[~inside].mean()), float(dapi)

    (od_raw, dapi_raw), (od_reg, dapi_reg) = contrast(raw), contrast(reg)
    assert od_reg > 1.05 * od_raw and dapi_reg > 1.05 * dapi_raw  # +9-26%, +8-26% here


def test_unpaired_patches_from_rois_and_deepliif(shared_data: Path) -> None:
    rois = sorted((shared_data / "deepliif" / "rois").glob("ROI_*.png"))
    assert len(rois) == 3 and read_image(rois[0]).shape[2] == 3
    if_image = read_deepliif(shared_data / "deepliif" / "train" / "Lung1.png").if_image()
    ds = UnpairedPatches(rois, [if_image], size=256, length=4, seed=0)
    item = ds[3]
    assert item["ihc"].shape == (3, 256, 256) and item["if"].shape == (2, 256, 256)
    assert 0.3 < float(item["ihc"].mean()) < 0.95  # tissue, not padding or glass only
    assert torch.equal(ds[3]["if"], item["if"])


def test_mibi_nuclear_and_marker(shared_data: Path) -> None:
    folder = shared_data / "mibi_fov8"
    spec = {"nuclear": "hh3", "marker": "HER2"}
    raw = read_multiplex(folder, spec, normalize=None)
    assert raw.names == ("HH3", "HER2") and raw.roles == ("nuclear", "marker")
    assert raw.data.shape == (2, 1024, 1024)
    assert np.array_equal(raw.data, np.round(raw.data)) and raw.data[0].max() == 62  # counts
    smooth = read_multiplex(folder, spec, smooth_sigma=1.5, normalize=None)
    assert (smooth.data[0] > 0).mean() > 2 * (raw.data[0] > 0).mean()  # sparse counts filled in
    assert np.isclose(smooth.data[0].mean(), raw.data[0].mean(), rtol=0.01)
    norm = read_multiplex(folder, spec, smooth_sigma=1.5)
    assert norm.data.dtype == np.float32 and norm.data.min() == 0 and norm.data.max() == 1
    assert 0.001 < (norm.data[0] == 1).mean() < 0.01  # ~0.2% above the 99.8th percentile
    cells = read_labels(folder / "cells_label_predicted.tiff") > 0
    assert norm.nuclear[cells].mean() > 3 * norm.nuclear[~cells].mean()
    with pytest.raises(ValueError, match=r"'DAPI'.*'HH3'"):
        read_multiplex(folder, {"nuclear": "DAPI"})


@pytest.mark.parametrize("backend", ["tifffile", "pillow"])
def test_phenoptr_planes_are_named_and_dapi_is_nuclear(
    shared_data: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "pillow":
        monkeypatch.setitem(sys.modules, "tifffile", None)
    folder = shared_data / "phenoptr_fih4"
    every = read_multiplex(folder / "component_data.tif", normalize=None)
    assert every.names == PHENOPTR_PLANES  # file order, not the order the sources list
    assert every.data.shape == (5, 260, 348)  # the RGB thumbnail page is skipped
    maps, descriptions = stack_with_descriptions(folder / "binary_seg_maps.tif")
    assert maps.shape == (4, 260, 348) and "<CompartmentType>Nucleus" in descriptions[1]
    nuclei = read_labels(folder / "binary_seg_maps.tif", page=1)
    assert nuclei.max() == 270 and np.array_equal(nuclei, maps[1])
    corr = [np.corrcoef(p.ravel(), (nuclei > 0).ravel())[0, 1] for p in every.data]
    assert every.names[int(np.argmax(corr))] == "DAPI" and max(corr) > 0.6
    im = read_multiplex(folder / "component_data.tif", {"nuclear": "dapi", "marker": "Cy5"})
    assert isinstance(im, IFImage) and im.roles == ("nuclear", "marker")
    assert np.corrcoef(im.nuclear.ravel(), every.data[3].ravel())[0, 1] > 0.99
    assert read_stack(folder / "component_data.tif").dtype == np.float32
