"""Registration of panels that should line up: estimate_shift, crop_shifted, DeepLIIF fields."""

from __future__ import annotations

import numpy as np
import pytest

from restainaug.data import DeepLIIFField, crop_shifted, estimate_shift
from restainaug.synth import synthesize


def _smooth_noise(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    for axis in (0, 1):  # a little spatial correlation, like tissue
        x = (x + np.roll(x, 1, axis) + np.roll(x, -1, axis)) / 3
    return x


@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-7, 5), (12, 0)])
@pytest.mark.parametrize("sigma", [0.0, 8.0])
def test_estimate_shift_recovers_a_roll(shift: tuple[int, int], sigma: float) -> None:
    image = _smooth_noise((96, 80), 0)
    moved = np.roll(image, shift, axis=(0, 1))
    # Rolling `moved` by the answer brings it back onto `image`.
    dy, dx = estimate_shift(image, moved, max_shift=14, sigma=sigma)
    assert (dy, dx) == (-shift[0], -shift[1])
    # Unrelated content on the wrapped-around border does not matter: crop instead of roll.
    assert estimate_shift(image[14:-14, 14:-14], moved[14:-14, 14:-14], 12, sigma) == (dy, dx)


def test_estimate_shift_of_a_mask_against_optical_density() -> None:
    # A binary mask against a darker-where-nuclei image, as for a segmentation panel.
    field = synthesize(seed=3, size=(128, 128), marker="nuclear")
    od = -np.log10((field.ihc.astype(np.float32) + 1) / 256).sum(-1)
    mask = np.roll(field.labels > 0, (4, -6), axis=(0, 1)).astype(np.float32)
    assert estimate_shift(od, mask, max_shift=10) == (-4, 6)


def test_estimate_shift_leaves_inputs_alone_and_handles_flat_images() -> None:
    image = _smooth_noise((40, 40), 1)
    before = image.copy()
    estimate_shift(image, image.astype(np.float32), 5)
    assert np.array_equal(image, before)
    assert estimate_shift(np.zeros((40, 40)), image, 5) == (0, 0)
    assert estimate_shift(image.astype(np.uint8), image, 0) == (0, 0)


def test_estimate_shift_errors() -> None:
    image = np.zeros((32, 32))
    with pytest.raises(TypeError, match="reference must be a real numpy array, got list"):
        estimate_shift([[0.0]], image)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="moving must be a real numpy array, got complex128"):
        estimate_shift(image, image.astype(complex))
    with pytest.raises(ValueError, match=r"moving must be 2-D \(H, W\), got shape \(32, 32, 3\)"):
        estimate_shift(image, np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match=r"one shape, got \(32, 32\) and \(32, 30\)"):
        estimate_shift(image, np.zeros((32, 30)))
    with pytest.raises(ValueError, match=r"max_shift must be in \[0, 15\] for images of 32x32"):
        estimate_shift(image, image, max_shift=16)


def test_crop_shifted_lines_images_up() -> None:
    a = _smooth_noise((30, 40), 2)
    rgb = np.stack([a] * 3, -1)
    out = crop_shifted(
        {"a": a, "b": np.roll(a, (2, -3), (0, 1)), "rgb": np.roll(rgb, (-1, 0), (0, 1))},
        {"b": (-2, 3), "rgb": (1, 0)},
    )
    assert out["a"].shape == out["b"].shape == (27, 37) and out["rgb"].shape == (27, 37, 3)
    assert np.array_equal(out["a"], out["b"]) and np.array_equal(out["rgb"][..., 1], out["a"])
    with pytest.raises(ValueError, match="must share their first two axes"):
        crop_shifted({"a": a, "b": a[1:]}, {})
    with pytest.raises(ValueError, match=r"not there: \['c'\]"):
        crop_shifted({"a": a}, {"c": (0, 0)})
    with pytest.raises(ValueError, match="leave no common region of 30x40"):
        crop_shifted({"a": a, "b": a}, {"b": (30, 0)})


def _panels(field, shifts: dict[str, tuple[int, int]]) -> np.ndarray:
    """A six-panel DeepLIIF image of a synthetic field, panels moved by ``shifts``."""
    labels = field.labels
    inner = labels.copy()
    for axis in (0, 1):
        for step in (1, -1):
            inner[np.roll(labels, step, axis) != labels] = 0  # a one-pixel green ring
    seg = np.zeros((*labels.shape, 3), np.uint8)
    seg[(labels > 0) & (inner == 0)] = (0, 255, 0)
    seg[inner > 0] = (0, 0, 255)
    seg[(inner > 0) & field.positive[inner]] = (255, 0, 0)
    grey = np.repeat((np.clip(field.if_, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
    panels = [field.ihc, field.ihc, grey[0], np.zeros_like(field.ihc), grey[1], seg]
    moved = {1: "hematoxylin", 2: "if", 3: "if", 4: "if", 5: "segmentation"}
    for i, which in moved.items():
        panels[i] = np.roll(panels[i], shifts[which], axis=(0, 1))
    return np.concatenate(panels, axis=1)


def test_deepliif_field_registered_undoes_known_shifts() -> None:
    field = synthesize(seed=5, size=(160, 160), marker="nuclear")
    shifts = {"segmentation": (5, -3), "hematoxylin": (-2, 0), "if": (1, 4)}
    raw = DeepLIIFField.from_panels(_panels(field, shifts), min_size=5)
    before = {k: getattr(raw, k).copy() for k in ("ihc", "labels", "dapi")}
    reg = raw.registered(max_shift=8)
    assert reg.offsets == {k: (-dy, -dx) for k, (dy, dx) in shifts.items()}
    assert all(np.array_equal(getattr(raw, k), v) for k, v in before.items())  # not modified
    assert raw.offsets == {}
    # Cropped to the overlap (rows: shifts 0, -5, 2, -1; columns 0, 3, 0, -4).
    assert reg.ihc.shape == (153, 153, 3) and reg.labels.shape == reg.dapi.shape == (153, 153)
    assert np.array_equal(reg.ihc, field.ihc[2:155, 3:156])
    assert np.array_equal(reg.hematoxylin, reg.ihc)
    mask = field.labels[2:155, 3:156] > 0
    assert (reg.labels > 0).sum() / mask.sum() > 0.9 and not ((reg.labels > 0) & ~mask).any()
    dapi = np.clip(field.if_[0, 2:155, 3:156], 0, 1)
    assert np.abs(reg.dapi - dapi).max() < 1 / 255 + 1e-6
    # Ids stay consecutive, and each keeps its Ki67 status.
    assert np.array_equal(np.unique(reg.labels), np.arange(reg.num_nuclei + 1))
    for i in range(1, reg.num_nuclei + 1):
        truth = field.labels[2:155, 3:156][reg.labels == i]
        assert reg.positive[i] == field.positive[np.bincount(truth).argmax()]
    # Given offsets are used as they are.
    again = raw.registered(offsets=reg.offsets)
    assert np.array_equal(again.labels, reg.labels)
    with pytest.raises(ValueError, match=r"offsets lacks \['if'\]"):
        raw.registered(offsets={"segmentation": (0, 0), "hematoxylin": (0, 0)})
