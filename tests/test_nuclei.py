"""Batched nucleus/cell maps against scikit-image references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.filters import threshold_otsu
from skimage.measure import label

from restainaug import nuclei as nu


def _same_partition(ours: np.ndarray, ref: np.ndarray) -> bool:
    fg = ref > 0
    if not np.array_equal(ours > 0, fg):
        return False
    pairs = set(zip(ours[fg].tolist(), ref[fg].tolist(), strict=True))
    return len(pairs) == len(np.unique(ref[fg])) == len(np.unique(ours[fg]))


@pytest.mark.parametrize("density", [0.3, 0.5, 0.6])
def test_connected_components_match_skimage(density: float) -> None:
    rng = np.random.default_rng(int(density * 10))
    masks = rng.random((3, 1, 70, 90)) < density
    ours = nu.connected_components(torch.from_numpy(masks)).numpy()
    for b in range(3):
        assert _same_partition(ours[b, 0], label(masks[b, 0], connectivity=2))


@pytest.fixture
def torch_components(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the pure-torch labelling (the GPU path) on the CPU."""
    monkeypatch.setattr(nu, "_scipy_ndimage", lambda: None)


@pytest.mark.parametrize("density", [0.3, 0.5, 0.6])
def test_connected_components_torch_path_matches_skimage(
    density: float, torch_components: None
) -> None:
    rng = np.random.default_rng(int(density * 10) + 1)
    masks = rng.random((2, 1, 40, 50)) < density
    ours = nu.connected_components(torch.from_numpy(masks)).numpy()
    for b in range(2):
        assert _same_partition(ours[b, 0], label(masks[b, 0], connectivity=2))


def test_connected_components_cpu_fast_path_gives_the_torch_ids() -> None:
    # The scipy path must return the very ids of the torch path (largest pixel index + 1),
    # not just the same partition: per-object random draws are keyed by id.
    pytest.importorskip("scipy")
    rng = np.random.default_rng(7)
    masks = torch.from_numpy(rng.random((3, 1, 45, 61)) < 0.45)
    masks[1] = False  # an empty sample
    fast = nu.connected_components(masks)
    nu_scipy = nu._scipy_ndimage
    try:
        nu._scipy_ndimage = lambda: None  # type: ignore[assignment]
        slow = nu.connected_components(masks)
    finally:
        nu._scipy_ndimage = nu_scipy  # type: ignore[assignment]
    assert fast.dtype == slow.dtype == torch.float32
    assert torch.equal(fast, slow)
    assert fast[1].abs().sum() == 0


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_box_mean_matches_average_pooling(radius: int) -> None:
    x = torch.rand(2, 3, 19, 26, dtype=torch.float64)
    ref = F.avg_pool2d(x, 2 * radius + 1, 1, radius, count_include_pad=False)
    torch.testing.assert_close(nu.box_mean(x, radius), ref, rtol=0, atol=1e-12)
    assert nu.box_mean(x, 0) is x


def test_connected_components_long_snake() -> None:
    m = np.zeros((128, 128), bool)
    m[::4] = True
    for r in range(0, 128, 8):
        m[r : r + 5, 127] = True
    for r in range(4, 128, 8):
        m[r : r + 5, 0] = True
    ours = nu.connected_components(torch.from_numpy(m)[None, None]).numpy()[0, 0]
    assert len(np.unique(ours[m])) == 1


def test_otsu_matches_skimage() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.1, 0.03, 3000), rng.normal(0.6, 0.1, 1000)])
    ours = nu.otsu_threshold(torch.from_numpy(x)[None]).item()
    assert abs(ours - threshold_otsu(x)) < 0.02


def test_dilate_erode_match_pooling() -> None:
    x = torch.rand(2, 1, 17, 23)
    for r in (1, 2):
        assert torch.equal(nu.dilate(x, r), F.max_pool2d(x, 2 * r + 1, 1, r))
        assert torch.equal(nu.erode(x, r), -F.max_pool2d(-x, 2 * r + 1, 1, r))


def test_expand_labels_and_boundaries() -> None:
    ids = torch.zeros(1, 1, 20, 40)
    ids[0, 0, 8:12, 8:12] = 1
    ids[0, 0, 8:12, 20:24] = 2
    cells = nu.expand_labels(ids, 5)
    assert torch.equal(cells[ids > 0], ids[ids > 0])  # nuclei keep their ids
    assert set(cells.unique().tolist()) == {0.0, 1.0, 2.0}
    row = cells[0, 0, 10]
    assert row[3].item() == 1 and row[28].item() == 2 and row[35].item() == 0
    walls = nu.boundaries(cells)[0, 0, 10]
    assert walls[15] or walls[16]  # the two cells meet half way
    assert not nu.boundaries(cells)[0, 0, 10, 9]  # nucleus interior is not a boundary


def test_lookup_is_zero_on_background() -> None:
    table = torch.arange(8, dtype=torch.float32)[None] + 1
    ids = torch.tensor([[[[0.0, 3.0], [11.0, 0.0]]]])
    assert nu.lookup(table, ids).flatten().tolist() == [0.0, 4.0, 4.0, 0.0]


def test_nuclei_from_channel_splits_touching_nuclei_and_ignores_empty_tiles() -> None:
    yy, xx = np.mgrid[:40, :60]
    img = np.zeros((40, 60), np.float32)
    for cx in (18, 34):  # two discs joined by a 3-pixel neck
        img[(yy - 20) ** 2 + (xx - cx) ** 2 <= 36] = 0.8
    img[19:22, 18:34] = 0.8
    t = torch.from_numpy(img)[None, None]
    ids = nu.nuclei_from_channel(t)
    assert len(ids.unique()) - 1 == 2
    assert nu.nuclei_from_channel(torch.zeros(1, 1, 16, 16)).max() == 0
    assert nu.nuclei_from_channel(torch.full((1, 1, 16, 16), 0.05)).max() == 0
