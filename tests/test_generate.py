"""`restainaug generate`: in-silico data sets on disk, resumable, sharded, regenerable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_translator

import restainaug.generate as gen
import restainaug.generate.writer as writer
from restainaug.cli import build_parser, main
from restainaug.data import (
    UnmatchedFilesError,
    pair_folders,
    read_image,
    read_labels,
    write_image,
    write_labels,
)
from restainaug.generate import generate, regenerate
from restainaug.ops import RemoveMarker
from restainaug.policy import Sequential
from restainaug.presets import POLICIES, policy_preset
from restainaug.synth import SynthConfig
from restainaug.synth.dataset import write_dataset


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three labelled synthetic fields (48x64, nuclear marker) in images/ and labels/."""
    root = tmp_path_factory.mktemp("src")
    write_dataset(root, 3, SynthConfig(size=(48, 64), marker="membrane"), show_progress=False)
    return root


def _run(src: Path, out: Path, **kw: object) -> Path:
    kw = {"model": "optical", "show_progress": False, "variants": 2, **kw}
    return generate(src / "images", src / "labels", out, **kw)  # type: ignore[arg-type]


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_outputs_labels_and_manifest(src: Path, tmp_path: Path) -> None:
    manifest = json.loads(_run(src, tmp_path).read_text())
    assert manifest["complete"] and manifest["variants"] == 2 and manifest["seed"] == 0
    assert manifest["model"] == {"name": "optical", "source": "optical", "sha256": None}
    assert manifest["policy"]["name"] == "default"
    names = [o["name"] for o in manifest["outputs"]]
    assert names == [f"synth_{i:05d}_v{v}" for i in range(3) for v in range(3)]
    pairs = pair_folders(tmp_path / "images", tmp_path / "labels")
    assert [p.image.stem for p in pairs] == sorted(names)
    changed = 0
    for entry in manifest["outputs"]:
        stem = entry["name"].rsplit("_v", 1)[0]
        source = read_image(src / "images" / f"{stem}.png")
        out = read_image(tmp_path / entry["image"])
        assert out.dtype == np.uint8 and out.shape == source.shape
        labels = read_labels(tmp_path / entry["labels"])
        assert np.array_equal(labels, read_labels(src / "labels" / f"{stem}.png"))
        record = json.loads((tmp_path / entry["record"]).read_text())
        assert record["seed"] == gen.output_seed(0, stem, entry["variant"])
        assert "params" not in entry and "params" in record
        if entry["variant"] == 0:
            assert np.array_equal(out, source) and record["params"] is None
        else:
            assert record["params"]["apply"] is True and entry["operations"]
            changed += not np.array_equal(out, source)
    assert changed >= 5  # re-staining changes the images


def test_regenerate_equals_written_files(src: Path, tmp_path: Path) -> None:
    path = _run(src, tmp_path / "out", variants=4)
    for entry in json.loads(path.read_text())["outputs"]:
        again = regenerate(path, entry["name"])
        assert np.array_equal(again, read_image(tmp_path / "out" / entry["image"])), entry["name"]
    assert np.array_equal(
        regenerate(tmp_path / "out", "synth_00001_v2"),
        read_image(tmp_path / "out" / "images" / "synth_00001_v2.png"),
    )
    with pytest.raises(ValueError, match="No output named 'synth_00001_v9'"):
        regenerate(path, "synth_00001_v9")
    with pytest.raises(ValueError, match="not the one"):
        regenerate(path, "synth_00001_v1", model=tiny_translator())
    moved = tmp_path / "moved"
    shutil.copytree(src, moved)
    out2 = _run(moved, tmp_path / "out2", variants=1)
    write_labels(moved / "labels" / "synth_00000.png", np.zeros((48, 64), np.int32))
    with pytest.raises(ValueError, match="changed since synth_00000_v1"):
        regenerate(out2, "synth_00000_v1")


def test_outputs_do_not_depend_on_batch_size(src: Path, tmp_path: Path) -> None:
    _run(src, tmp_path / "b1", batch_size=1, policy="membrane")  # reads the nuclei
    _run(src, tmp_path / "b4", batch_size=4, policy="membrane")  # batches that mix fields
    assert _files(tmp_path / "b1") == _files(tmp_path / "b4")


