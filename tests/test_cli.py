"""The command line: one module per sub-command; train, resume and export in-process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from restainaug.cli import COMMANDS, build_parser, main
from restainaug.cli.synth import marker_level
from restainaug.cli.train import overrides
from restainaug.train import load_checkpoint

TINY = [
    "data.synthetic_size=64",
    "data.patch_size=32",
    "optim.pool_size=2",
    'model.generator={"ngf": 4, "n_blocks": 1}',
    'model.discriminator={"ndf": 4, "n_layers": 2}',
    "run.sample_every=0",
    "run.threads=1",
]


#: Each sub-command with its required arguments, in the order of ``--help``.
REQUIRED = {
    "demo": [],
    "models": [],
    "synth": ["--out", "o", "--n", "1"],
    "generate": ["--images", "i", "--out", "o"],
    "evaluate": [],
    "train": [],
    "export": ["RUN", "--name", "x"],
}


def test_every_sub_command_has_its_module() -> None:
    parser = build_parser()
    assert list(COMMANDS) == list(REQUIRED)
    for name, module in COMMANDS.items():
        args = parser.parse_args([name, *REQUIRED[name]])
        assert args.func is module.run and args.command == name


@pytest.mark.parametrize(
    ("text", "level"), [("mixed", None), ("0", "0"), ("3+", "3+"), ("0.45", 0.45)]
)
def test_synth_levels(text: str, level: str | float | None) -> None:
    assert marker_level(text) == level


def test_synth_bad_level_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "s"), "--n", "1", "--level", "4+"]) == 2
    assert capsys.readouterr().err.strip() == (
        "restainaug synth: error: --level: expected 0, 1+, 2+, 3+, mixed or an optical density, "
        "got '4+'."
    )


def test_train_options_become_overrides_that_set_wins() -> None:
    args = build_parser().parse_args(
        ["train", "--steps", "4", "--if", "a.tif", "b.tif", "--set", "optim.steps=9", "--quiet"]
    )
    assert overrides(args) == [
        "optim.steps=4",
        'data.if=["a.tif", "b.tif"]',
        "optim.steps=9",
        "run.progress=false",
    ]
    assert overrides(argparse.Namespace(**{**vars(args), "quiet": False, "set": None})) == [
        "optim.steps=4",
        'data.if=["a.tif", "b.tif"]',
    ]


def test_train_resume_a_moved_run_then_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    sets = [x for item in TINY for x in ("--set", item)]
    argv = ["train", "--synthetic", "2", "--steps", "2", "--out", str(run), "--quiet", *sets]
    assert main(argv) == 0
    assert f"restainaug train: 2 steps in {run}" in capsys.readouterr().out
    moved = run.rename(tmp_path / "moved")
    # The run folder alone: its checkpoint holds the config, run.out follows the move.
    assert main(["train", "--resume", str(moved), "--steps", "3", "--quiet"]) == 0
    assert f"restainaug train: 3 steps in {moved}" in capsys.readouterr().out
    assert load_checkpoint(moved)["step"] == 3
    assert json.loads((moved / "config.json").read_text())["run"]["out"] == str(moved)
    assert main(["export", str(moved), "--name", "tiny", "--licence", "CC0-1.0"]) == 0
    card = moved / "export" / "tiny.json"
    assert f"restainaug export: wrote {card} and tiny.safetensors" in capsys.readouterr().out
    assert json.loads(card.read_text())["licence"] == "CC0-1.0"
    # --out names the destination folder, where NAME.json and NAME.safetensors go.
    assert main(["export", str(moved), "--name", "tiny", "--out", str(tmp_path / "models")]) == 0
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "tiny.json",
        "tiny.safetensors",
    ]


@pytest.mark.parametrize(
    ("command", "target", "hint"),
    [
        ("synth", "restainaug.synth.dataset.write_dataset", "run the same command again"),
        ("train", "restainaug.train.fit", "restainaug train --resume RUN_FOLDER"),
        ("demo", "restainaug.demo.run_demo", None),
    ],
)
def test_ctrl_c_is_one_line_with_what_to_do(
    command: str,
    target: str,
    hint: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    argv = {
        "synth": ["synth", "--out", str(tmp_path / "s"), "--n", "1", "--quiet"],
        "train": ["train", "--synthetic", "1", "--steps", "1", "--out", str(tmp_path / "r")],
        "demo": ["demo", "--out", str(tmp_path / "d.png")],
    }[command]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"restainaug {command}: interrupted")
    assert (hint in err) if hint else err.strip().endswith("interrupted.")


def test_train_init_adapts_the_default_model_to_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image
    from skimage.data import immunohistochemistry

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    img = immunohistochemistry()
    for i in range(4):
        Image.fromarray(img[64 * i : 64 * i + 64, :64]).save(tiles / f"t{i}.png")
    run = tmp_path / "run"
    common = ["--ihc", str(tiles), "--out", str(run), "--steps", "2", "--quiet",
              "--set", "data.patch_size=32", "--set", "data.val_synthetic=0"]  # fmt: skip
    assert main(["train", "--init", "default", *common]) == 0
    out = capsys.readouterr().out
    assert "adaptation (scores without labels" in out and "tiles jitter_error" in out
    assert json.loads((run / "config.json").read_text())["model"]["init"] == "default"
    common[3] = str(tmp_path / "r2")
    assert main(["train", "--init", "optical", *common]) == 2
    assert "not an unmixing model" in capsys.readouterr().err
    assert main(["train", "--init", "default", "--out", str(tmp_path / "r3")]) == 2
    assert "give a folder of your unlabelled IHC tiles with --ihc" in capsys.readouterr().err
    # Tiles smaller than the patch (128 by default): a one-line error that names the tile.
    assert main(["train", "--init", "default", *common[:4]]) == 2
    assert "t0.png is 64x64 (HxW), smaller than the patch size 128" in capsys.readouterr().err
