"""Evaluation of translators: metrics against references, oracles, real data and the CLI."""

from __future__ import annotations

import csv
import math
from dataclasses import astuple, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from restainaug import DEFAULT_MODEL, load_model
from restainaug.cli import main
from restainaug.evaluation import (
    REFERENCE,
    EvalField,
    EvalReport,
    FieldScores,
    compare,
    evaluate,
    load_fields,
    reference,
    synth_fields,
)
from restainaug.evaluation.metrics import auc, dice, matched_objects, otsu_mask, pearson, psnr, ssim
from restainaug.translator import Channel, Translator

# -- metrics --------------------------------------------------------------------------------


def _auc_brute_force(scores: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = scores[positive], scores[~positive]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_pairwise_counting_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.3
    scores = (
        rng.integers(0, 6, 300) + 2.0 * y
    )  # few distinct values: ties within and across classes
    assert auc(scores, y) == pytest.approx(_auc_brute_force(scores, y), abs=1e-12)
    assert auc(scores.reshape(15, 20), y.reshape(15, 20)) == auc(scores, y)


def test_auc_edge_cases_and_subsampling() -> None:
    assert auc(np.array([3.0, 1.0]), np.array([True, False])) == 1.0
    assert auc(np.array([3.0, 1.0]), np.array([False, True])) == 0.0
    assert math.isnan(auc(np.arange(4.0), np.zeros(4, bool)))
    rng = np.random.default_rng(0)
    y = rng.random(20_000) < 0.4
    s = rng.normal(size=20_000) + y
    sub = auc(s, y, max_samples=5_000)
    assert sub == auc(s, y, max_samples=5_000) != auc(s, y)  # a fixed subset, but a subset
    assert sub == pytest.approx(auc(s, y), abs=0.02)
    with pytest.raises(ValueError, match="same shape"):
        auc(np.zeros(3), np.zeros(4, bool))
    with pytest.raises(ValueError, match="NaN"):
        auc(np.array([np.nan, 1.0]), np.array([True, False]))


def test_dice_and_pearson() -> None:
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert dice(a, b) == 0.5
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0
    assert dice(np.zeros(3), np.zeros(3)) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        dice(a, b[:3])
    x, z = np.random.default_rng(1).random((2, 50))
    assert pearson(x, z) == pytest.approx(np.corrcoef(x, z)[0, 1], abs=1e-12)
    assert math.isnan(pearson(x, np.ones(50)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_objects_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 6, (24, 24)).repeat(2, 0).repeat(2, 1)  # blocky objects
    found = np.where(rng.random(truth.shape) < 0.8, truth, rng.integers(0, 9, truth.shape))
    found = (found * 3) % 11  # other ids for the same objects
    for iou in (0.3, 0.5, 0.8):
        brute = 0
        for t in range(1, truth.max() + 1):
            a = truth == t
            ious = [(a & (found == f)).sum() / (a | (found == f)).sum() for f in range(1, 11)]
            brute += max(ious) >= iou
        assert matched_objects(found, truth, iou) == brute
    assert matched_objects(truth, truth) == len(np.unique(truth)) - 1
    assert matched_objects(np.zeros_like(truth), truth) == 0


def test_matched_objects_errors() -> None:
    a = np.zeros((4, 4), np.int32)
    with pytest.raises(TypeError, match="found must hold integer ids, got float32"):
        matched_objects(a.astype(np.float32), a)
    with pytest.raises(ValueError, match=r"truth has negative ids \(min -1\)"):
        matched_objects(a, a - 1)
    with pytest.raises(ValueError, match="same shape"):
        matched_objects(a, a[:2])
    with pytest.raises(ValueError, match=r"iou must be in \(0, 1\], got 0"):
        matched_objects(a, a, iou=0)


def test_otsu_mask_splits_two_levels() -> None:
    x = np.zeros((10, 10), np.float32)
    x[2:5, 2:5] = 1.0
    assert np.array_equal(otsu_mask(x), x > 0.5)


def test_ssim_and_psnr_match_skimage() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((40, 52, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ref = metrics.structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1,
        data_range=1,
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    ref2 = metrics.structural_similarity(
        a[..., 0],
        b[..., 0],
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
    )
    assert ssim(a[..., 0], b[..., 0]) == pytest.approx(ref2, abs=1e-9)
    assert psnr(a, b) == pytest.approx(metrics.peak_signal_noise_ratio(a, b, data_range=1))
    assert ssim(a, a) == 1.0 and psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="too small"):
        ssim(a[:8, :8], b[:8, :8])


# -- evaluation with known answers ----------------------------------------------------------


class Oracle(Translator):
    """Returns the given IF for any input, and the given IHC back: a perfect translator."""

    def __init__(self, if_: np.ndarray, ihc: np.ndarray) -> None:
        super().__init__()
        self.name = "oracle"
        self.channels = (Channel("DAPI", "nuclear"), Channel("marker", "marker"))
        self.register_buffer("if_", torch.from_numpy(np.array(if_, np.float32))[None])
        self.register_buffer("ihc", torch.from_numpy(ihc).permute(2, 0, 1)[None].float() / 255)
        self.head = nn.Linear(1, 1)  # a parameter, to check that its state is restored

    def to_if(self, ihc: torch.Tensor) -> torch.Tensor:
        return self.if_.expand(ihc.shape[0], -1, -1, -1)

    def to_ihc(self, if_: torch.Tensor) -> torch.Tensor:
        return self.ihc.expand(if_.shape[0], -1, -1, -1)


@pytest.fixture(scope="module")
def synth() -> list[EvalField]:
    return synth_fields(2, seed=3, size=96)


def _truth(field: EvalField) -> np.ndarray:
    """IF that is the ground truth itself: nuclei masks, and positive nuclei."""
    assert field.positive is not None
    nuclear = (field.labels > 0).astype(np.float32)
    ids = field.labels if field.cells is None else field.cells
    return np.stack([nuclear, field.positive[ids].astype(np.float32)])


def test_a_perfect_translator_scores_perfectly(synth: list[EvalField]) -> None:
    for field in synth:
        oracle = Oracle(_truth(field), field.ihc)
        row = evaluate(oracle, [field], variants=2).rows[0]
        assert row.nuclear_auc == 1.0 and row.otsu_dice == 1.0 and row.marker_auc == 1.0
        assert row.stability_dice == 1.0 and row.cycle_ssim == 1.0 and row.cycle_psnr == math.inf
        # Scores are about the channels, not their scale or direction: flipping them fails.
        flipped = evaluate(Oracle(1.0 - _truth(field), field.ihc), [field], variants=0).rows[0]
        assert flipped.nuclear_auc == 0.0 and flipped.marker_auc == 0.0
        assert math.isnan(flipped.stability_dice)


def test_the_synthetic_if_beats_optical_and_matches_the_reference(synth: list[EvalField]) -> None:
    optical = evaluate("optical", synth, variants=1)
    ref = reference(synth)
    for field, opt, real in zip(synth, optical.rows, ref.rows, strict=True):
        assert field.if_ is not None
        oracle = evaluate(Oracle(field.if_, field.ihc), [field], variants=0).rows[0]
        # The oracle's channels are the field's IF: the same scores as the reference row.
        assert (oracle.nuclear_auc, oracle.otsu_dice) == (real.nuclear_auc, real.otsu_dice)
        assert oracle.nuclear_r == pytest.approx(1.0) and oracle.marker_r == pytest.approx(1.0)
        assert oracle.nuclear_auc > 0.97 and oracle.marker_auc > 0.95
        assert opt.nuclear_auc < oracle.nuclear_auc and opt.otsu_dice < oracle.otsu_dice
        assert 0.9 < opt.nuclear_auc and 0.8 < opt.nuclear_r < 1.0
        assert opt.cycle_ssim > 0.999 and opt.cycle_psnr > 60 and opt.stability_dice > 0.9


def test_evaluate_leaves_inputs_and_the_translator_as_they_were(synth: list[EvalField]) -> None:
    field = synth[0]
    copies = [np.copy(a) for a in (field.ihc, field.labels, field.if_)]
    oracle = Oracle(field.if_, field.ihc).train()
    a = evaluate(oracle, [field], variants=2, seed=5)
    assert oracle.training and oracle.head.weight.requires_grad
    for before, after in zip(copies, (field.ihc, field.labels, field.if_), strict=True):
        assert np.array_equal(before, after)
    tr = load_model("optical")
    first, again = (evaluate(tr, synth, variants=2, seed=5) for _ in range(2))
    np.testing.assert_equal([astuple(r) for r in first.rows], [astuple(r) for r in again.rows])
    assert a.rows[0].model == "oracle"


def test_bad_input_is_named() -> None:
    img, ids = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int32)
    with pytest.raises(TypeError, match="ihc must be a uint8"):
        EvalField("f", img.astype(np.float32), ids)
    with pytest.raises(ValueError, match="labels must have the image's shape"):
        EvalField("f", img, ids[:4])
    ids[0, 0] = 3
    with pytest.raises(ValueError, match="largest id is 3"):
        EvalField("f", img, ids, positive=np.zeros(2, bool))
    with pytest.raises(ValueError, match=r"if_ must have shape \(C, 8, 8\)"):
        EvalField("f", img, ids, if_=np.zeros((8, 8), np.float32))
    field = EvalField("f", img, ids)
    with pytest.raises(TypeError, match="non-empty list of EvalField"):
        evaluate("optical", [])
    with pytest.raises(TypeError, match="items of type ndarray"):
        evaluate("optical", [img])
    with pytest.raises(ValueError, match="variants"):
        evaluate("optical", [field], variants=-1)
    with pytest.raises(TypeError, match="model: expected a name"):
        evaluate(3, [field])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no such folder"):
        load_fields("/no/such/folder")
    with pytest.raises(ValueError, match="DeepLIIF data not found"):
        load_fields("deepliif", shared_data="/no/such/folder")
    with pytest.raises(ValueError, match="labels: only used with a folder"):
        load_fields("synth", labels="/tmp")
    with pytest.raises(TypeError, match="rows must be FieldScores"):
        EvalReport(({"model": "a"},))  # type: ignore[arg-type]


def test_default_data_is_synthetic_without_the_shared_folder(tmp_path: Path) -> None:
    fields = load_fields(shared_data=tmp_path, n_synth=1, size=32)
    assert [f.name for f in fields] == ["synth_00000_membrane"]


def test_report_means_table_and_csv(tmp_path: Path) -> None:
    rows = (
        FieldScores("a", "f1", nuclear_auc=0.6, cycle_psnr=30.0),
        FieldScores("a", "f2", nuclear_auc=0.8),
        FieldScores("b", "f1", nuclear_auc=0.9),
    )
    report = EvalReport(rows)
    assert report.models == ["a", "b"]
    assert report.mean("a")["nuclear_auc"] == pytest.approx(0.7)
    assert report.mean("a")["cycle_psnr"] == 30.0  # nan fields are skipped
    assert math.isnan(report.mean("b")["marker_auc"])
    with pytest.raises(ValueError, match="pass one of them"):
        report.mean()
    lines = report.format_table().splitlines()
    assert lines[0].startswith("| model | fields | nuclear AUC")
    assert lines[2].startswith("| a | 2 | 0.700 | - |") and "| 30.0 |" in lines[2]
    with open(report.to_csv(tmp_path / "sub" / "r.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["model"], r["field"]) for r in table] == [("a", "f1"), ("a", "f2"), ("b", "f1")]
    assert float(table[1]["nuclear_auc"]) == 0.8 and table[1]["marker_auc"] == "nan"


def test_compare_always_includes_optical(synth: list[EvalField]) -> None:
    oracle = Oracle(synth[0].if_, synth[0].ihc)
    report = compare([oracle], synth[:1], variants=0)
    assert report.models == ["optical", "oracle", REFERENCE]
    assert compare(["optical"], synth[:1], variants=0, with_reference=False).models == ["optical"]


# -- data -----------------------------------------------------------------------------------


def test_folder_fields_have_no_marker_status_unless_given(tmp_path: Path) -> None:
    data = pytest.importorskip("restainaug.data")
    for f in synth_fields(2, size=48):
        data.write_image(tmp_path / "img" / f"{f.name}.png", f.ihc)
        data.write_labels(tmp_path / "lab" / f"{f.name}.png", f.labels)
    fields = load_fields(tmp_path / "img", tmp_path / "lab")
    assert [f.name for f in fields] == ["synth_00000_membrane", "synth_00001_nuclear"]
    report = evaluate("optical", fields, variants=0)
    assert all(math.isnan(r.marker_auc) and math.isnan(r.nuclear_r) for r in report.rows)
    assert all(r.nuclear_auc > 0.8 for r in report.rows)


def test_real_deepliif_fields(shared_data: Path) -> None:
    fields = load_fields("deepliif", shared_data=shared_data)
    assert [(f.name, int(f.labels.max())) for f in fields] == [("Bladder1", 183), ("Lung1", 60)]
    ref = reference(fields)
    optical = evaluate("optical", fields, variants=1)
    raw_fields = load_fields("deepliif", shared_data=shared_data, register=False)
    raw_ref, raw_optical = reference(raw_fields), evaluate("optical", raw_fields, variants=0)
    for real, opt, raw_real, raw_opt in zip(
        ref.rows, optical.rows, raw_ref.rows, raw_optical.rows, strict=True
    ):
        # The masks lie 6-9 px from the IHC and 4-5 px from the IF as stored: registered,
        # both real DAPI and colour deconvolution score clearly higher against them.
        assert real.nuclear_auc > raw_real.nuclear_auc + 0.015
        assert opt.nuclear_auc > raw_opt.nuclear_auc + 0.05
        # Registered real DAPI against the masks: AUC 0.95-0.98, Otsu Dice 0.73-0.81.
        assert 0.93 < real.nuclear_auc < 0.99 and 0.7 < real.otsu_dice < 0.85
        assert real.marker_auc > 0.9
        assert 0.7 < opt.nuclear_auc < real.nuclear_auc and opt.otsu_dice < real.otsu_dice
        assert opt.marker_auc > 0.85 and 0.3 < opt.nuclear_r and 0.5 < opt.marker_r
        assert opt.cycle_ssim > 0.999 and opt.stability_dice > 0.9


# -- command line ---------------------------------------------------------------------------


def test_cli_evaluate_on_synthetic_fields(tmp_path: Path, tiny_model_path: Path, capsys) -> None:
    out = tmp_path / "scores.csv"
    argv = ["evaluate", "--data", "synth", "--n-synth", "2", "--size", "48", "--variants", "1"]
    argv += ["--model", str(tiny_model_path), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| optical | 2 |" in text and "| tiny-test | 2 |" in text and "| real IF | 2 |" in text
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["optical"] * 2 + ["tiny-test"] * 2 + ["real IF"] * 2
    assert main(["evaluate", "--data", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cli_evaluate_scores_the_default_model_without_model(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scores.csv"
    argv = ["evaluate", "--data", "synth", "--n-synth", "1", "--size", "32", "--variants", "0"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert f"| {DEFAULT_MODEL} | 1 |" in capsys.readouterr().out
    with open(out, newline="") as fh:
        assert [r["model"] for r in csv.DictReader(fh)] == ["optical", DEFAULT_MODEL, "real IF"]


@pytest.mark.shared_data
def test_cli_evaluate_registers_deepliif_unless_told_not_to(shared_data: Path, tmp_path: Path):
    scores = {}
    for flag in ("--register", "--no-register"):
        out = tmp_path / f"{flag}.csv"
        argv = ["evaluate", "--data", "deepliif", "--shared-data", str(shared_data)]
        assert main([*argv, "--variants", "0", "--out", str(out), "--quiet", flag]) == 0
        with open(out, newline="") as fh:
            scores[flag] = {
                (r["model"], r["field"]): float(r["nuclear_auc"]) for r in csv.DictReader(fh)
            }
    assert scores["--register"].keys() == scores["--no-register"].keys()
    for key, registered in scores["--register"].items():
        assert registered > scores["--no-register"][key], key


def test_evaluate_takes_read_only_images_without_warnings(synth: list[EvalField]) -> None:
    import warnings

    field = synth[0]
    ihc = field.ihc.copy()
    ihc.setflags(write=False)  # e.g. np.asarray of a PIL image, or a memory map
    ro = replace(field, ihc=ihc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = evaluate("optical", [ro], variants=1).rows[0]
    assert astuple(got) == astuple(evaluate("optical", [field], variants=1).rows[0])


# -- old module paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("restainaug.metrics", "auc", "restainaug.evaluation.metrics"),
        ("restainaug.eval_report", "EvalReport", "restainaug.evaluation.report"),
        ("restainaug.eval_fields", "point_fields", "restainaug.evaluation"),
        ("restainaug.realism", "nucleus_features", "restainaug.evaluation.realism"),
    ],
)
def test_old_module_paths_warn_and_serve_the_moved_names(old: str, name: str, new: str) -> None:
    import importlib

    stub, target = importlib.import_module(old), importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: .* moved to {new}"):
        assert getattr(stub, name) is getattr(target, name)
    assert name in dir(stub)
    with pytest.raises(AttributeError):
        stub._private  # noqa: B018
    with pytest.raises(AttributeError):
        stub.no_such_name  # noqa: B018


def test_old_module_path_from_import_warns() -> None:
    with pytest.warns(DeprecationWarning, match="restainaug.realism is deprecated"):
        from restainaug.realism import realism as old
    from restainaug.evaluation.realism import realism

    assert old is realism


def test_the_library_imports_no_deprecated_module_path() -> None:
    import ast

    old = {f"restainaug.{m}" for m in ("metrics", "eval_report", "eval_fields", "realism")}
    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted((root / "restainaug").rglob("*.py")):
        package = list(path.relative_to(root).parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module] if node.module else base)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found += [f"{path.relative_to(root)}: {n}" for n in names if n in old]
    assert found == []
