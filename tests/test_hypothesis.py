"""Property-based: any valid shape, dtype and value range in -> same kind out, finite, in range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_translator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from restainaug import RestainTransform

OPTICAL = RestainTransform(p=0.8, seed=0)
TINY = RestainTransform(model=tiny_translator(), p=0.8, seed=0)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def images(draw):
    batched = draw(st.booleans())
    b = draw(st.integers(1, 3)) if batched else None
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64]))
    lo = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
    hi = draw(st.sampled_from([v for v in (0.0, 0.25, 0.5, 0.75, 1.0) if v >= lo]))
    shape = (h, w, 3) if b is None else (b, h, w, 3)
    if dtype == np.uint8:
        elements = st.integers(int(lo * 255), int(hi * 255))
    else:
        elements = st.floats(lo, hi, width=32 if dtype == np.float32 else 64)
    arr = draw(arrays(dtype, shape, elements=elements))
    as_torch = draw(st.booleans())
    if as_torch:
        t = torch.from_numpy(arr)
        return t.permute(2, 0, 1).contiguous() if b is None else t.permute(0, 3, 1, 2).contiguous()
    return arr


@pytest.mark.parametrize("transform", [OPTICAL, TINY], ids=["optical", "tiny"])
@SETTINGS
@given(x=images())
def test_valid_inputs_give_same_kind_finite_in_range(transform: RestainTransform, x) -> None:
    before = x.clone() if isinstance(x, torch.Tensor) else x.copy()
    y = transform(x)
    assert type(y) is type(x) and y.shape == x.shape and y.dtype == x.dtype
    yv = y.double() if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y, np.float64))
    assert bool(torch.isfinite(yv).all())
    top = (
        255
        if (isinstance(x, np.ndarray) and x.dtype == np.uint8)
        or (isinstance(x, torch.Tensor) and x.dtype == torch.uint8)
        else 1
    )
    assert float(yv.min()) >= 0 and float(yv.max()) <= top
    np.testing.assert_array_equal(np.asarray(x), np.asarray(before))


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)),
    bad=st.one_of(st.floats(1.1, 1e6), st.floats(-1e6, -0.1), st.just(float("nan"))),
)
def test_out_of_range_floats_are_refused(shape, bad: float) -> None:
    b, h, w = shape
    x = torch.rand(b, 3, h, w)
    x[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]|NaN"):
        OPTICAL(x)