def test_resume_after_interruption(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}
    real = writer.write_labels

    def crash_on_fifth(path: Path, labels: np.ndarray) -> Path:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the process dies between image and labels
        return real(path, labels)

    monkeypatch.setattr(writer, "write_labels", crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        _run(src, out)
    monkeypatch.setattr(writer, "write_labels", real)
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    assert len(list((out / "records").glob("*.json"))) == 4
    (out / "records" / "synth_00000_v1.json").unlink()  # its image and labels stay
    stray = out / "images" / ".synth_00001_v1.png.0123abcd.tmp"
    stray.write_bytes(b"half")
    kept = {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "records").glob("*.json")
    }
    kept_images = {name: (out / "images" / f"{Path(name).stem}.png").stat().st_ino for name in kept}
    _run(src, out)
    assert not stray.exists()
    for name, stat in kept.items():  # finished outputs are skipped, not rewritten
        p = out / "records" / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stat
        assert (out / "images" / f"{Path(name).stem}.png").stat().st_ino == kept_images[name]
    assert (out / "records" / "synth_00000_v1.json").is_file()
    _run(src, tmp_path / "clean")
    assert _files(out) == _files(tmp_path / "clean")


def test_shards_add_up_to_a_single_run(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sharded"
    _run(src, out, rank=1, world=2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["complete"] and manifest["outputs"] == []
    assert len(list((out / "records").glob("*.json"))) == 4  # outputs 1, 3, 5, 7 of 9
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    _run(src, out)  # rank and world from the environment, as under torchrun
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    _run(src, tmp_path / "single")
    assert _files(out) == _files(tmp_path / "single")
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_other_settings_in_the_same_folder_raise(src: Path, tmp_path: Path) -> None:
    _run(src, tmp_path)
    with pytest.raises(ValueError, match=r"other settings \(seed differ"):
        _run(src, tmp_path, seed=1)
    with pytest.raises(ValueError, match="policy, variants differ"):
        _run(src, tmp_path, policy="remove", variants=3)
    _run(src, tmp_path, batch_size=5)  # batching does not change outputs: allowed


def test_policies(src: Path, tmp_path: Path) -> None:
    assert set(POLICIES) == {"default", "nuclear", "membrane", "remove", "counterstain"}
    manifest = _run(src, tmp_path / "remove", policy="remove", variants=1)
    record = json.loads((tmp_path / "remove" / "records" / "synth_00000_v1.json").read_text())
    assert record["policy"]["name"] == "remove"
    assert record["operations"][0] == "RemoveMarker(keep=0)"
    assert not any(isinstance(v, dict) for v in record["params"].values())  # no tables
    nuclear = _run(src, tmp_path / "nuclear", policy="nuclear", variants=1)
    record = json.loads((tmp_path / "nuclear" / "records" / "synth_00000_v1.json").read_text())
    assert record["operations"][1].startswith("MarkerToNuclei(")
    tables = [v for v in record["params"].values() if isinstance(v, dict)]
    assert len(tables) == 2  # select and strength per nucleus, as base64
    for path in (manifest, nuclear):
        for entry in json.loads(path.read_text())["outputs"]:
            image = read_image(path.parent / entry["image"])
            assert np.array_equal(regenerate(path, entry["name"]), image)
    custom = Sequential(RemoveMarker(keep=(0.2, 0.5)))
    path = _run(src, tmp_path / "custom", policy=custom, variants=1, include_original=False)
    assert json.loads(path.read_text())["outputs"][0]["name"] == "synth_00000_v1"
    with pytest.raises(ValueError, match="custom policy; pass it as policy="):
        regenerate(path, "synth_00000_v1")
    written = read_image(path.parent / "images" / "synth_00000_v1.png")
    assert np.array_equal(regenerate(path, "synth_00000_v1", policy=custom), written)
    with pytest.raises(ValueError, match="no marker channel"):
        policy_preset("nuclear", marker=False)
    with pytest.raises(ValueError, match="expected one of"):
        _run(src, tmp_path / "x", policy="ki67")
    with pytest.raises(TypeError, match="policy: expected a name or an Op"):
        _run(src, tmp_path / "y", policy=3)


def test_large_fields_of_a_learned_model_have_no_seams(ihc: np.ndarray, tmp_path: Path) -> None:
    image = np.pad(ihc, ((0, 188), (0, 388), (0, 0)), mode="reflect")  # 700 x 900
    yy, xx = np.mgrid[:700, :900]
    labels = ((yy // 50) * 18 + xx // 50 + 1) * (((yy % 50 - 25) ** 2 + (xx % 50 - 25) ** 2) < 150)
    write_image(tmp_path / "in" / "big.png", image)
    write_labels(tmp_path / "in" / "big_mask.png", labels)
    tiled = tiny_translator()
    tiled.tile_size = 256  # 12 overlapping tiles
    path = generate(
        tmp_path / "in", tmp_path / "in", tmp_path / "out", 1, model=tiled, show_progress=False
    )
    written = read_image(tmp_path / "out" / "images" / "big_v1.png").astype(int)
    whole = tiny_translator()
    whole.tile_size = 4096
    again = regenerate(path, "big_v1", model=whole).astype(int)
    assert np.abs(written - again).max() <= 1  # tiles agree with the whole image
    assert np.array_equal(regenerate(path, "big_v1", model=tiled), written)
    with pytest.raises(ValueError, match="Translator object; pass it as model="):
        regenerate(path, "big_v1")


def test_labels_with_large_ids_are_kept(tmp_path: Path, ihc_tile: np.ndarray) -> None:
    labels = np.zeros((64, 64), np.int32)
    labels[10:30, 10:30] = 70_000
    write_image(tmp_path / "img" / "a.png", ihc_tile)
    write_labels(tmp_path / "lab" / "a.tif", labels)
    generate(tmp_path / "img", tmp_path / "lab", tmp_path / "out", 1, show_progress=False)
    assert np.array_equal(read_labels(tmp_path / "out" / "labels" / "a_v1.tif"), labels)


def test_bad_inputs(src: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"images: folder .*missing does not exist"):
        generate(tmp_path / "missing", src / "labels", tmp_path / "o", show_progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No image/label pairs"):
        generate(tmp_path / "empty", tmp_path / "empty", tmp_path / "o", show_progress=False)
    for kw, match in (
        ({"variants": 0}, "variants: expected an integer >= 1"),
        ({"batch_size": 0}, "batch_size"),
        ({"rank": 2, "world": 2}, r"0 <= rank < world \(2\)"),
        ({"seed": -1}, "seed: expected an integer >= 0"),
    ):
        with pytest.raises(ValueError, match=match):
            _run(src, tmp_path / "o", **kw)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            _run(src, tmp_path / "o", device="cuda")
    with pytest.raises(ValueError, match="would write into the input folders"):
        _run(src, src)
    write_image(tmp_path / "grey" / "g.png", np.zeros((8, 8), np.uint8))
    write_labels(tmp_path / "grey" / "g_mask.png", np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match="expected an 8-bit RGB image"):
        generate(tmp_path / "grey", tmp_path / "grey", tmp_path / "g", show_progress=False)


def test_cli_interrupted_says_how_to_resume(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "--images", str(src / "images"), "--labels", str(src / "labels")]
    args += ["--out", str(tmp_path / "out"), "--variants", "2", "--model", "optical", "--quiet"]
    real = writer.write_labels
    calls = {"n": 0}

    def ctrl_c_on_third(path: Path, labels: np.ndarray) -> Path:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(path, labels)

    monkeypatch.setattr(writer, "write_labels", ctrl_c_on_third)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run the same command again to resume" in err
    monkeypatch.setattr(writer, "write_labels", real)
    assert main(args) == 0
    assert "9 outputs" in capsys.readouterr().out


def test_unmatched_labels_say_what_to_do(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    shutil.copytree(src / "images", images)
    args = ["generate", "--images", str(images), "--out", str(tmp_path / "o"), "--quiet"]
    # Labels in another folder but no --labels: every image lacks labels.
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "3 image(s)" in err and "pass --labels DIR" in err and "strict=False" not in err
    labels = tmp_path / "labels"
    shutil.copytree(src / "labels", labels)
    next(labels.iterdir()).unlink()
    assert main([*args, "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "1 image(s)" in err and "move the unmatched files out" in err
    assert "strict=False" not in err and "--labels DIR" not in err
    with pytest.raises(UnmatchedFilesError, match=r"1 image.*move the unmatched") as info:
        generate(images, labels, tmp_path / "o", show_progress=False)
    assert "strict=False" not in str(info.value)
    with pytest.raises(UnmatchedFilesError, match="strict=False"):
        pair_folders(images, labels)  # where strict=False is an option, it is the advice


def test_cli(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["generate", "--images", str(src / "images"), "--labels", str(src / "labels")]
    args += ["--out", str(out), "--variants", "2", "--model", "optical", "--quiet"]
    assert main([*args, "--policy", "nuclear", "--batch-size", "4", "--no-original"]) == 0
    assert "6 outputs" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["name"] == "nuclear" and not manifest["include_original"]
    assert len(list((out / "images").glob("*.png"))) == 6
    assert main([*args, "--policy", "nuclear", "--no-original"]) == 0  # resumes: nothing to do
    assert main([*args, "--seed", "3", "--no-original", "--policy", "nuclear"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main([*args[:2], str(tmp_path / "nope"), *args[3:]]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*args, "--variants", "0"]) == 2
    assert "variants: expected an integer >= 1" in capsys.readouterr().err
    policies = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert set(policies["generate"]._option_string_actions["--policy"].choices) == set(POLICIES)


def test_public_names_import_from_the_package() -> None:
    from restainaug.generate import fields, replay

    assert gen.__all__ == ["generate", "output_seed", "regenerate"]
    assert gen.generate is writer.generate and callable(gen.generate)
    assert gen.regenerate is replay.regenerate and gen.output_seed is fields.output_seed
