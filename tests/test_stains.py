"""The optical translator: exact round trip, stain vectors, agreement with scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import hdx_from_rgb, separate_stains

from restainaug.stains import (
    DAB,
    HEMATOXYLIN,
    OpticalTranslator,
    od_to_rgb,
    rgb_to_od,
    stain_amount,
    stain_matrix,
    tissue_fraction,
)


def _batch(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("residual", ["relative", "absolute"])
def test_round_trip_on_real_ihc_below_one_grey_level(ihc: np.ndarray, residual: str) -> None:
    t = OpticalTranslator(residual=residual)
    x = _batch(ihc)
    y = t.to_ihc(t.to_if(x))
    err = (y - x).abs()
    assert float(err.mean()) < 1 / 255  # the requirement
    assert float(err.max()) < 0.5 / 255  # and no pixel is off by half a grey level
    # uint8 in, uint8 out: identical bytes.
    back = (y * 255).round().to(torch.uint8)
    assert torch.equal(back, (x * 255).round().to(torch.uint8))


def test_channels_follow_the_stains(ihc: np.ndarray) -> None:
    t = OpticalTranslator(residual="absolute")
    c = t.to_if(_batch(ihc))[0].numpy()
    ref = separate_stains(ihc, hdx_from_rgb)  # scikit-image's H, DAB, residual
    for k in range(2):
        r = np.corrcoef(np.maximum(c[k], 0).ravel(), ref[..., k].ravel())[
            0, 1
        ]  # skimage clips at 0
        assert r > 0.99, (k, r)
    assert [ch.role for ch in t.channels] == ["nuclear", "marker", "other"]


def test_relative_residual_leaves_no_ghost_when_marker_removed(ihc: np.ndarray) -> None:
    x = _batch(ihc)
    rel_t, abs_t = OpticalTranslator(residual="relative"), OpticalTranslator(residual="absolute")
    brown = abs_t.to_if(x)[0, 1] > 0.5
    c_rel, c_abs = rel_t.to_if(x), abs_t.to_if(x)
    c_rel[:, 1] = 0
    c_abs[:, 1] = 0
    # Residual optical density left in brown areas once the marker is removed.
    left_rel = abs_t.to_if(rel_t.to_ihc(c_rel))[0, 2][brown].mean()
    left_abs = abs_t.to_if(abs_t.to_ihc(c_abs))[0, 2][brown].mean()
    assert left_rel < 0.5 * left_abs


def test_relative_residual_is_the_residual_per_stain_amount(ihc: np.ndarray) -> None:
    x = _batch(ihc)
    c = OpticalTranslator(residual="absolute").to_if(x)
    rel = OpticalTranslator(residual="relative").to_if(x)
    amount = stain_amount(c)
    assert amount.shape == (1, 1, *x.shape[2:]) and bool((amount >= 0.05).all())
    assert torch.equal(rel[:, :2], c[:, :2])
    assert torch.equal(rel[:, 2:], c[:, 2:] / amount)


def test_stain_matrix_rows_are_unit_and_invertible() -> None:
    m = stain_matrix(HEMATOXYLIN, DAB)
    assert torch.allclose(torch.linalg.vector_norm(m, dim=1), torch.ones(3, dtype=m.dtype))
    assert abs(float(torch.linalg.det(m))) > 0.1


@pytest.mark.parametrize(
    ("nuclear", "marker", "match"),
    [
        ((1, 2), DAB, "3 finite numbers"),
        ((0, 0, 0), DAB, "all zeros"),
        (HEMATOXYLIN, HEMATOXYLIN, "parallel"),
        ((float("nan"), 1, 1), DAB, "finite"),
    ],
)
def test_bad_stain_vectors(nuclear, marker, match) -> None:
    with pytest.raises(ValueError, match=match):
        OpticalTranslator(nuclear=nuclear, marker=marker)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="background"):
        OpticalTranslator(background=(1.2, 1, 1))
    with pytest.raises(ValueError, match="residual"):
        OpticalTranslator(residual="ratio")


def test_grey_background_round_trip() -> None:
    bg = (0.86, 0.9, 0.88)
    t = OpticalTranslator(background=bg)
    x = torch.rand(2, 3, 16, 16) * 0.7 * torch.tensor(bg).view(1, 3, 1, 1) + 0.05
    assert torch.allclose(t.to_ihc(t.to_if(x)), x, atol=1e-5)
    glass = torch.tensor(bg).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert t.to_if(glass).abs().max() < 1e-5


def test_od_helpers() -> None:
    x = torch.rand(1, 3, 8, 8) * 0.9 + 0.05
    assert torch.allclose(od_to_rgb(rgb_to_od(x)), x, atol=1e-6)
    assert float(rgb_to_od(torch.zeros(1, 3, 1, 1)).max()) == pytest.approx(3.0)


def test_tissue_fraction(ihc: np.ndarray) -> None:
    assert tissue_fraction(torch.ones(1, 3, 8, 8)).item() == 0.0
    assert tissue_fraction(torch.full((1, 3, 8, 8), 0.85)).item() == 0.0  # grey glass
    assert tissue_fraction(_batch(ihc)).item() > 0.5
