"""The StarDist example: a tiny end-to-end run of every arm, and its report arithmetic."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from test_examples_monai_torchvision import ROOT, run_example

EXAMPLE = ROOT / "examples" / "stardist"


def _module():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("train_stardist", EXAMPLE / "train_stardist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_stardist_smoke_runs_every_arm(tmp_path: Path) -> None:
    pytest.importorskip("stardist")
    pytest.importorskip("tensorflow")
    import restainaug

    out = tmp_path / "out"
    text = run_example(
        "stardist/train_stardist.py", "--smoke", "--out", str(out), "--work", str(tmp_path / "w"),
        timeout=600,
    )  # fmt: skip
    arms = ["none", "hed", "restain", "insilico", "optical", "reference"]
    if restainaug.DEFAULT_MODEL == "optical":
        arms.remove("optical")
        assert "arm 'optical' skipped" in text
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["arm"] for r in rows] == arms
    for r in rows:
        assert r["setting"] == "synthetic" and r["steps"] == "2"
        assert all(0.0 <= float(r[k]) <= 1.0 for k in ("f1", "precision", "recall"))
        # The re-staining arms record the target-pattern policy; the others record none.
        online = r["arm"] in ("restain", "optical")
        assert r["policy"] == ("nuclear" if online or r["arm"] == "insilico" else "")
        assert r["p"] == ("0.8" if online else "")
    # The offline arm trained on the generated data set: originals + 1 variant per field.
    made = sorted(p.name for p in (tmp_path / "w" / "synthetic").glob("insilico-*/images/*.png"))
    assert len(made) == 2 * 3 and made[0].endswith("_v0.png") and made[1].endswith("_v1.png")
    with (out / "summary.csv").open(newline="") as f:
        assert [r["arm"] for r in csv.DictReader(f)] == arms
    assert (out / "f1.png").stat().st_size > 1000
    table = (out / "summary.md").read_text()
    assert all(f"| `{arm}` | 1 |" in table for arm in arms)
    # A rerun with the same --out resumes: nothing is trained again, the results stay.
    before = (out / "results.csv").read_text()
    again = run_example("stardist/train_stardist.py", "--smoke", "--out", str(out), timeout=300)
    assert f"resuming: {len(arms)} runs already in" in again
    assert " seed 0 " not in again  # no run printed its scores: none was trained
    assert (out / "results.csv").read_text() == before


def test_summary_means_spread_and_gap_closed() -> None:
    ex = _module()
    rows = [
        {"arm": "none", "f1": 0.5, "precision": 0.6, "recall": 0.4},
        {"arm": "none", "f1": 0.6, "precision": 0.6, "recall": 0.6},
        {"arm": "restain", "f1": 0.75, "precision": 0.8, "recall": 0.7},
        {"arm": "restain", "f1": 0.75, "precision": 0.8, "recall": 0.7},
        {"arm": "reference", "f1": 0.95, "precision": 0.9, "recall": 1.0},
    ]
    # Arms come out in the order of ARMS whatever the order of the runs.
    assert [e["arm"] for e in ex.summarise(rows[::-1])] == ["none", "restain", "reference"]
    summary = {e["arm"]: e for e in ex.summarise(rows)}
    assert summary["none"]["f1"] == 0.55 and summary["none"]["runs"] == 2
    assert summary["none"]["f1_sd"] == pytest.approx(np.std([0.5, 0.6], ddof=1), abs=1e-4)
    assert summary["restain"]["f1_sd"] == 0.0
    # (0.75 - 0.55) / (0.95 - 0.55) of the gap to the in-domain reference
    assert summary["restain"]["gap_closed"] == pytest.approx(0.5)
    assert summary["reference"]["gap_closed"] == pytest.approx(1.0)
    no_ref = ex.summarise(rows[:4])
    assert all(e["gap_closed"] == "" for e in no_ref)
    # a reference within MIN_GAP of `none` leaves no gap to speak of
    close = [*rows[:4], {"arm": "reference", "f1": 0.58, "precision": 0.6, "recall": 0.6}]
    assert all(e["gap_closed"] == "" for e in ex.summarise(close))


def test_results_of_other_policies_are_kept_but_not_resumed(tmp_path: Path) -> None:
    ex = _module()
    path = tmp_path / "results.csv"
    # A file from before the policy was recorded: its runs used policy "default" at p 0.5.
    path.write_text(
        "setting,arm,seed,steps,f1,precision,recall,train_s,s_per_step\n"
        "synthetic,none,0,800,0.7,0.8,0.6,1.0,0.1\n"
        "synthetic,restain,0,800,0.75,0.8,0.7,1.0,0.1\n"
        "synthetic,insilico,0,800,0.72,0.8,0.7,1.0,0.1\n"
    )
    rows = ex.read_results(path)
    assert [(r["arm"], r["policy"], r["p"]) for r in rows] == [
        ("none", "", ""), ("restain", "default", 0.5), ("insilico", "default", ""),
    ]  # fmt: skip
    assert [r["arm"] for r in rows if ex.same_run(r, 800, "default", 0.5)] == [
        "none", "restain", "insilico",
    ]  # fmt: skip
    # Another policy or p re-runs the re-staining arms only; other step counts run everything.
    assert [r["arm"] for r in rows if ex.same_run(r, 800, "nuclear", 0.8)] == ["none"]
    assert [r["arm"] for r in rows if ex.same_run(r, 800, "default", 0.8)] == ["none", "insilico"]
    assert not [r for r in rows if ex.same_run(r, 400, "default", 0.5)]
    # Written back, every row survives with its policy and p.
    ex.write_csv(path, rows)
    assert ex.read_results(path) == rows


def test_flips_move_image_and_labels_together() -> None:
    ex = _module()
    f = ex.flips(np.random.default_rng(0))
    x = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    y = np.arange(5 * 7, dtype=np.int32).reshape(5, 7)
    for _ in range(8):
        x2, y2 = f(x, y)
        # pixel values travel with their label: x[..., 0] == 3 * y everywhere
        assert np.array_equal(x2[..., 0], 3 * y2)


@pytest.mark.shared_data
def test_deepliif_setting_pairs_registered_tiles(shared_data: Path) -> None:
    sys.path.insert(0, str(EXAMPLE))
    import stardist_data

    from restainaug.data import read_deepliif

    settings = stardist_data.deepliif(shared_data)
    assert [s.name for s in settings] == ["deepliif-fold0", "deepliif-fold1"]
    fold0, fold1 = settings
    assert len(fold0.train) == len(fold0.test) == len(fold0.ref_train) == 4  # 2 fields x 2
    field = read_deepliif(shared_data / "deepliif" / "train" / "Bladder1.png", register=True)
    h, w = field.labels.shape[0] // 2, field.labels.shape[1] // 2
    # Fold 0 trains on quadrants 0 and 3 (hematoxylin-only) and tests on 1 and 2 (Ki67).
    assert np.array_equal(fold0.train[0][0], field.hematoxylin[:h, :w])
    assert np.array_equal(fold0.test[0][0], field.ihc[:h, w:])
    assert np.array_equal(fold0.test[0][1], field.labels[:h, w:])
    assert np.array_equal(fold1.train[0][0], field.hematoxylin[:h, w:])
    for image, labels in fold0.test + fold0.train:
        assert image.shape[:2] == labels.shape and labels.dtype == np.int32


@pytest.mark.shared_data
def test_bcdata_setting_trains_on_deepliif_and_tests_at_bcdata_points(shared_data: Path) -> None:
    sys.path.insert(0, str(EXAMPLE))
    import stardist_data

    from restainaug.data.points import read_points

    (setting,) = stardist_data.bcdata(shared_data)
    assert setting.name == "deepliif-bcdata" and not setting.ref_train
    assert len(setting.train) == 8  # every quadrant of both DeepLIIF fields
    assert len(setting.test) == len(setting.test_points) == 26
    xy, positive = read_points(shared_data / "bcdata_ki67" / "points" / "0.csv")
    first_xy, first_pos = setting.test_points[0]
    assert np.array_equal(first_xy, xy) and np.array_equal(first_pos, positive)
    assert sum(int(p.sum()) for _, p in setting.test_points) == 1371  # positive points


def test_point_scored_results_keep_their_recalls_in_files_and_tables(tmp_path: Path) -> None:
    ex = _module()
    rows = [
        {"setting": "s", "arm": "none", "seed": 0, "steps": 5, "policy": "", "p": "",
         "f1": 0.5, "precision": 0.4, "recall": 0.6, "recall_positive": 0.3,
         "recall_negative": 0.8, "train_s": 1.0, "s_per_step": 0.2},
        {"setting": "s", "arm": "restain", "seed": 0, "steps": 5, "policy": "nuclear", "p": 0.8,
         "f1": 0.6, "precision": 0.5, "recall": 0.7, "recall_positive": 0.6,
         "recall_negative": 0.8, "train_s": 1.0, "s_per_step": 0.2},
    ]  # fmt: skip
    older = {k: v for k, v in rows[0].items() if k not in ex.POINT_KEYS}
    path = tmp_path / "results.csv"
    ex.write_csv(path, [older, *rows])  # a file with rows from before the recall columns
    back = ex.read_results(path)
    assert back[0]["recall_positive"] == "" and back[2]["recall_positive"] == 0.6
    table = ex.markdown(ex.summarise(back[1:]), "t")
    assert "recall, positive" in table
    assert "| 0.300 | 0.800 |" in table and "| 0.600 | 0.800 |" in table
    assert "recall, positive" not in ex.markdown(ex.summarise([back[0]]), "t")
