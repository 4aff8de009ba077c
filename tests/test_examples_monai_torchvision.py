"""The MONAI and torchvision examples, run in their ``--smoke`` mode as a user would run them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(script: str, *args: str, timeout: float = 300) -> str:
    """Run ``examples/<script>`` in a fresh interpreter; return its stdout (fail on rc != 0)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    ours = [
        line
        for line in proc.stderr.splitlines()
        if "Warning" in line and ("restainaug" in line or "examples" in line)
    ]
    assert not ours, "warnings from restainaug or the example:\n" + "\n".join(ours)
    return proc.stdout


def test_monai_unet_smoke(tmp_path: Path) -> None:
    pytest.importorskip("monai")
    out = tmp_path / "results.csv"
    text = run_example("monai/train_unet.py", "--smoke", "--out", str(out))
    assert "validation fields: membrane 1, nuclear 1" in text
    for mode in ("none", "dataloader", "gpu-batch"):
        assert f"[{mode}] step 3/3" in text
    header = next(line for line in text.splitlines() if line.strip().startswith("mode"))
    assert header.split() == ["mode", "steps", "s/step", "Dice", "membrane", "Dice", "nuclear"]
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["mode"] for r in rows] == ["none", "dataloader", "gpu-batch"]
    for r in rows:
        assert r["steps"] == "3" and 0.0 <= float(r["Dice nuclear"]) <= 1.0


def test_monai_unet_on_user_folders(tmp_path: Path) -> None:
    """``--images/--labels``: one field in five is held out for validation."""
    pytest.importorskip("monai")
    from restainaug.synth import SynthConfig
    from restainaug.synth.dataset import write_dataset

    write_dataset(tmp_path, 5, SynthConfig(size=(64, 64)), seed=3, show_progress=False)
    text = run_example(
        "monai/train_unet.py",
        "--smoke",
        "--restain",
        "gpu-batch",
        "--images",
        str(tmp_path / "images"),
        "--labels",
        str(tmp_path / "labels"),
        "--workers",
        "0",
    )
    assert "train fields: 4; validation fields: val 1" in text
    assert "[gpu-batch] step 3/3" in text and "Dice val" in text


def test_torchvision_loader_smoke() -> None:
    pytest.importorskip("torchvision")
    text = run_example("torchvision/loader.py", "--smoke")
    assert "iterated 4 samples in 2 batches" in text
    assert "distinct draws: worker 0: 2, worker 1: 2; repeated: 0 -> ok" in text
    assert "same seed again: identical draws and batches -> ok" in text
    assert "labels kept: 4/4 masks returned as the same object" in text
    assert text.rstrip().endswith("all checks passed")
