"""Training in real processes: SIGKILL part way and resume; a 2-process torchrun run (gloo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import UNMIX_TINY

from restainaug import RestainTransform, load_model
from restainaug.train import TrainConfig, apply_overrides, export_run, load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and torchrun")

STEPS = 60
TINY = [
    "data.synthetic=3",
    "data.synthetic_size=64",
    "data.patch_size=32",
    "optim.batch_size=2",
    "optim.pool_size=3",
    f"optim.steps={STEPS}",
    'model.generator={"ngf": 4, "n_blocks": 1}',
    'model.discriminator={"ndf": 4, "n_layers": 2}',
    "run.progress=false",
    "run.sample_every=0",
    "run.log_every=1",
    "run.checkpoint_every=5",
    "run.deterministic=true",
    "run.threads=1",
]


def _config(tmp_path: Path, name: str, *extra: str, base: list[str] = TINY) -> Path:
    cfg = apply_overrides(TrainConfig(), [f"run.out={tmp_path / name}", *base, *extra])
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("WORLD_SIZE", None)
    return env


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "restainaug", "train", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _latest_step(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "latest.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def _kill_part_way(config: Path, run: Path, at: int) -> int:
    """Start ``restainaug train --config``, SIGKILL it once a checkpoint of step ``at`` is
    written; the return code."""
    cmd = [sys.executable, "-m", "restainaug", "train", "--config", str(config)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _latest_step(run) < at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return proc.returncode


def _losses(run: Path) -> list[list[str]]:
    rows = [r.split(",") for r in (run / "log.csv").read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name != "sec_per_step"]
    return [[r[i] for i in keep] for r in rows]


def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    _train("--config", str(_config(tmp_path, "straight")))
    reference = load_checkpoint(tmp_path / "straight")
    assert reference["step"] == STEPS

    run = tmp_path / "killed"
    returncode = _kill_part_way(_config(tmp_path, "killed"), run, 15)
    killed_at = _latest_step(run)
    assert returncode == -signal.SIGKILL
    assert 15 <= killed_at < STEPS, f"the run was not interrupted part way ({killed_at})"

    _train("--resume", str(run))
    resumed = load_checkpoint(run)
    assert resumed["step"] == STEPS
    for part in ("generators", "discriminators"):
        for k, v in reference[part].items():
            assert torch.equal(v, resumed[part][k]), f"{part}.{k} differs after resume"
    for part in ("opt_g", "opt_d"):
        for i, s in reference[part]["state"].items():
            assert torch.equal(s["exp_avg"], resumed[part]["state"][i]["exp_avg"])
    # The resumed run's log reads like the uninterrupted one (no duplicated steps).
    assert _losses(run) == _losses(tmp_path / "straight")


def test_torchrun_two_processes_train_and_export(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, "ddp", "optim.steps=4", "run.checkpoint_every=2", "data.val_synthetic=1",
        "data.val_size=32", "run.sample_every=2",
    )  # fmt: skip
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "restainaug", "train", "--config", str(cfg),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("restainaug train: 4 steps") == 1  # rank 0 reports
    run = tmp_path / "ddp"
    state = load_checkpoint(run)
    assert state["step"] == 4 and state["world"] == 2 and len(state["local"]) == 2
    # Each process kept its own image pool (different patches, different fakes).
    pools = [local["pool_if"]["images"] for local in state["local"]]
    assert len(pools[0]) == 3 and not torch.equal(pools[0][0], pools[1][0])
    names = sorted(p.name for p in run.iterdir())
    assert names == ["checkpoints", "config.json", "log.csv", "samples", "val.csv"]
    steps = [r.split(",")[0] for r in (run / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]

    export = subprocess.run(
        [sys.executable, "-m", "restainaug", "export", str(run), "--name", "ddp-tiny"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    model = load_model(run / "export" / "ddp-tiny.json")
    assert model.card.provenance["processes"] == 2
    tile = np.random.default_rng(1).integers(0, 255, (2, 3, 40, 40), dtype=np.uint8)
    out = RestainTransform(model=model, p=1.0, seed=0)(torch.from_numpy(tile))
    assert out.shape == tile.shape and out.dtype == torch.uint8


UNMIX = [*UNMIX_TINY, "run.deterministic=true"]


def test_unmix_sigkill_then_resume_and_torchrun(tmp_path: Path) -> None:
    def config(name: str, *extra: str) -> Path:
        return _config(tmp_path, name, *extra, base=UNMIX)

    steps = ["optim.steps=300", "run.checkpoint_every=10"]
    _train("--config", str(config("straight", *steps)))
    reference = load_checkpoint(tmp_path / "straight")
    run = tmp_path / "killed"
    _kill_part_way(config("killed", *steps), run, 30)
    assert 30 <= _latest_step(run) < 300, "the run was not interrupted part way"
    _train("--resume", str(run))
    resumed = load_checkpoint(run)
    assert resumed["step"] == 300
    for k, v in reference["generators"].items():
        assert torch.equal(v, resumed["generators"][k]), f"{k} differs after resume"
    assert _losses(run) == _losses(tmp_path / "straight")

    # Two processes (gloo): rank 0 reports and writes; the model exports and loads.
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "restainaug", "train", "--config", str(config("ddp", "optim.steps=4")),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("restainaug train: 4 steps") == 1
    state = load_checkpoint(tmp_path / "ddp")
    assert state["step"] == 4 and state["world"] == 2
    model = load_model(export_run(tmp_path / "ddp", "ddp-unmix"))
    assert model.card.ihc_to_if["type"] == "unmix"
