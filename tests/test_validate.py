"""Bad input is refused with errors that say what was expected, what came, and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restainaug import RestainTransform


@pytest.fixture(scope="module")
def t() -> RestainTransform:
    return RestainTransform(p=1.0, seed=0)


@pytest.mark.parametrize(
    ("image", "exc", "match"),
    [
        (torch.rand(3, 8), ValueError, r"expected an RGB tensor \(3, H, W\).*got shape \(3, 8\)"),
        (torch.rand(1, 1, 3, 8, 8), ValueError, "got shape"),
        (torch.rand(8, 8, 3), ValueError, "channels-last: use x.permute"),
        (torch.rand(4, 8, 8), ValueError, "alpha channel"),
        (torch.rand(1, 8, 8), ValueError, r"\(3, H, W\)"),
        (torch.zeros(0, 3, 8, 8), ValueError, "non-empty"),
        (torch.zeros(3, 0, 8), ValueError, "non-empty"),
        (torch.full((3, 4, 4), float("nan")), ValueError, "NaN or infinite"),
        (torch.full((3, 4, 4), float("inf")), ValueError, "NaN or infinite"),
        (torch.full((3, 4, 4), 200.0), ValueError, "0-255 data: divide by 255 or pass uint8"),
        (torch.full((3, 4, 4), -0.5), ValueError, r"\[0, 1\]"),
        (torch.zeros(3, 4, 4, dtype=torch.int64), TypeError, "uint8 or float tensor.*int64"),
        (torch.zeros(3, 4, 4, dtype=torch.bool), TypeError, "bool"),
        (np.zeros((8, 8), np.uint8), ValueError, r"\(H, W, 3\).*got shape \(8, 8\)"),
        (np.zeros((8, 8, 4), np.uint8), ValueError, "alpha"),
        (np.zeros((3, 8, 8), np.uint8), ValueError, r"channels-first: use x.transpose\(1, 2, 0\)"),
        (np.zeros((2, 3, 8, 8), np.float32), ValueError, r"\(0, 2, 3, 1\) for a batch"),
        (np.zeros((8, 8, 3), np.int32), TypeError, "int32"),
        (np.zeros((8, 8, 3), np.float32) + 2.0, ValueError, "0-255"),
        ([[0, 1, 2]], TypeError, "got list"),
        ("image.png", TypeError, "got str"),
    ],
)
def test_bad_images(t: RestainTransform, image, exc, match) -> None:
    with pytest.raises(exc, match=match):
        t(image)


@pytest.mark.parametrize(
    ("labels", "exc", "match"),
    [
        (np.zeros((9, 8), np.int32), ValueError, r"expected shape \(8, 8\).*got \(9, 8\)"),
        (np.zeros((2, 8, 8), np.int32), ValueError, "got"),
        (np.full((8, 8), -1, np.int32), ValueError, ">= 0"),
        (np.full((8, 8), 0.5, np.float32), ValueError, "whole numbers"),
        (np.zeros((8, 8), np.complex64), TypeError, "integer"),
        ([[1]], TypeError, "got list"),
    ],
)
def test_bad_labels(t: RestainTransform, labels, exc, match) -> None:
    with pytest.raises(exc, match=match):
        t(np.full((8, 8, 3), 120, np.uint8), labels=labels)


def test_label_layouts_accepted(t: RestainTransform) -> None:
    img = np.full((8, 8, 3), 120, np.uint8)
    for lab in (
        np.zeros((8, 8), np.int32),
        np.zeros((1, 8, 8), np.uint16),
        np.zeros((8, 8, 1)),
        torch.zeros(8, 8, dtype=torch.bool),
        torch.zeros(1, 8, 8),
    ):
        t(img, labels=lab)
    batch = torch.rand(2, 3, 8, 8)
    for lab in (
        torch.zeros(2, 8, 8, dtype=torch.int64),
        torch.zeros(2, 1, 8, 8),
        np.zeros((2, 8, 8, 1)),
    ):
        t(batch, labels=lab)


def test_slightly_out_of_range_floats_are_clamped_not_refused(t: RestainTransform) -> None:
    x = torch.rand(3, 16, 16) * 1.01 - 0.005
    y = t(x)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"p": 1.5}, ValueError, r"p must be a number in \[0, 1\], got 1.5"),
        ({"p": "half"}, ValueError, "p must be"),
        ({"p": True}, ValueError, "p must be"),
        ({"seed": 1.5}, TypeError, "seed: expected an int"),
        ({"same_on_batch": 1}, TypeError, "same_on_batch"),
        ({"min_tissue": 2}, ValueError, "min_tissue"),
        ({"model": "no-such-model"}, ValueError, "No model named 'no-such-model'"),
        ({"model": 3}, TypeError, "name or path"),
    ],
)
def test_bad_arguments(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        RestainTransform(**kwargs)


def test_bad_params(t: RestainTransform) -> None:
    x = torch.rand(2, 3, 8, 8)
    t(x)
    good = t.params
    with pytest.raises(ValueError, match="batch size 3"):
        t(torch.rand(3, 3, 8, 8), params=good)
    with pytest.raises(ValueError, match="missing"):
        t(x, params={"apply": good["apply"]})
    with pytest.raises(TypeError, match="dict"):
        t(x, params=[1, 2])  # type: ignore[arg-type]
    other = RestainTransform(ops=RestainTransform(p=1.0).ops.children[1], p=1.0)
    other(x)
    with pytest.raises(ValueError, match="do not belong"):
        t(x, params=other.params)
