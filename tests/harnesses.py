"""Harnesses of every transform and adapter for the shared checker."""

from __future__ import annotations

from typing import Any

import numpy as np
import PIL.Image
import torch
from checker import Harness
from conftest import tiny_translator
from monai.data import MetaTensor
from torchvision import tv_tensors

from restainaug import RestainTransform, RestainTransformd
from restainaug.adapters.kornia import RandomRestain
from restainaug.adapters.stardist import augmenter
from restainaug.adapters.torchvision import RestainTransformV2


def _read_any(y: Any) -> np.ndarray:
    if isinstance(y, PIL.Image.Image):
        y = np.asarray(y)
    if isinstance(y, torch.Tensor):
        y = y.as_subclass(torch.Tensor).detach().cpu()
        y = (y.permute(0, 2, 3, 1) if y.ndim == 4 else y.permute(1, 2, 0)).numpy()
    y = np.asarray(y)
    return y.astype(np.float64) / 255 if y.dtype == np.uint8 else y.astype(np.float64)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()


def _bchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()


def core_harness(model: str) -> Harness:
    def make(p: float, seed: int) -> RestainTransform:
        m = tiny_translator() if model == "tiny" else model
        return RestainTransform(model=m, p=p, seed=seed)

    return Harness(
        name=f"RestainTransform[{model}]",
        make=make,
        forms={
            "torch uint8 CHW": _chw,
            "torch float BCHW": lambda a: _bchw(a).float() / 255,
            "torch float16 BCHW": lambda a: (_bchw(a).float() / 255).half(),
            "numpy uint8 HWC": lambda a: a.copy(),
            "numpy float64 HWC": lambda a: a / 255.0,
            "numpy float32 BHWC": lambda a: (a / 255.0).astype(np.float32),
            "torch uint8 BCHW": _bchw,
        },
        batched_forms=(
            "torch float BCHW",
            "torch float16 BCHW",
            "numpy float32 BHWC",
            "torch uint8 BCHW",
        ),
        call=lambda t, x, lab: t(x, labels=lab),
        replay=lambda t, x, lab: t(x, labels=lab, params=t.params),
        read=_read_any,
    )


def monai_harness() -> Harness:
    def make(p: float, seed: int) -> RestainTransformd:
        return RestainTransformd(
            keys="image", label_key="label", allow_missing_keys=True, prob=p, seed=seed
        )

    def call(t: RestainTransformd, x: dict, lab: np.ndarray | None) -> dict:
        d = dict(x)
        if lab is not None:
            d["label"] = torch.from_numpy(lab[None] if lab.ndim == 2 else lab[:, None])
        return t(d)

    def replay(t: RestainTransformd, x: dict, lab: np.ndarray | None) -> dict:
        labels = None if lab is None else torch.from_numpy(lab)
        return {"image": t._restain(x["image"], labels, t.params)}

    def meta(a: np.ndarray) -> MetaTensor:
        return MetaTensor(_chw(a).float() / 255, meta={"filename_or_obj": "tile.png"})

    def check_type(x: dict, y: dict) -> None:
        assert type(y["image"]) is type(x["image"])
        assert y["image"].shape == x["image"].shape and y["image"].dtype == x["image"].dtype
        if isinstance(x["image"], MetaTensor):
            assert y["image"].meta["filename_or_obj"] == "tile.png"

    return Harness(
        name="RestainTransformd",
        make=make,
        forms={
            "dict float CHW": lambda a: {"image": _chw(a).float() / 255},
            "dict MetaTensor CHW": lambda a: {"image": meta(a)},
            "dict numpy uint8 CHW": lambda a: {"image": np.ascontiguousarray(a.transpose(2, 0, 1))},
            "dict float BCHW": lambda a: {"image": _bchw(a).float() / 255},
        },
        batched_forms=("dict float BCHW",),
        call=call,
        replay=replay,
        read=lambda y: _read_any(y["image"]),
        same_object_on_identity=False,
        check_type=check_type,
    )


def torchvision_harness() -> Harness:
    def make(p: float, seed: int) -> RestainTransformV2:
        return RestainTransformV2(p=p, seed=seed)

    def call(t: RestainTransformV2, x: Any, lab: np.ndarray | None) -> Any:
        if lab is None:
            return t(x)
        img = x[0] if isinstance(x, tuple) else x
        out = t(img, tv_tensors.Mask(torch.from_numpy(lab)))
        return out if isinstance(x, tuple) else out[0]

    def replay(t: RestainTransformV2, x: Any, lab: np.ndarray | None) -> Any:
        img = x[0] if isinstance(x, tuple) else x
        labels = None if lab is None else torch.from_numpy(lab)
        return t.restain_one(img, labels, t.restain.params)

    def read(y: Any) -> np.ndarray:
        return _read_any(y[0] if isinstance(y, tuple) else y)

    def check_type(x: Any, y: Any) -> None:
        if isinstance(x, tuple):
            assert isinstance(y, tuple) and type(y[0]) is type(x[0]) and y[1] is x[1]
            assert y[0].dtype == x[0].dtype and y[0].shape == x[0].shape
        elif isinstance(x, PIL.Image.Image):
            assert isinstance(y, PIL.Image.Image) and y.size == x.size and y.mode == "RGB"
        else:
            assert type(y) is type(x) and y.shape == x.shape and y.dtype == x.dtype

    return Harness(
        name="RestainTransformV2",
        make=make,
        forms={
            "Image+Mask uint8": lambda a: (
                tv_tensors.Image(_chw(a)),
                tv_tensors.Mask(torch.zeros(a.shape[:2], dtype=torch.int64)),
            ),
            "PIL RGB": lambda a: PIL.Image.fromarray(a),
            "pure float tensor CHW": lambda a: _chw(a).float() / 255,
            "Image float BCHW": lambda a: tv_tensors.Image(_bchw(a).float() / 255),
        },
        batched_forms=("Image float BCHW",),
        call=call,
        replay=replay,
        read=read,
        check_type=check_type,
    )


def kornia_harness() -> Harness:
    return Harness(
        name="RandomRestain",
        make=lambda p, seed: RandomRestain(p=p, seed=seed, keepdim=True),
        forms={
            "float CHW": lambda a: _chw(a).float() / 255,
            "float BCHW": lambda a: _bchw(a).float() / 255,
        },
        batched_forms=("float BCHW",),
        call=lambda t, x, lab: t(x),
        replay=lambda t, x, lab: t(x, params=t._params),
        read=_read_any,
        takes_labels=False,
        same_object_on_identity=False,
    )


def stardist_harness() -> Harness:
    def call(f: Any, x: np.ndarray, lab: np.ndarray | None) -> np.ndarray:
        y = np.zeros(x.shape[:2], np.int32) if lab is None else lab
        out, y2 = f(x, y)
        assert y2 is y
        return out

    def replay(f: Any, x: np.ndarray, lab: np.ndarray | None) -> np.ndarray:
        return f.transform(np.clip(x, 0, 1), labels=lab, params=f.transform.params)

    return Harness(
        name="stardist.augmenter",
        make=lambda p, seed: augmenter(p=p, seed=seed),
        forms={"numpy float32 YXC": lambda a: (a / 255.0).astype(np.float32)},
        call=call,
        replay=replay,
        read=_read_any,
    )


HARNESSES = [
    core_harness("optical"),
    core_harness("tiny"),
    monai_harness(),
    torchvision_harness(),
    kornia_harness(),
    stardist_harness(),
]
