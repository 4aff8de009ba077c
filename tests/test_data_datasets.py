"""restainaug.data torch datasets: unpaired patches and labelled IHC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from restainaug.data import (
    IFImage,
    LabelledIHC,
    UnpairedPatches,
    pair_folders,
    write_image,
    write_labels,
)

RNG = np.random.default_rng(0)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- datasets


def _coords(h: int, w: int, k: int = 0) -> np.ndarray:
    """An RGB image whose pixels encode their position: (y, x, y + x + k) mod 256."""
    y, x = np.mgrid[:h, :w]
    return np.stack([y, x, y + x + k], -1).astype(np.uint8)


def _is_crop(patch: np.ndarray, source: np.ndarray) -> bool:
    y, x = int(patch[0, 0, 0]), int(patch[0, 0, 1])
    s = patch.shape[0]
    return np.array_equal(source[y : y + s, x : x + s], patch)


def test_unpaired_patches_shapes_determinism_and_independence() -> None:
    ihc = [_coords(60, 70), _coords(50, 50, k=100)]
    ifs = [IFImage(RNG.random((2, 40, 45)), ("DAPI", "HER2"), ("nuclear", "marker"))]
    ds = UnpairedPatches(ihc, ifs, size=32, length=50, seed=3, flips=False)
    item = ds[7]
    assert item["ihc"].shape == (3, 32, 32) and item["ihc"].dtype == torch.float32
    assert item["if"].shape == (2, 32, 32) and item["if"].dtype == torch.float32
    assert 0 <= item["ihc"].min() and item["ihc"].max() <= 1
    assert torch.equal(ds[7]["ihc"], item["ihc"]) and torch.equal(ds[7]["if"], item["if"])
    other = UnpairedPatches(ihc, ifs, size=32, length=50, seed=4, flips=False)
    assert not torch.equal(other[7]["ihc"], item["ihc"])
    patches = [
        (ds[i]["ihc"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8) for i in range(50)
    ]
    assert all(_is_crop(p, ihc[0]) or _is_crop(p, ihc[1]) for p in patches)
    assert {_is_crop(p, ihc[0]) for p in patches} == {True, False}  # both images are used
    flipped = UnpairedPatches(ihc, ifs, size=32, length=50, seed=3, flips=True)
    flipped_patches = [
        (flipped[i]["ihc"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        for i in range(20)
    ]
    assert not all(_is_crop(p, ihc[0]) or _is_crop(p, ihc[1]) for p in flipped_patches)
    with pytest.raises(IndexError):
        ds[50]


def test_unpaired_patches_refuse_bad_inputs(tmp_path: Path) -> None:
    ifs = [np.zeros((2, 40, 40), np.float32)]
    with pytest.raises(ValueError, match=r"30x30.*smaller than the patch size 32"):
        UnpairedPatches([_rgb(30, 30)], ifs, size=32)
    with pytest.raises(ValueError, match="same channels"):
        UnpairedPatches([_rgb(40, 40)], [*ifs, np.zeros((3, 40, 40))], size=32)
    with pytest.raises(TypeError, match="uint8"):
        UnpairedPatches([np.zeros((40, 40, 3))], ifs, size=32)
    a = IFImage(ifs[0], ("DAPI", "HER2"), ("nuclear", "marker"))
    b = IFImage(ifs[0], ("HER2", "DAPI"), ("marker", "nuclear"))
    assert UnpairedPatches([_rgb(40, 40)], [a, a], size=32).roles == ("nuclear", "marker")
    with pytest.raises(ValueError, match="same order"):
        UnpairedPatches([_rgb(40, 40)], [a, b], size=32)
    broken = tmp_path / "broken.png"
    broken.write_bytes(write_image(tmp_path / "ok.png", _rgb(64, 64)).read_bytes()[:300])
    ds = UnpairedPatches([broken], ifs, size=32, length=2)  # the header is intact
    with pytest.raises(ValueError, match=r"broken\.png"):
        ds[0]


def test_datasets_work_in_dataloader_workers(tmp_path: Path) -> None:
    paths = [write_image(tmp_path / f"{i}.png", _rgb(48, 48)) for i in range(2)]
    ds = UnpairedPatches(paths, [RNG.random((1, 40, 40))], size=24, length=8, seed=1)
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2 and batches[0]["ihc"].shape == (4, 3, 24, 24)
    direct = torch.stack([ds[i]["ihc"] for i in range(4, 8)])
    assert torch.equal(batches[1]["ihc"], direct)


def test_labelled_ihc_crops_image_and_labels_together(tmp_path: Path) -> None:
    image = _coords(40, 50)
    labels = np.arange(40 * 50).reshape(40, 50)
    write_image(tmp_path / "a.png", image)
    write_labels(tmp_path / "a_mask.png", labels)
    for source in [(image, labels), pair_folders(tmp_path, tmp_path)[0]]:
        ds = LabelledIHC([source], size=16, seed=5)
        img, lab = ds[0]
        assert img.shape == (16, 16, 3) and img.dtype == np.uint8 and lab.dtype == np.int32
        y, x = divmod(int(lab[0, 0]), 50)
        assert np.array_equal(img, image[y : y + 16, x : x + 16])
        assert np.array_equal(lab, labels[y : y + 16, x : x + 16])
        assert np.array_equal(ds[0][1], lab)
    whole = LabelledIHC([(image, labels)])[0]
    assert np.array_equal(whole[0], image) and np.array_equal(whole[1], labels)
    crops = {int(LabelledIHC([(image, labels)], size=16, seed=s)[0][1][0, 0]) for s in range(5)}
    assert len(crops) > 1


def test_labelled_ihc_names_bad_files(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", _rgb(20, 20))
    write_labels(tmp_path / "a_mask.png", np.ones((20, 24), np.int32))
    with pytest.raises(ValueError, match=r"a\.png is 20x20.*a_mask\.png are 20x24"):
        LabelledIHC(pair_folders(tmp_path, tmp_path))[0]
    (tmp_path / "c_mask.png").write_bytes(b"\x89PNG garbage")
    ds = LabelledIHC([(tmp_path / "a.png", tmp_path / "c_mask.png")])
    with pytest.raises(ValueError, match=r"c_mask\.png"):
        ds[0]
    with pytest.raises(ValueError, match=r"sources\[0\]\[0\] is 8x8.*smaller than the patch size"):
        LabelledIHC([(_rgb(8, 8), np.zeros((8, 8), int))], size=16)
    with pytest.raises(ValueError, match=r"sources\[1\]\[0\] is 8x8.*sources\[1\]\[1\] are 8x9"):
        LabelledIHC([(_rgb(8, 8), np.zeros((8, 8), int)), (_rgb(8, 8), np.zeros((8, 9), int))])
    with pytest.raises(TypeError, match="Pair"):
        LabelledIHC(["a.png"])
