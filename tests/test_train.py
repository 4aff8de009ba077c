"""Training subpackage: config, pool, losses, checkpoints, fit, export (in-process, tiny nets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restainaug import RestainTransform, load_model
from restainaug.stains import OpticalTranslator
from restainaug.train import (
    TrainConfig,
    apply_overrides,
    export_run,
    fit,
    load_checkpoint,
    load_config,
    resume_config,
)
from restainaug.train.batches import StepBatches
from restainaug.train.checkpoint import latest_checkpoint, save_checkpoint
from restainaug.train.data import training_images, validation_fields
from restainaug.train.distributed import Distributed, is_main_process, process_rank
from restainaug.train.identity import identity_inputs, identity_mode
from restainaug.train.pool import ImagePool
from restainaug.train.trainer import Trainer, _amp_dtype, linear_decay
from restainaug.translator import Channel

TINY = [
    "data.synthetic=2",
    "data.synthetic_size=64",
    "data.patch_size=32",
    "optim.batch_size=2",
    "optim.pool_size=3",
    'model.generator={"ngf": 4, "n_blocks": 1}',
    'model.discriminator={"ndf": 4, "n_layers": 2}',
    "run.progress=false",
    "run.sample_every=0",
    "run.log_every=1",
]
CHANNELS = (Channel("DAPI", "nuclear"), Channel("marker", "marker"))


def tiny_config(out: Path, *extra: str) -> TrainConfig:
    return apply_overrides(TrainConfig(), [f"run.out={out}", *TINY, *extra])


# -- config -----------------------------------------------------------------------------------
def test_config_round_trip_and_files(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", "optim.steps=7", 'data.if=["a.tif"]')
    assert cfg.data.if_ == ["a.tif"] and cfg.optim.steps == 7
    assert cfg.model.generator == {"ngf": 4, "n_blocks": 1}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_config(path) == cfg
    yaml = pytest.importorskip("yaml")
    ypath = tmp_path / "cfg.yaml"
    ypath.write_text(yaml.safe_dump(cfg.to_dict()))
    assert load_config(ypath) == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.stepz=3", "unknown field 'stepz'"),
        ("optimiser.steps=3", "unknown section"),
        ("optim.steps", "expected section.field=value"),
        ("optim.steps=0", "optim.steps: expected an int >= 1"),
        ("model.size=huge", "model.size"),
        ("optim.identity=mirror", "optim.identity"),
        ("run.amp=fp8", "run.amp"),
        ("data.synthetic=-1", "data.synthetic"),
        ("optim.decay_steps=100", "optim.decay_steps"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, "optim.steps=10", override)


def test_config_needs_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no IHC training images"):
        fit(apply_overrides(TrainConfig(), [f"run.out={tmp_path}"]))
    with pytest.raises(ValueError, match="no IF training images"):
        fit(apply_overrides(TrainConfig(), [f"run.out={tmp_path}", 'data.ihc=["x.png"]']))
    bad = tmp_path / "bad.json"
    bad.write_text('{"optim": {"lr": 1e-3, "momentum": 0.9}}')
    with pytest.raises(ValueError, match=r"unknown fields \['momentum'\] in \[optim\]"):
        load_config(bad)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.json")


# -- pieces -----------------------------------------------------------------------------------
def test_pool_state_replays_exactly() -> None:
    pool = ImagePool(4, seed=3)
    for i in range(6):
        pool.query(torch.full((2, 1, 2, 2), float(i)))
    state = pool.state_dict()
    copy = ImagePool(4, seed=99)
    copy.load_state_dict(state)
    for i in range(6, 12):
        x = torch.full((3, 1, 2, 2), float(i))
        assert torch.equal(pool.query(x), copy.query(x))
    assert len(pool.images) == 4
    assert torch.equal(ImagePool(0).query(x), x)


def test_step_batches_shard_the_stream() -> None:
    one = [i for batch in StepBatches(0, 4, 3, rank=0, world=1) for i in batch]
    two = sorted(
        i for r in range(2) for batch in StepBatches(0, 2, 3, rank=r, world=2) for i in batch
    )
    assert one == list(range(12)) and two == one
    # Resuming at step 2 yields exactly the tail of the uninterrupted stream.
    assert list(StepBatches(2, 4, 3)) == list(StepBatches(0, 4, 3))[2:]


def test_linear_decay_schedule() -> None:
    f = linear_decay(10, 4)
    assert [round(f(s), 2) for s in range(11)] == [1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0]


def test_amp_choice() -> None:
    cpu = torch.device("cpu")
    assert _amp_dtype("auto", cpu) is None and _amp_dtype("bf16", cpu) is None
    assert _amp_dtype("none", torch.device("cuda")) is None
    assert _amp_dtype("fp16", torch.device("cuda")) is torch.float16


def test_optical_identity_stand_in_inverts_itself() -> None:
    opt = OpticalTranslator(residual="absolute")
    b = torch.rand(2, 2, 8, 8) * 0.8 * 2 - 1  # nominal 0..0.8, within the clipping range
    a, _ = identity_inputs("optical", torch.zeros(2, 3, 8, 8), b, opt, 0, 1, 1.5)
    assert a is not None and a.shape == (2, 3, 8, 8) and a.min() >= -1 and a.max() <= 1
    _, back = identity_inputs("optical", a, b, opt, nuclear=0, marker=1, scale=1.5)
    assert back is not None and torch.allclose(back, b, atol=1e-4)
    # Channels by role: the marker first, a third channel left at zero (-1 on this scale).
    b3 = torch.stack([b[:, 1], torch.full_like(b[:, 0], -1), b[:, 0]], dim=1)
    _, swapped = identity_inputs("optical", a, b3, opt, nuclear=2, marker=0, scale=1.5)
    assert swapped is not None and torch.allclose(swapped, b3, atol=1e-4)


def test_identity_modes() -> None:
    assert identity_mode("auto", 2) == "optical" and identity_mode("auto", 3) == "same"
    assert identity_mode("none", 2) == "none"
    with pytest.raises(ValueError, match="3-channel IF"):
        identity_mode("same", 2)
    a, b = torch.rand(1, 3, 8, 8) * 2 - 1, torch.rand(1, 2, 8, 8) * 2 - 1
    opt = OpticalTranslator(residual="absolute")
    assert identity_inputs("none", a, b, opt, 0, 1, 1.5) == (None, None)
    same = identity_inputs("same", a, b, opt, 0, 1, 1.5)
    assert same[0] is b and same[1] is a


def test_identity_same_needs_three_channels(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "optim.identity=same")
    with pytest.raises(ValueError, match="3-channel IF"):
        Trainer(cfg, CHANNELS, Distributed())


def test_train_step_returns_losses_and_changes_every_network(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(tmp_path), CHANNELS, Distributed())
    before = {k: v.clone() for k, v in trainer.gens.state_dict().items()}
    d_before = {k: v.clone() for k, v in trainer.discs.state_dict().items()}
    losses = trainer.train_step(torch.rand(2, 3, 32, 32), torch.rand(2, 2, 32, 32))
    assert set(losses) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B", "G"}
    assert all(np.isfinite(v) for v in losses.values())
    assert all(not torch.equal(before[k], v) for k, v in trainer.gens.state_dict().items())
    assert all(not torch.equal(d_before[k], v) for k, v in trainer.discs.state_dict().items())
    assert trainer.step == 1


# -- data -------------------------------------------------------------------------------------
def test_training_images_from_folders(tmp_path: Path) -> None:
    from restainaug.data import write_image, write_plane

    ihc_dir, if_dir = tmp_path / "ihc", tmp_path / "if"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(ihc_dir / f"f{i}.png", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
        field = if_dir / f"field{i}"
        for name in ("DAPI", "HER2", "CD45"):
            write_plane(field / f"{name}.tiff", rng.random((40, 40), dtype=np.float32))
    cfg = tiny_config(
        tmp_path / "run",
        f'data.ihc=["{ihc_dir}"]',
        f'data.if=["{if_dir}"]',
        'data.if_channels={"nuclear": "DAPI", "marker": "HER2"}',
        "data.synthetic=0",
    )
    ihc, if_, channels = training_images(cfg.data, seed=0)
    assert [Path(p).name for p in ihc] == ["f0.png", "f1.png"]
    assert len(if_) == 2 and if_[0].shape == (2, 40, 40)
    assert [c.name for c in channels] == ["DAPI", "HER2"]
    assert 0 <= if_[0].min() and if_[0].max() <= 1  # percentile-normalised
    with pytest.raises(FileNotFoundError, match="does not exist"):
        training_images(apply_overrides(cfg, [f'data.ihc=["{tmp_path / "nope"}"]']).data, 0)
    wrong = apply_overrides(cfg, ['data.if_channels={"nuclear": "HH3"}'])
    with pytest.raises(ValueError, match="HH3"):
        training_images(wrong.data, 0)


def test_validation_fields_synthetic_are_cropped_to_the_stride(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "data.val_synthetic=2", "data.val_size=50")
    fields = validation_fields(cfg.data, seed=0, multiple=4)
    assert len(fields) == 2
    assert fields[0].ihc.shape == (3, 48, 48) and fields[0].nuclear.shape == (48, 48)
    assert fields[0].marker is not None and 0 <= float(fields[0].ihc.min())


# -- checkpoints ------------------------------------------------------------------------------
def test_checkpoint_damage_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder, {"step": 1, "w": torch.arange(1000.0)})
    path = save_checkpoint(folder, {"step": 2, "w": torch.arange(1000.0) * 2}, keep=1)
    assert latest_checkpoint(folder) == path and len(list(folder.glob("step-*.pt"))) == 2
    assert torch.equal(load_checkpoint(tmp_path)["w"], torch.arange(1000.0) * 2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        load_checkpoint(path)
    # Without an index that vouches for it, a truncated file is still refused clearly.
    (folder / "latest.json").unlink()
    path.write_bytes(bytes(data[:100]))
    with pytest.raises(ValueError, match="damaged or not a restainaug checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "empty")


# -- fit, resume, export ----------------------------------------------------------------------
def test_fit_resume_export_and_load(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = tiny_config(out, "optim.steps=3", "data.val_synthetic=1", "data.val_size=32")
    first = fit(cfg)
    assert first.step == 3 and set(first.metrics) >= {"nuclear_r", "cycle_psnr", "marker_r"}
    with pytest.raises(ValueError, match="already holds a run"):
        fit(cfg)
    with pytest.raises(ValueError, match=r"\['optim.lr'\] differ"):
        fit(apply_overrides(cfg, ["optim.lr=1e-3", "optim.steps=5"]), resume=True)
    more = fit(apply_overrides(cfg, ["optim.steps=5"]), resume=True)
    assert more.step == 5
    steps = [int(r.split(",")[0]) for r in (out / "log.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 5]
    card = export_run(out, "tiny-run", licence="CC0-1.0", extra={"data": "synthetic"})
    assert card == out / "export" / "tiny-run.json"
    model = load_model(card)
    assert [c.role for c in model.channels] == ["nuclear", "marker"]
    assert model.card.provenance["step"] == 5 and model.card.provenance["data"] == "synthetic"
    assert "cycle_psnr" in model.card.metrics["validation"]
    # The exported generators are the trained ones.
    state = load_checkpoint(out)
    for k, v in model.ihc_to_if.state_dict().items():
        assert torch.equal(v, state["generators"][f"ihc_to_if.{k}"])
    tile = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    restained = RestainTransform(model=str(card), p=1.0, seed=0)(tile)
    assert restained.shape == tile.shape and restained.dtype == np.uint8
    with pytest.raises(ValueError, match="name"):
        export_run(out, "bad name")


def test_resume_config_continues_a_moved_run_from_its_folder_or_a_checkpoint(
    tmp_path: Path,
) -> None:
    cfg = tiny_config(tmp_path / "run", "optim.steps=2", "run.checkpoint_every=1",
                      "run.keep_checkpoints=1")  # fmt: skip
    fit(cfg)
    moved = (tmp_path / "run").rename(tmp_path / "moved")
    first = sorted((moved / "checkpoints").glob("step-*.pt"))[0]
    for source in (moved, moved / "checkpoints", first, str(first)):
        config = resume_config(source)
        assert config.run.out == str(moved)
        assert apply_overrides(config, [f"run.out={cfg.run.out}"]) == cfg
    result = fit(apply_overrides(resume_config(moved), ["optim.steps=3"]), resume=moved)
    assert result.out == moved and result.step == 3
    with pytest.raises(FileNotFoundError):
        resume_config(tmp_path / "run")


def test_main_process_is_rank_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    assert process_rank() == 0 and is_main_process()
    monkeypatch.setenv("RANK", "2")
    assert process_rank() == 2 and not is_main_process()


def test_paired_patches_keep_ihc_and_if_aligned() -> None:
    from restainaug.train.data import PairedPatches

    rng = np.random.default_rng(0)
    ihc = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    if_ = np.stack([ihc[..., 0], ihc[..., 2]]).astype(np.float32) / 255
    ds = PairedPatches([(ihc, if_)], size=16, length=20, seed=1)
    seen = set()
    for i in range(20):
        item = ds[i]
        assert torch.equal(item["pair_ihc"][0], item["pair_if"][0])
        assert torch.equal(item["pair_ihc"][2], item["pair_if"][1])
        seen.add(item["pair_ihc"][0, 0, 0].item())
    assert len(seen) > 5  # windows and flips vary
    with pytest.raises(ValueError, match="must share"):
        PairedPatches([(ihc, if_[:, :20])], size=16, length=2)


def test_paired_supervision_term(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.paired_synthetic"):
        tiny_config(tmp_path, "optim.lambda_paired=1")
    cfg = tiny_config(tmp_path / "run", "optim.lambda_paired=2", "data.paired_synthetic=2",
                      "optim.steps=2")  # fmt: skip
    trainer = Trainer(cfg, CHANNELS, Distributed())
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 2, 32, 32)
    losses = trainer.train_step(x, y, x, y)
    assert losses["paired_A"] > 0 and losses["paired_B"] > 0
    assert "paired_A" not in trainer.train_step(x, y)
    one_way = Trainer(apply_overrides(cfg, ["optim.lambda_paired_ihc=0"]), CHANNELS, Distributed())
    one_way_losses = one_way.train_step(x, y, x, y)
    assert "paired_A" in one_way_losses and "paired_B" not in one_way_losses
    result = fit(cfg)
    header = (result.out / "log.csv").read_text().splitlines()[0].split(",")
    assert {"paired_A", "paired_B"} <= set(header)


def test_residual_channels_are_latent_and_exported_as_other(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = tiny_config(out, "model.residual_channels=1", "optim.steps=2")
    trainer = Trainer(cfg, CHANNELS, Distributed())
    assert trainer.gens.ihc_to_if(torch.zeros(1, 3, 32, 32)).shape[1] == 3
    assert trainer.discs.d_if.model[0].in_channels == 2  # the discriminator sees data channels
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 2, 32, 32)
    assert trainer.train_step(x, y)["residual"] > 0
    fit(cfg)
    model = load_model(export_run(out, "with-residual"))
    assert [c.role for c in model.channels] == ["nuclear", "marker", "other"]
    tile = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    assert RestainTransform(model=model, p=1.0, seed=0)(tile).shape == tile.shape
