"""`restainaug synth`: a labelled synthetic data set on disk, resumable and regenerable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from restainaug.cli import main
from restainaug.data import pair_folders, read_image, read_labels, read_multiplex
from restainaug.synth import SynthConfig, synthesize
from restainaug.synth.dataset import field_seed, write_dataset

SMALL = SynthConfig(size=(48, 64), marker="nuclear")


def test_layout_manifest_and_regeneration(tmp_path: Path) -> None:
    manifest = json.loads(
        write_dataset(tmp_path, 3, SMALL, seed=5, show_progress=False).read_text()
    )
    assert manifest["n"] == 3 and len(manifest["fields"]) == 3 and manifest["seed"] == 5
    pairs = pair_folders(tmp_path / "images", tmp_path / "labels")
    assert [p.image.name for p in pairs] == [
        "synth_00000.png",
        "synth_00001.png",
        "synth_00002.png",
    ]
    entry = manifest["fields"][1]
    assert entry["seed"] == field_seed(5, 1)
    again = synthesize(SMALL, seed=entry["seed"])  # any output can be regenerated
    assert np.array_equal(read_image(tmp_path / entry["image"]), again.ihc)
    assert np.array_equal(read_labels(tmp_path / entry["labels"]), again.labels)
    assert entry["positive"] == np.flatnonzero(again.positive).tolist()
    if_ = read_multiplex(
        tmp_path / entry["if"], channels={"nuclear": "DAPI", "marker": "marker"}, normalize=None
    )
    assert np.allclose(if_.data, again.if_)


def test_resume_keeps_finished_fields_and_refuses_other_settings(tmp_path: Path) -> None:
    write_dataset(tmp_path, 2, SMALL, show_progress=False)
    first = tmp_path / "images" / "synth_00000.png"
    stamp = first.stat().st_mtime_ns
    (tmp_path / "images" / "synth_00001.png").unlink()  # an interrupted run
    write_dataset(tmp_path, 3, SMALL, show_progress=False)
    assert first.stat().st_mtime_ns == stamp
    assert len(list((tmp_path / "images").glob("*.png"))) == 3
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="other settings"):
        write_dataset(
            tmp_path, 3, SynthConfig(size=(48, 64), marker="membrane"), show_progress=False
        )
    with pytest.raises(ValueError, match="n: expected"):
        write_dataset(tmp_path / "x", 0, SMALL)


def test_cli(tmp_path: Path, capsys) -> None:
    args = [
        "synth",
        "--out",
        str(tmp_path),
        "--n",
        "2",
        "--marker",
        "membrane",
        "--size",
        "48",
        "--level",
        "2+",
        "--positive-fraction",
        "1.0",
        "--quiet",
    ]
    assert main(args) == 0
    assert "2 fields (membrane marker)" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["marker_level"] == "2+"
    assert main(["synth", "--out", str(tmp_path / "y"), "--n", "1", "--level", "9+"]) == 2
    assert "--level: expected 0, 1+, 2+, 3+" in capsys.readouterr().err
