"""Realism score, point annotations, the slide renderer and granular marker texture."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from restainaug.data.points import labels_from_points, read_points
from restainaug.evaluation import EvalField, point_fields
from restainaug.evaluation.realism import (
    CONTEXT_FEATURES,
    FEATURES,
    RealismScores,
    classifier_auc,
    context_features,
    glass_delta_e,
    nucleus_features,
    realism,
)
from restainaug.models import SlideRenderer, StainRenderer, UnmixGenerator, build_generator
from restainaug.ops import IFContext, MarkerToNuclei
from restainaug.stains import DAB

pytest.importorskip("sklearn")


def _blobs(colour: tuple[int, int, int], seed: int, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = np.full((64, 64 * n, 3), 235, np.uint8)
    lab = np.zeros(img.shape[:2], np.int32)
    yy, xx = np.mgrid[:64, :64]
    for i in range(n):
        r = rng.uniform(6, 10)
        disc = (yy - 32) ** 2 + (xx - 32) ** 2 <= r * r
        noise = rng.normal(0, 8, (64, 64, 3))
        tile = img[:, 64 * i : 64 * (i + 1)]
        tile[disc] = np.clip(np.array(colour) + noise[disc], 0, 255).astype(np.uint8)
        lab[:, 64 * i : 64 * (i + 1)][disc] = i + 1
    return img, lab


def test_nucleus_features_shape_and_values() -> None:
    img, lab = _blobs((120, 80, 50), 0)
    f = nucleus_features(img, lab)
    assert f.shape == (6, len(FEATURES)) and np.isfinite(f).all()
    dab = f[:, FEATURES.index("dab_mean")]
    blue, _ = _blobs((90, 110, 200), 0)
    assert (dab > nucleus_features(blue, lab)[:, FEATURES.index("dab_mean")]).all()
    # Missing or tiny ids give rows of nan; the input is not modified.
    before = img.copy()
    g = nucleus_features(img, lab, [1, 99])
    assert np.isfinite(g[0]).all() and np.isnan(g[1]).all()
    assert np.array_equal(img, before)


def test_context_features_band_shape_and_ids() -> None:
    img = np.full((40, 80, 3), 230, np.uint8)
    img[:, 40:] = 150  # a dark surrounding on the right
    img[10:20, 10:20] = img[10:20, 50:60] = (120, 90, 60)  # the same nucleus on both sides
    lab = np.zeros((40, 80), np.int32)
    lab[10:20, 10:20] = 1
    lab[10:20, 50:60] = 2
    lab[30:32, 30:31] = 3  # 2 pixels: too small
    lab[2:7, 62:64] = 4  # a 5x2 rectangle
    f = context_features(img, lab)
    assert f.shape == (4, len(CONTEXT_FEATURES))
    band = [CONTEXT_FEATURES.index(f"band_od_{c}") for c in "rgb"]
    od = lambda v: -np.log10(v / 255.0)  # noqa: E731
    assert (f[1, band] > f[0, band]).all()  # the dark surrounding has the higher band OD
    assert np.allclose(f[0, band], od(230)) and np.allclose(f[1, band], od(150))
    # A 10x10 square: area 100, equal second moments (eccentricity 0), convex, and
    # scikit-image's perimeter of 36 (4 * (side - 1)).
    shape = {k: f[0, CONTEXT_FEATURES.index(k)] for k in CONTEXT_FEATURES[3:]}
    assert shape == pytest.approx(
        {"area": 100, "eccentricity": 0, "solidity": 1, "perimeter2_area": 36**2 / 100}
    )
    assert np.isnan(f[2]).all() and np.isfinite(f[[0, 1, 3]]).all()
    assert f[3, CONTEXT_FEATURES.index("eccentricity")] > 0.5
    # Rows follow ids, as given; an absent id is a nan row; only label-0 pixels are band.
    g = context_features(img, lab, [2, 99, 1])
    assert np.array_equal(g[[0, 2]], f[[1, 0]]) and np.isnan(g[1]).all()
    crowded = lab.copy()
    crowded[7:23, 47:63][crowded[7:23, 47:63] == 0] = 5  # label 2 surrounded by label 5
    assert np.isnan(context_features(img, crowded, [2])).all()
    # The band is the surroundings only: changing the nucleus does not change it.
    edited = img.copy()
    edited[10:20, 10:20] = (200, 60, 30)
    assert np.array_equal(context_features(edited, lab)[0, band], f[0, band])


def test_classifier_auc_separates_and_does_not() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (60, 5))
    assert classifier_auc(a, rng.normal(0, 1, (60, 5))) < 0.75
    assert classifier_auc(a, rng.normal(3, 1, (60, 5))) > 0.95
    assert math.isnan(classifier_auc(a, a[:1]))


def test_glass_delta_e() -> None:
    img, _ = _blobs((120, 80, 50), 0)
    assert glass_delta_e(img, img.copy()) == 0.0
    whiter = img.copy()
    whiter[img.mean(-1) > 230] = 250
    assert glass_delta_e(img, whiter) > 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        glass_delta_e(img, img[:10])


def test_points_read_and_grow(tmp_path: Path) -> None:
    img = np.full((40, 60, 3), 240, np.uint8)
    img[5:15, 5:15] = 90
    img[25:35, 40:50] = 170  # pale nucleus: keeps its own outline
    csv = tmp_path / "a.csv"
    csv.write_text("x,y,class\n10,10,positive\n45,30,Negative\n99,99,negative\n")
    xy, positive = read_points(csv)
    assert xy.tolist() == [[10, 10], [45, 30], [99, 99]] and positive.tolist() == [1, 0, 0]
    lab = labels_from_points(img, xy)
    # The smoothed half-maximum outline cuts the square's corners, and stays inside it.
    for i, (ys, xs) in ((1, (slice(5, 15), slice(5, 15))), (2, (slice(25, 35), slice(40, 50)))):
        assert (
            90 <= int((lab == i).sum()) <= 100 and int((lab[ys, xs] == i).sum()) == (lab == i).sum()
        )
    assert not (lab == 3).any()
    bad = tmp_path / "b.csv"
    bad.write_text("x,y,class\n1,2,maybe\n")
    with pytest.raises(ValueError, match="positive or negative"):
        read_points(bad)
    bad.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="columns x, y, class"):
        read_points(bad)


def test_point_fields(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "points").mkdir()
    img = np.full((40, 40, 3), 240, np.uint8)
    img[5:15, 5:15] = 90
    Image.fromarray(img).save(tmp_path / "images" / "0.png")
    Image.fromarray(img).save(tmp_path / "images" / "no-points.png")
    (tmp_path / "points" / "0.csv").write_text("x,y,class\n10,10,positive\n")
    (f,) = point_fields(tmp_path / "images", tmp_path / "points")
    assert f.name == "0" and f.positive is not None and f.positive.tolist() == [False, True]
    with pytest.raises(ValueError, match="has a points file"):
        point_fields(tmp_path / "points", tmp_path / "images")


def _unmix() -> UnmixGenerator:
    torch.manual_seed(0)
    return UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})


def test_slide_renderer_round_trip_and_glass() -> None:
    g = _unmix()
    x = torch.rand(2, 3, 32, 32) * 1.6 - 0.8
    v = g(x)
    r = SlideRenderer()
    assert torch.allclose(r(v), StainRenderer()(v), atol=1e-5)
    assert (r(v) - x).abs().max() < 1e-4
    # Removing the marker leaves pixels at or below the DAB floor unchanged.
    removed = v.clone()
    removed[:, 1] = -1.0
    u = (v + 1) * 0.5
    _, _, _, floor, _ = r.slide_stains(u)
    glass = (u[:, 5:6] <= floor).expand(-1, 3, -1, -1)
    assert torch.allclose(r(removed)[glass], x[glass], atol=1e-4)
    assert isinstance(build_generator({"type": "slide-render"}), SlideRenderer)
    with pytest.raises(ValueError, match="glass_od"):
        SlideRenderer(glass_od=1.0)


def test_marker_grain_replays_and_validates() -> None:
    x = torch.zeros(2, 2, 24, 24)
    labels = torch.zeros(2, 1, 24, 24)
    labels[:, :, 4:16, 4:16] = 1
    op = MarkerToNuclei(fraction=1.0, intensity=1.0, grain=0.6, texture=0.0)
    assert "grain_seed" in op.param_space()
    params = {
        "fraction": torch.ones(2),
        "intensity": torch.ones(2),
        "select": torch.zeros(2, 8),
        "strength": torch.ones(2, 8),
        "grain_seed": torch.tensor([0.1, 0.2]),
    }
    a = op.apply(x, params, IFContext(x, 0, 1, labels))
    b = op.apply(x, params, IFContext(x, 0, 1, labels))
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    inside = a[0, 1, 7:13, 7:13]
    assert inside.std() / inside.mean() > 0.2
    assert "grain_seed" not in MarkerToNuclei(grain=0.0).param_space()
    for kwargs in ({"grain": -1.0}, {"grain": 3.0}, {"edge": 5}, {"edge": 1.5}):
        with pytest.raises(ValueError):
            MarkerToNuclei(**kwargs)


def test_realism_scores_on_synthetic_fields() -> None:
    from restainaug.evaluation import synth_fields

    fields = [f for f in synth_fields(2, 0, 96) if f.positive is not None]
    if not any(f.positive[1:].any() and not f.positive[1:].all() for f in fields):
        pytest.skip("no synthetic field with both classes")
    scores = realism(fields, "optical", seed=0)
    assert 0.0 <= scores.added_auc <= 1.0 or math.isnan(scores.added_auc)
    assert scores.counts["added"] > 0 and "real_positive" in scores.dab
    assert 0.0 <= scores.context_auc <= 1.0
    table = scores.format_table()
    assert "added AUC" in table
    assert f"context floor AUC {scores.context_auc:.3f}" in table.splitlines()[0]
    with pytest.raises(ValueError, match="both marker-positive"):
        realism([EvalField("x", np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8), np.int32))])


def test_realism_scores_without_a_context_floor() -> None:
    # Constructed as before the context floor: it is nan, and the table says so.
    scores = RealismScores("m", 0.9, 0.8, 0.5, {"added": 3}, {})
    assert math.isnan(scores.context_auc)
    assert "context floor AUC nan" in scores.format_table()
    assert (
        "context floor AUC 0.750"
        in RealismScores("m", 0.9, 0.8, 0.5, context_auc=0.75).format_table()
    )


def test_realism_refuses_cuda_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' was requested but CUDA is not available"):
        realism([], "optical", device="cuda")


def _flat_slide(marker_ref: float = 0.0) -> torch.Tensor:
    # IF channels on the [0, 1] scale: a grid of round nuclei, light hematoxylin, no DAB.
    v = torch.zeros(1, 7, 96, 96)
    yy, xx = torch.meshgrid(torch.arange(96), torch.arange(96), indexing="ij")
    nuclei = torch.zeros(96, 96)
    for cy in range(8, 96, 16):
        for cx in range(8, 96, 16):
            nuclei[((yy - cy) ** 2 + (xx - cx) ** 2) <= 16] = 1.0
    v[:, 0] = v[:, 2] = nuclei * 0.8
    v[:, 1] = v[:, 3] = nuclei * marker_ref
    v[:, 4] = 0.05 + 0.3 * nuclei
    v[:, 5] = 0.02
    return v


def test_slide_renderer_uses_its_table_without_marker() -> None:
    table = [[0.1 * k, 0.2 * k, 0.25 * k] for k in range(1, 17)]
    r = SlideRenderer(positive_od=table, slide_marker=True)
    v = _flat_slide()
    edited = v.clone()
    edited[:, 1, 22:27, 22:27] = 0.6  # 2+ on a nucleus
    rgb = (r(edited * 2 - 1) + 1) * 0.5
    same = (r(v * 2 - 1) + 1) * 0.5
    gained = -torch.log10(rgb[0, :, 24, 24]) + torch.log10(same[0, :, 24, 24])
    # Level 0.6 / 1.2 = 0.5: half way between the 8th and 9th of 16 rows, less the slide's
    # median negative-nucleus pixel.
    _, negative, _, _, _ = r.slide_stains(v)
    median = negative[0, :, 7] * 0.5 + negative[0, :, 8] * 0.5
    expected = torch.tensor(table[7]) * 0.5 + torch.tensor(table[8]) * 0.5 - median
    assert torch.allclose(gained, expected.clamp_min(0), atol=1e-3)
    # Pixels the edit did not touch are exactly the input.
    assert torch.equal(rgb[..., :20, :], same[..., :20, :])
    with pytest.raises(ValueError, match="positive_od"):
        SlideRenderer(positive_od=[[0.1, 0.2]])
    with pytest.raises(TypeError, match="slide_marker"):
        SlideRenderer(slide_marker=1)  # type: ignore[arg-type]


def test_slide_renderer_adds_dab_on_top_of_the_pixel() -> None:
    v = _flat_slide()
    v[:, 6] = 0.3  # a residual that StainRenderer would scale up with the added DAB
    edited = v.clone()
    edited[:, 1, 22:27, 22:27] = 0.6
    r = SlideRenderer(gain_marker=0.8)
    od = -torch.log10((r(edited * 2 - 1) + 1) * 0.5)[0, :, 24, 24]
    before = -torch.log10((r(v * 2 - 1) + 1) * 0.5)[0, :, 24, 24]
    dab = torch.tensor(DAB) / torch.tensor(DAB).norm()
    assert torch.allclose(od - before, 0.6 * 0.8 * dab, atol=2e-3)


def test_slide_renderer_removal_leaves_a_negative_nucleus() -> None:
    v = _flat_slide()
    top = v[:, 0:1, :16] > 0
    v[:, 1:2, :16][top] = v[:, 3:4, :16][top] = 0.9
    v[:, 5:6, :16][top] = 1.0
    edited = v.clone()
    edited[:, 1] = 0.0
    r = SlideRenderer()
    od = -torch.log10((r(edited * 2 - 1) + 1) * 0.5)
    negative = -torch.log10((r(v * 2 - 1) + 1) * 0.5)[0, :, 40, 40]  # a negative nucleus
    assert torch.allclose(od[0, :, 8, 8], negative, atol=0.05)


def test_slide_renderer_takes_the_slides_own_positives() -> None:
    v = _flat_slide()
    # Make the top row of nuclei positive, with a brown of the slide's own.
    top = v[:, 0:1, :16] > 0
    v[:, 1:2, :16][top] = v[:, 3:4, :16][top] = 0.9
    v[:, 5:6, :16][top] = 1.0
    r = SlideRenderer(slide_marker=True)
    positive, _, n_mean, _, level = r.slide_stains(v)
    own = r._od(v[:, 4:5], v[:, 5:6], v[:, 6:7])[0, :, 8, 8]
    assert torch.allclose(positive[0, :, -1], own, atol=1e-4)
    assert 0.4 < float(n_mean) <= 0.8  # the negative nuclei of the bottom rows, edges included
    assert not torch.allclose(positive[0], r.positive_od)
    assert torch.allclose(level, torch.tensor(1.0) - 0.02, atol=1e-3)  # DAB 1.0 over its floor
    # With a reference strength, added marker follows the slide's: twice the reference, twice
    # the DAB.
    edited = v.clone()
    edited[:, 1, 38:43, 38:43] = 0.6
    for ref, factor in ((0.98, 1.0), (0.49, 2.0)):
        r = SlideRenderer(gain_marker=0.8, reference_dab=ref)
        gained = -torch.log10((r(edited * 2 - 1) + 1) * 0.5) + torch.log10((r(v * 2 - 1) + 1) * 0.5)
        dab = torch.tensor(DAB) / torch.tensor(DAB).norm()
        assert torch.allclose(gained[0, :, 40, 40], 0.6 * 0.8 * factor * dab, atol=2e-3)
    with pytest.raises(ValueError, match="reference_dab"):
        SlideRenderer(reference_dab=0.0)


def test_restain_slide_is_restain_unmix_with_the_slide_renderer() -> None:
    from skimage.data import immunohistochemistry

    from restainaug import load_model

    slide, unmix = load_model("restain-slide"), load_model("restain-unmix")
    assert isinstance(slide.if_to_ihc, SlideRenderer) and slide.if_to_ihc.reference_dab
    x = torch.from_numpy(immunohistochemistry()[:64, :64].copy()).permute(2, 0, 1)[None] / 255.0
    v = slide.to_if(x)
    assert torch.equal(v, unmix.to_if(x))  # the same network and weights
    assert (slide.to_ihc(v) - x).abs().max() < 1e-4  # unedited: back exactly
