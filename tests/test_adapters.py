"""Framework adapters in their frameworks' own pipelines."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from restainaug import RestainTransform, RestainTransformd
from restainaug.adapters.kornia import RandomRestain
from restainaug.adapters.stardist import augmenter
from restainaug.adapters.torchvision import RestainTransformV2


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()


# -- MONAI ------------------------------------------------------------------------------------


def test_monai_pipeline_with_workers_and_label_passthrough(ihc_tile: np.ndarray) -> None:
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose

    items = [{"image": _chw(ihc_tile).float(), "label": torch.ones(1, 64, 64)} for _ in range(6)]
    pipeline = Compose(
        [RestainTransformd(keys="image", label_key="label", prob=1.0, value_range=(0, 255))]
    )

    def run() -> torch.Tensor:
        torch.manual_seed(0)
        dl = DataLoader(Dataset(items, transform=pipeline), batch_size=1, num_workers=2)
        return torch.cat([torch.Tensor(b["image"]).as_subclass(torch.Tensor) for b in dl])

    a, b = run(), run()
    assert torch.equal(a, b)  # MONAI seeds each worker through set_random_state
    assert not torch.equal(a[0], a[1])
    assert a.min() >= 0 and a.max() <= 255 and a.max() > 2  # value range kept


def test_monai_one_draw_for_all_keys(ihc_tile: np.ndarray) -> None:
    t = RestainTransformd(keys=["a", "b"], prob=1.0, seed=0)
    x = _chw(ihc_tile)
    out = t({"a": x, "b": x.clone(), "other": "kept"})
    assert torch.equal(out["a"], out["b"]) and out["other"] == "kept"
    t.set_random_state(3)
    first = t({"a": x, "b": x})["a"]
    t.set_random_state(3)
    assert torch.equal(t({"a": x, "b": x})["a"], first)


def test_monai_errors_name_the_key() -> None:
    t = RestainTransformd(keys="image", label_key="label", prob=1.0)
    with pytest.raises(KeyError):
        t({"label": torch.zeros(1, 8, 8)})
    with pytest.raises(KeyError, match="label"):
        t({"image": torch.rand(3, 8, 8)})
    with pytest.raises(ValueError, match=r"key 'image'.*0-255"):
        t({"image": torch.full((3, 8, 8), 100.0), "label": torch.zeros(1, 8, 8)})
    with pytest.raises(ValueError, match="value_range"):
        RestainTransformd(keys="image", value_range=(1, 1))


def test_monai_takes_prob_and_p_with_a_deprecation_warning(ihc_tile: np.ndarray) -> None:
    d = {"image": _chw(ihc_tile)}
    assert RestainTransformd(keys="image").prob == 0.5
    assert RestainTransformd(keys="image", prob=0.0)(d)["image"] is d["image"]
    t = RestainTransformd(keys="image", prob=1.0, seed=0)
    new = t(d)["image"]
    assert t.prob == t.transform.p == 1.0 and not torch.equal(new, d["image"])
    with pytest.warns(DeprecationWarning, match="p is deprecated; pass prob"):
        old = RestainTransformd(keys="image", p=1.0, seed=0)
    assert old.prob == 1.0 and torch.equal(old(d)["image"], new)
    with pytest.raises(TypeError, match=r"got prob=0.5 and p=0.5; pass prob only"):
        RestainTransformd(keys="image", prob=0.5, p=0.5)
    with pytest.raises(ValueError, match=r"prob must be a number in \[0, 1\], got 2"):
        RestainTransformd(keys="image", prob=2)


# -- torchvision ------------------------------------------------------------------------------


def test_torchvision_compose_passes_other_items_through(ihc_tile: np.ndarray) -> None:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=0.0), RestainTransformV2(p=1.0, seed=0)])
    img = tv_tensors.Image(_chw(ihc_tile))
    mask = tv_tensors.Mask(torch.zeros(64, 64, dtype=torch.int64))
    boxes = tv_tensors.BoundingBoxes([[0, 0, 5, 5]], format="XYXY", canvas_size=(64, 64))
    sample = {"image": img, "masks": mask, "boxes": boxes, "id": 7}
    out = pipeline(sample)
    assert out["masks"] is mask and out["boxes"] is boxes and out["id"] == 7
    assert isinstance(out["image"], tv_tensors.Image) and not torch.equal(out["image"], img)


def test_torchvision_pil_and_argument_checks(ihc_tile: np.ndarray) -> None:
    t = RestainTransformV2(p=1.0, seed=0)
    assert t.params is None
    out = t(PIL.Image.fromarray(ihc_tile))
    assert isinstance(out, PIL.Image.Image) and out.size == (64, 64)
    # The last draw replays exactly through the wrapped transform.
    assert t.params is t.restain.params and t.params is not None
    replay = t.restain(ihc_tile, params=t.params)
    assert np.array_equal(replay, np.asarray(out))
    with pytest.raises(ValueError, match="RGB PIL"):
        t(PIL.Image.fromarray(ihc_tile[..., 0]))
    with pytest.raises(TypeError, match="not both"):
        RestainTransformV2(RestainTransform(), p=0.2)


# -- kornia -----------------------------------------------------------------------------------


def test_kornia_sequential_with_masks_and_replay(ihc_tile: np.ndarray) -> None:
    from kornia.augmentation import AugmentationSequential, RandomHorizontalFlip

    aug = AugmentationSequential(
        RandomHorizontalFlip(p=1.0), RandomRestain(p=1.0, seed=0), data_keys=["input", "mask"]
    )
    x = _chw(ihc_tile).float()[None] / 255
    m = torch.zeros(1, 1, 64, 64)
    m[..., :10, :20] = 1
    out, out_m = aug(x, m)
    assert torch.equal(out_m, m.flip(-1))  # the flip moved the mask, re-staining did not
    again, _ = aug(x, m, params=aug._params)
    assert torch.equal(out, again)


def test_kornia_draws_from_its_own_generator(ihc_tile: np.ndarray) -> None:
    x = _chw(ihc_tile).float()[None].repeat(4, 1, 1, 1) / 255
    torch.manual_seed(0)
    a = RandomRestain(p=0.5, seed=1)(x)
    torch.manual_seed(1)
    b = RandomRestain(p=0.5, seed=1)(x)
    assert torch.equal(a, b)


def test_kornia_p_is_the_users_and_gates_as_before(ihc_tile: np.ndarray) -> None:
    from kornia.augmentation import AugmentationSequential

    aug = RandomRestain(p=0.5, seed=1)
    assert aug.p == 0.5 and aug.restain.p == 0.5 and repr(aug).startswith("RandomRestain(p=0.5,")
    x = torch.from_numpy(np.stack([ihc_tile[:32, :32], ihc_tile[32:, 32:]] * 4))
    x = x.permute(0, 3, 1, 2).float() / 255
    expected = RestainTransform(p=0.5, seed=1)(x)  # the same draws, the gate included
    out, mask = AugmentationSequential(aug, data_keys=["input", "mask"])(x, x[:, :1])
    assert torch.equal(out, expected) and torch.equal(mask, x[:, :1])
    skipped = (out == x).flatten(1).all(1)
    assert skipped.any() and not skipped.all()
    aug.p = 0.0
    assert aug.restain.p == 0.0 and torch.equal(aug(x), x)
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\], got 1.5"):
        aug.p = 1.5


# -- StarDist ---------------------------------------------------------------------------------


def test_stardist_augmenter_keeps_range_and_labels(ihc_tile: np.ndarray) -> None:
    f = augmenter(p=1.0, seed=0, value_range=(0, 255))
    x = ihc_tile.astype(np.float32)
    y = np.zeros((64, 64), np.uint16)
    y[20:30, 20:30] = 1
    x2, y2 = f(x, y)
    assert y2 is y and x2.dtype == np.float32 and x2.max() > 1.5 and x2.max() <= 255
    calls = []

    def flip(a, b):
        calls.append(1)
        return a[:, ::-1], b[:, ::-1]

    g = augmenter(p=0.0, seed=0, extra=flip)
    x3, y3 = g(x / 255, y)
    assert calls and np.array_equal(x3, x[:, ::-1] / 255) and np.array_equal(y3, y[:, ::-1])
    with pytest.raises(ValueError, match="n_channel_in=3"):
        f(x[..., 0], y)
    with pytest.raises(TypeError, match="RestainTransform"):
        augmenter(transform="optical")  # type: ignore[arg-type]


def test_stardist_augmenter_refuses_patches_outside_value_range(ihc_tile: np.ndarray) -> None:
    # Clipped to (0, 1), 0-255 patches would turn white and come back unchanged every time.
    x = ihc_tile.astype(np.float32)
    y = np.zeros((64, 64), np.int32)
    for p in (1.0, 0.0):  # every patch is checked, re-stained or not
        with pytest.raises(
            ValueError,
            match=r"expected values in value_range=\(0, 1\), got a patch with values in "
            r"\[\d+, \d+\]\. For raw 8-bit values pass value_range=\(0, 255\)",
        ):
            augmenter(p=p, seed=0)(x, y)
    normalised = np.full_like(x, 0.5)
    normalised[0, 0] = -20.0
    with pytest.raises(ValueError, match=r"value_range=\(0, 255\), got .*\[-20, 0\.5\]\. Pass"):
        augmenter(p=1.0, seed=0, value_range=(0, 255))(normalised, y)
    overshoot = np.clip(x / 255 * 1.02 - 0.01, -0.01, 1.01).astype(np.float32)
    out, _ = augmenter(p=1.0, seed=0)(overshoot, y)  # resampling overshoot is clipped, not refused
    assert 0 <= out.min() and out.max() <= 1 and not np.array_equal(out, overshoot)


# -- one construction style -------------------------------------------------------------------

_KW = {"model": "optical", "p": 0.7, "seed": 3, "threads": 1}


def _labels() -> np.ndarray:
    labels = np.zeros((64, 64), np.int64)
    labels[20:30, 20:30], labels[40:50, 10:22] = 1, 2
    return labels


def test_adapters_built_from_a_transform_or_its_arguments_behave_the_same(
    ihc_tile: np.ndarray,
) -> None:
    from torchvision import tv_tensors

    x, labels = _chw(ihc_tile), _labels()
    batch = x[None].float().repeat(4, 1, 1, 1) / 255
    kornia = RandomRestain(RestainTransform(**_KW)), RandomRestain(**_KW)
    monai = (
        RestainTransformd("image", "label", transform=RestainTransform(**_KW)),
        RestainTransformd("image", "label", prob=0.7, **{k: v for k, v in _KW.items() if k != "p"}),
    )
    tv = RestainTransformV2(RestainTransform(**_KW)), RestainTransformV2(**_KW)
    sd = augmenter(RestainTransform(**_KW)), augmenter(**_KW)
    for adapter in (*kornia, *tv):
        assert adapter.restain.threads == 1  # threads passes through with the other arguments
    assert all(a.transform.threads == 1 for a in (*monai, *sd))
    d = {"image": x.float() / 255, "label": torch.from_numpy(labels)[None]}
    for _ in range(3):  # the gate and the draws advance alike
        assert torch.equal(*(a(batch) for a in kornia))
        assert torch.equal(*(a(dict(d))["image"] for a in monai))
        sample = (tv_tensors.Image(x), tv_tensors.Mask(torch.from_numpy(labels)))
        assert torch.equal(*(a(*sample)[0] for a in tv))
        assert np.array_equal(*(f(ihc_tile / 255.0, labels)[0] for f in sd))
    for make in (RandomRestain, RestainTransformV2, augmenter):
        with pytest.raises(TypeError, match="not both"):
            make(RestainTransform(), p=0.2)
    with pytest.raises(TypeError, match="not both"):
        RestainTransformd("image", transform=RestainTransform(), prob=0.2)


def test_old_positional_calls_still_work_with_a_deprecation_warning(ihc_tile: np.ndarray) -> None:
    batch = _chw(ihc_tile)[None].float().repeat(4, 1, 1, 1) / 255
    with pytest.warns(DeprecationWarning, match="pass model, ops, p, same_on_batch, keepdim"):
        old = RandomRestain("optical", None, 0.7, False, True, 3)
    new = RandomRestain(model="optical", p=0.7, seed=3, keepdim=True)
    assert old.keepdim and torch.equal(old(batch), new(batch))
    with pytest.warns(DeprecationWarning, match="pass model, ops, prob, seed"):
        old_d = RestainTransformd("image", None, False, "optical", None, 0.7, 3)
    new_d = RestainTransformd("image", model="optical", prob=0.7, seed=3)
    d = {"image": batch[0]}
    assert torch.equal(old_d(d)["image"], new_d(d)["image"])
    with pytest.raises(TypeError, match="both by position and by keyword"):
        RandomRestain("optical", None, 0.5, p=0.5)


def test_monai_and_stardist_share_one_value_range() -> None:
    from restainaug.adapters._common import ValueRange

    t = RestainTransformd(keys="image", value_range=(0, 255))
    f = augmenter(value_range=(0, 255))
    assert t.value_range == f.value_range == ValueRange(0.0, 255.0) == (0.0, 255.0)
    for make in (
        lambda: RestainTransformd(keys="image", value_range=(1, 1)),
        lambda: augmenter(value_range=(1, 1)),
    ):
        with pytest.raises(ValueError, match=r"value_range must be \(low, high\) with high > low"):
            make()


def test_torchvision_adapter_uses_the_public_transform_api(ihc_tile: np.ndarray) -> None:
    import inspect

    from torchvision import tv_tensors

    import restainaug.adapters.torchvision as adapter

    source = inspect.getsource(adapter)
    assert "_pytree" not in source and "_needs_transform_list" not in source
    assert "make_params" in vars(RestainTransformV2) and "transform" in vars(RestainTransformV2)
    img = tv_tensors.Image(_chw(ihc_tile))
    mask = tv_tensors.Mask(torch.from_numpy(_labels()))
    sample = {"image": img, "masks": mask, "extra": [torch.zeros(3)]}
    out = RestainTransformV2(p=1.0, seed=0)(sample)
    assert out["masks"] is mask and out["extra"][0] is sample["extra"][0]
    assert not torch.equal(out["image"], img)
    untouched = RestainTransformV2(p=0.0, seed=0)
    assert untouched(sample) is sample and untouched.params is not None
    plain = RestainTransformV2(p=1.0, seed=0)
    assert plain(mask) is mask and plain.params is None  # nothing to re-stain: no draw
