"""The shared transform checker: every transform and adapter must pass these checks.

A *harness* tells the checker how to build and call one transform or adapter, and which input
forms it accepts; :data:`CHECKS` are run for every harness by ``test_contract.py``. Checks:
types/layout/dtype kept, ``p=0`` is the identity, replay, batch vs single, no in-place change,
pickling, labels untouched, seeds, blank tiles, bad input.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from restainaug import RestainTransform


def disk_labels(h: int, w: int, n: int = 6, seed: int = 0) -> np.ndarray:
    """Instance labels with ``n`` non-overlapping-ish disks, int32 (H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    lab = np.zeros((h, w), np.int32)
    for i in range(1, n + 1):
        cy, cx, r = rng.uniform(6, h - 6), rng.uniform(6, w - 6), rng.uniform(3, 6)
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = i
    return lab


@dataclass
class Harness:
    """How to build, call and read one transform or adapter."""

    name: str
    make: Callable[..., Any]  # make(p=..., seed=...) -> transform
    forms: dict[str, Callable[[np.ndarray], Any]]  # HWC / BHWC uint8 -> adapter input
    call: Callable[[Any, Any, np.ndarray | None], Any]  # call(t, x, labels) -> output
    replay: Callable[[Any, Any, np.ndarray | None], Any]  # same draw as the last call
    read: Callable[[Any], np.ndarray]  # output -> float HWC / BHWC in [0, 1]
    batched_forms: tuple[str, ...] = ()  # forms that hold a batch (B first)
    takes_labels: bool = True
    same_object_on_identity: bool = True
    check_type: Callable[[Any, Any], None] = field(default=lambda x, y: _same_kind(x, y))


def _same_kind(x: Any, y: Any) -> None:
    assert type(y) is type(x), (type(x), type(y))
    if isinstance(x, torch.Tensor):
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    elif isinstance(x, np.ndarray):
        assert y.shape == x.shape and y.dtype == x.dtype
    elif isinstance(x, (tuple, list)):
        assert len(x) == len(y)
        for a, b in zip(x, y, strict=True):
            _same_kind(a, b)
    elif isinstance(x, dict):
        assert set(x) == set(y)
        for k in x:
            _same_kind(x[k], y[k])


def _snapshot(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, (tuple, list)):
        return type(x)(_snapshot(v) for v in x)
    if isinstance(x, dict):
        return {k: _snapshot(v) for k, v in x.items()}
    return np.asarray(x).copy()


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(
            a.as_subclass(torch.Tensor), torch.as_tensor(b).as_subclass(torch.Tensor)
        )
    if isinstance(a, (tuple, list)):
        return all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return all(_equal(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


# -- the checks ----------------------------------------------------------------------------


def check_types_kept(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=1.0, seed=0)
    for form, build in h.forms.items():
        x = build(batch if form in h.batched_forms else tile)
        y = h.call(t, x, None)
        h.check_type(x, y)
        out = h.read(y)
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1, form


def check_p0_identity(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=0.0, seed=0)
    for form, build in h.forms.items():
        x = build(batch if form in h.batched_forms else tile)
        y = h.call(t, x, None)
        assert _equal(x, y), form
        if h.same_object_on_identity:
            assert y is x, form


def check_changes_something(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    """With p=1 a tissue tile must change in at least one of a few draws (not a no-op)."""
    t = h.make(p=1.0, seed=0)
    form, build = next(iter(h.forms.items()))
    x = build(batch if form in h.batched_forms else tile)
    before = h.read(x)
    diffs = [np.abs(h.read(h.call(t, x, None)) - before).max() for _ in range(4)]
    assert max(diffs) > 2 / 255, diffs


def check_replay(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=0.7, seed=1)
    labels = disk_labels(*tile.shape[:2])
    for form, build in h.forms.items():
        batched = form in h.batched_forms
        x = build(batch if batched else tile)
        lab = np.stack([labels] * batch.shape[0]) if batched else labels
        y1 = h.call(t, x, lab)
        y2 = h.replay(t, x, lab)
        np.testing.assert_array_equal(h.read(y1), h.read(y2), err_msg=form)


def check_batch_vs_single(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    """Each sample of a batch equals that sample transformed alone with its slice of params."""
    if not h.batched_forms:
        return
    t = h.make(p=0.7, seed=2)
    form = h.batched_forms[0]
    x = h.forms[form](batch)
    y = h.read(h.call(t, x, None))
    params = {k: v.clone() for k, v in _params_of(t).items()}
    core = _core(t)
    atol = 1e-4 if "float" in form else 1 / 255 + 1e-6
    for i in range(batch.shape[0]):
        one = {k: v[i : i + 1] for k, v in params.items()}
        single = core(batch[i].astype(np.float32) / 255, params=one)
        np.testing.assert_allclose(y[i], single, atol=atol, err_msg=f"sample {i}")


def check_not_in_place(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=1.0, seed=3)
    labels = disk_labels(*tile.shape[:2])
    for form, build in h.forms.items():
        batched = form in h.batched_forms
        x = build(batch if batched else tile)
        lab = np.stack([labels] * batch.shape[0]) if batched else labels.copy()
        before, lab_before = _snapshot(x), lab.copy()
        h.call(t, x, lab)
        assert _equal(x, before), f"{form}: input modified in place"
        assert np.array_equal(lab, lab_before), f"{form}: labels modified"


def check_pickle(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=1.0, seed=4)
    form, build = next(iter(h.forms.items()))
    x = build(batch if form in h.batched_forms else tile)
    t2 = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(h.read(h.call(t, x, None)), h.read(h.call(t2, x, None)))


def check_seeds(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    form, build = next(iter(h.forms.items()))
    x = build(batch if form in h.batched_forms else tile)
    runs = {}
    for seed in (5, 5, 6):
        t = h.make(p=1.0, seed=seed)
        runs.setdefault(seed, []).append(np.stack([h.read(h.call(t, x, None)) for _ in range(3)]))
    np.testing.assert_array_equal(runs[5][0], runs[5][1])
    assert not np.array_equal(runs[5][0], runs[6][0])


def check_blank_tiles(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    t = h.make(p=1.0, seed=7)
    rng = np.random.default_rng(0)
    blanks = {
        "white": np.full_like(tile, 255),
        "grey glass": np.clip(rng.normal(220, 2, tile.shape), 0, 255).astype(np.uint8),
    }
    for kind, img in blanks.items():
        for form, build in h.forms.items():
            x = build(np.stack([img] * batch.shape[0]) if form in h.batched_forms else img)
            y = h.call(t, x, None)
            assert _equal(h.read(x), h.read(y)), f"{kind}/{form} changed"


def check_bad_input(h: Harness, tile: np.ndarray, batch: np.ndarray) -> None:
    import pytest

    t = h.make(p=1.0, seed=8)
    for form, build in h.forms.items():
        if form in h.batched_forms:
            continue
        rgba = np.concatenate([tile, tile[..., :1]], axis=-1)
        with pytest.raises((ValueError, TypeError)):
            h.call(t, build(rgba), None)
        if h.takes_labels:
            x = build(tile)
            with pytest.raises((ValueError, TypeError)):
                h.call(t, x, np.zeros((tile.shape[0] + 1, tile.shape[1]), np.int32))
            with pytest.raises((ValueError, TypeError)):
                h.call(t, x, np.full(tile.shape[:2], -1, np.int32))


CHECKS = [
    check_types_kept,
    check_p0_identity,
    check_changes_something,
    check_replay,
    check_batch_vs_single,
    check_not_in_place,
    check_pickle,
    check_seeds,
    check_blank_tiles,
    check_bad_input,
]


def _core(t: Any) -> RestainTransform:
    for attr in ("restain", "transform"):
        inner = getattr(t, attr, None)
        if isinstance(inner, RestainTransform):
            return inner
    assert isinstance(t, RestainTransform)
    return t


def _params_of(t: Any) -> dict[str, torch.Tensor]:
    params = _core(t).params
    assert params is not None
    return params
