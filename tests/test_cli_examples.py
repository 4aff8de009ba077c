"""The command line and the examples, at a tiny size."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

import restainaug
from restainaug.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_the_grid(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out), "--n", "4", "--seed", "1"]) == 0
    img = np.asarray(PIL.Image.open(out))
    assert img.shape == (2 * (256 + 34), 4 * 256, 3)
    text = capsys.readouterr().out
    assert "variant 4" in text and f"model {restainaug.DEFAULT_MODEL!r}" in text


def test_demo_on_a_user_image(tmp_path: Path, ihc_tile: np.ndarray) -> None:
    src = tmp_path / "tile.png"
    PIL.Image.fromarray(ihc_tile).save(src)
    assert main(["demo", "--image", str(src), "--out", str(tmp_path / "o.png"), "--n", "1"]) == 0


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--model", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "No model named 'nope'" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert (
        main(["demo", "--image", str(tmp_path / "bad.png"), "--out", str(tmp_path / "y.png")]) == 2
    )
    assert "Cannot read image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--n", "1"],
        ["evaluate", "--data", "synth", "--n-synth", "1", "--size", "32", "--variants", "0"],
    ],
    ids=["demo", "evaluate"],
)
def test_cuda_without_a_gpu_is_one_line(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*argv, "--out", str(tmp_path / "out"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'cuda' was requested but CUDA is not available" in err


def test_models_lists_optical_and_the_default(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"{restainaug.DEFAULT_MODEL} (default)" in out and "optical" in out


def test_quickstart_example_runs(monkeypatch) -> None:
    monkeypatch.setattr(
        sys, "argv", ["quickstart.py", "--steps", "2", "--workers", "0", "--size", "64"]
    )
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
