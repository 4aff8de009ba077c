"""restainaug.data fluorescence channels (IFImage, read_multiplex) and DeepLIIF segmentation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from restainaug.data import (
    DeepLIIFField,
    IFImage,
    gaussian_smooth,
    percentile_normalize,
    perkinelmer_name,
    read_multiplex,
    segmentation_to_instances,
    write_image,
)

RNG = np.random.default_rng(0)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pe_xml(name: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-16"?><PerkinElmer-QPI-ImageDescription>'
        "<ScanProfile><Stain><Name>library entry</Name></Stain></ScanProfile>"
        f"<ImageType>FullResolution</ImageType><Name>{name}</Name>"
        "</PerkinElmer-QPI-ImageDescription>"
    )


# ---------------------------------------------------------------- IF images


def test_ifimage_validates_and_selects() -> None:
    im = IFImage(RNG.random((3, 5, 6)), ("DAPI", "HER2", "CD3"), ("nuclear", "marker", "other"))
    assert im.data.dtype == np.float32 and im.shape == (3, 5, 6)
    sub = im.select(["her2", 0])
    assert sub.names == ("HER2", "DAPI") and sub.roles == ("marker", "nuclear")
    assert np.array_equal(sub.data[1], im.data[0]) and np.array_equal(im.marker, im.data[1])
    assert im.index("nuclear") == 0 and [c.name for c in im.channels] == list(im.names)
    assert torch.equal(im.tensor(), torch.from_numpy(im.data))
    with pytest.raises(ValueError, match=r"'Ki67'.*'DAPI', 'HER2', 'CD3'"):
        im.select(["Ki67"])
    with pytest.raises(ValueError, match="out of range"):
        im.select([3])
    with pytest.raises(ValueError, match="roles must be"):
        IFImage(np.zeros((1, 2, 2)), ("a",), ("membrane",))
    with pytest.raises(ValueError, match="at most one nuclear"):
        IFImage(np.zeros((2, 2, 2)), ("a", "b"), ("nuclear", "nuclear"))
    with pytest.raises(ValueError, match="unique"):
        IFImage(np.zeros((2, 2, 2)), ("a", "A"), ("other", "other"))
    with pytest.raises(ValueError, match="2 names"):
        IFImage(np.zeros((3, 2, 2)), ("a", "b"), ("other", "other"))


def test_percentile_normalize_per_channel_and_global() -> None:
    x = np.stack([np.linspace(0, 1, 100), np.linspace(0, 100, 100)]).reshape(2, 10, 10)
    per = percentile_normalize(x, 0, 100)
    assert per.dtype == np.float32 and per.min() == 0 and per.max() == 1
    assert np.allclose(per[0], per[1])
    joint = percentile_normalize(x, 0, 100, per_channel=False)
    assert joint[0].max() < 0.02 and joint[1].max() == 1
    unclipped = percentile_normalize(x, 10, 90, clip=False)
    assert unclipped.min() < 0 and unclipped.max() > 1
    assert not percentile_normalize(np.full((1, 4, 4), 3.0)).any()
    with pytest.raises(ValueError, match="low < high"):
        percentile_normalize(x, 99, 1)


def test_gaussian_smooth_matches_scipy() -> None:
    ndi = pytest.importorskip("scipy.ndimage")
    x = RNG.random((2, 20, 9))
    for sigma in (0.7, 2.0, 3.0):
        ref = np.stack([ndi.gaussian_filter(c, sigma) for c in x])
        assert np.allclose(gaussian_smooth(x, sigma), ref, atol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        gaussian_smooth(x, 0)


def test_multiplex_folder_layout(tmp_path: Path) -> None:
    planes = {n: RNG.poisson(0.3, (20, 24)).astype(np.uint8) for n in ("HH3", "HER2", "CD45")}
    for name, plane in planes.items():
        write_image(tmp_path / f"{name}.tiff", plane)
    im = read_multiplex(
        tmp_path, {"nuclear": "hh3", "marker": "HER2", "other": ["cd45"]}, normalize=None
    )
    assert im.names == ("HH3", "HER2", "CD45") and im.roles == ("nuclear", "marker", "other")
    assert np.array_equal(im.data[1], planes["HER2"].astype(np.float32))
    smooth = read_multiplex(tmp_path, {"nuclear": "HH3"}, smooth_sigma=1.5, normalize=None)
    assert not np.array_equal(smooth.data[0], im.data[0])
    assert smooth.data[0].std() < im.data[0].std()
    assert np.isclose(smooth.data[0].mean(), im.data[0].mean(), rtol=0.05)
    with pytest.raises(ValueError, match=r"'DAPI'.*'CD45', 'HER2', 'HH3'"):
        read_multiplex(tmp_path, {"nuclear": "DAPI"})
    with pytest.raises(ValueError, match="twice"):
        read_multiplex(tmp_path, ["HH3", "hh3"])
    with pytest.raises(ValueError, match="roles must be"):
        read_multiplex(tmp_path, {"membrane": "HER2"})
    with pytest.raises(ValueError, match="smooth_sigma"):
        read_multiplex(tmp_path, ["HH3"], smooth_sigma=0)
    write_image(tmp_path / "Small.tiff", np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        read_multiplex(tmp_path, ["HH3", "Small"])


@pytest.mark.parametrize("backend", ["tifffile", "pillow"])
def test_multiplex_perkinelmer_tiff(tmp_path: Path, backend: str, monkeypatch) -> None:
    names = ["Cy5", "DAPI", "FITC"]
    planes = RNG.random((3, 16, 18)).astype(np.float32)
    with tifffile.TiffWriter(tmp_path / "c.tif") as tw:
        for name, plane in zip(names, planes, strict=True):
            tw.write(plane, description=_pe_xml(name), compression="zlib")
        tw.write(_rgb(4, 5), photometric="rgb", description=_pe_xml("thumb"))
    if backend == "pillow":
        monkeypatch.setitem(sys.modules, "tifffile", None)
    im = read_multiplex(tmp_path / "c.tif", {"nuclear": "dapi", "marker": "Cy5"}, normalize=None)
    assert im.names == ("DAPI", "Cy5") and im.roles == ("nuclear", "marker")
    assert np.array_equal(im.data, planes[[1, 0]])
    assert read_multiplex(tmp_path / "c.tif").names == tuple(names)
    assert perkinelmer_name(_pe_xml("Alexa 594")) == "Alexa 594"
    assert perkinelmer_name("<PerkinElmer-QPI-ImageDescription><Name>") is None


def test_multiplex_channel_stack_by_index(tmp_path: Path) -> None:
    a = RNG.random((4, 16, 18)).astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", a, photometric="minisblack", planarconfig="separate")
    im = read_multiplex(tmp_path / "s.tif", {"nuclear": 2, "marker": 0}, normalize=(0, 100))
    assert im.names == ("ch2", "ch0")
    assert np.allclose(im.data[0], (a[2] - a[2].min()) / np.ptp(a[2]), atol=1e-6)
    with pytest.raises(ValueError, match=r"index 4 .*\['ch0', 'ch1', 'ch2', 'ch3'\]"):
        read_multiplex(tmp_path / "s.tif", [4])
    with pytest.raises(FileNotFoundError, match=r"missing\.tif"):
        read_multiplex(tmp_path / "missing.tif")


# ---------------------------------------------------------------- DeepLIIF segmentation


def _segmentation() -> np.ndarray:
    seg = np.zeros((40, 40, 3), np.uint8)
    seg[2:16, 2:16] = (0, 255, 0)
    seg[5:13, 5:13] = (255, 0, 0)  # positive nucleus, 64 px
    seg[20:38, 20:38] = (0, 255, 0)
    seg[24:34, 24:30] = (0, 0, 253)  # negative nucleus (near-pure blue), 60 px
    seg[24:34, 30:34] = (255, 0, 0)  # a positive one touching it
    seg[0:2, 38:40] = (0, 0, 255)  # a 4 px sliver
    return seg


def test_segmentation_to_instances() -> None:
    labels, positive = segmentation_to_instances(
        _segmentation(), include_boundary=False, min_size=10
    )
    assert labels.dtype == np.int32 and labels.max() == 3
    assert positive.tolist() == [False, True, False, True]
    assert (labels == 1).sum() == 64 and (labels == 2).sum() == 60 and (labels == 3).sum() == 40
    grown, _ = segmentation_to_instances(_segmentation(), min_size=10)
    assert (grown == 1).sum() == 12 * 12  # the ring's inner 2 px are added
    assert (grown > 0).sum() > (labels > 0).sum() and np.array_equal(
        grown[labels > 0], labels[labels > 0]
    )
    with_sliver, pos = segmentation_to_instances(_segmentation(), min_size=0)
    assert with_sliver.max() == 4 and len(pos) == 5
    bad = _segmentation()
    bad[0, 0] = (255, 255, 0)
    with pytest.raises(ValueError, match=r"other pixels.*\(255, 255, 0\)"):
        segmentation_to_instances(bad)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_components_match_scipy(connectivity: int) -> None:
    ndi = pytest.importorskip("scipy.ndimage")
    from restainaug.data._components import label_classes

    structure = ndi.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    for density in (0.3, 0.5, 0.6):
        mask = RNG.random((50, 60)) < density
        ref, _ = ndi.label(mask, structure)
        assert np.array_equal(label_classes(mask.astype(int), connectivity), ref)
    seg = np.zeros((8, 8, 3), np.uint8)
    seg[2:4, 2:4] = seg[4:6, 4:6] = (0, 0, 255)  # two squares touching at a corner
    counts = [segmentation_to_instances(seg, min_size=1, connectivity=c)[0].max() for c in (4, 8)]
    assert counts == [2, 1]


def test_deepliif_panels_are_validated() -> None:
    with pytest.raises(ValueError, match=r"width must be 6 x its height.*width 50 and height 8"):
        DeepLIIFField.from_panels(np.zeros((8, 50, 3), np.uint8))
    panels = np.zeros((40, 240, 3), np.uint8)
    panels[:, 200:] = _segmentation()
    panels[:, 80:120] = 200
    panels[:, 120:160] = (10, 220, 30)  # LAP2beta is shown green
    field = DeepLIIFField.from_panels(panels, min_size=10)
    assert field.num_nuclei == 3 and field.num_positive == 2
    assert np.allclose(field.dapi, 200 / 255) and field.marker.max() == 0
    assert np.allclose(field.lap2, 220 / 255)
    im = field.if_image(lap2=True)
    assert im.names == ("DAPI", "Ki67", "LAP2beta") and im.roles[0] == "nuclear"
