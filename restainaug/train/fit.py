"""`fit`: run (or resume) a training run from a config, in one process or under ``torchrun``.

A run folder holds::

    config.json           the config of the run
    log.csv               losses, learning rate, seconds per step (every run.log_every steps)
    val.csv               validation metrics (at step 0, every run.val_every steps, at the end)
    samples/step-*.png    IHC | predicted nuclear | predicted marker | IHC->IF->IHC [| truth]
    checkpoints/          step-*.pt and latest.json (see restainaug.train.checkpoint)
    tensorboard/          when TensorBoard is installed and run.tensorboard is true

The structure is the same for one process and for ``torchrun`` (rank 0 writes everything).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .._files import atomic_write_text
from .._progress import progress
from ..evaluation.fields import EvalField
from ..threads import AdaptiveThreads, cpu_threads
from ..translator import Channel
from .adapt import check_tiles, read_tiles, unlabelled_scores
from .batches import StepBatches, TrainPatches
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, run_folder
from .data import PairedPatches, ValField, paired_images, training_images, validation_fields
from .distributed import Distributed, setup_distributed
from .logs import RunLogger, sample_grid
from .metrics import translate_fields, validation_metrics
from .trainer import Trainer, set_determinism
from .unmix import UnmixTrainer
from .unmix_data import UnmixPatches, unmix_pairs

__all__ = ["FitResult", "fit"]

#: Fields a resumed run may change; every other field must match the checkpoint's config.
RESUMABLE_CHANGES = {
    ("optim", "steps"),
    ("data", "workers"),
    ("run", "out"),
    ("run", "device"),
    ("run", "log_every"),
    ("run", "sample_every"),
    ("run", "val_every"),
    ("run", "checkpoint_every"),
    ("run", "keep_checkpoints"),
    ("run", "progress"),
    ("run", "tensorboard"),
}


@dataclass
class FitResult:
    """What `fit` returns (on every rank).

    Attributes:
        out: the run folder.
        step: the number of steps done.
        metrics: the last validation metrics (empty without validation data).
        seconds_per_step: mean wall time of the steps run by this call.
        adaptation: for adaptation to unlabelled tiles (``model.init`` with ``data.ihc``): the
            scores before and after (`restainaug.train.adapt`), also in ``adaptation.json``.
    """

    out: Path
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds_per_step: float = math.nan
    adaptation: dict[str, Any] = field(default_factory=dict)


def _check_resume(config: TrainConfig, saved: TrainConfig) -> TrainConfig:
    new, old = config.to_dict(), saved.to_dict()
    changed = [
        f"{s}.{k}"
        for s in old
        for k in old[s]
        if old[s][k] != new[s][k] and (s, k) not in RESUMABLE_CHANGES
    ]
    if changed:
        raise ValueError(
            f"Cannot resume with a different config: {changed} differ from the checkpoint's. "
            f"Only {sorted(f'{s}.{k}' for s, k in RESUMABLE_CHANGES)} may change on resume."
        )
    if saved.optim.schedule == "onecycle" and config.optim.steps != saved.optim.steps:
        raise ValueError(
            f"Cannot resume with optim.steps {config.optim.steps} instead of "
            f"{saved.optim.steps}: the onecycle schedule spans the run's steps as first set."
        )
    return config


def _samples(
    trainer: Trainer | UnmixTrainer,
    val: Sequence[Any],
    batch: dict[str, torch.Tensor],
    size: int,
) -> np.ndarray:
    """A sample grid from the first validation fields (or the current batch)."""
    if isinstance(trainer, UnmixTrainer):
        if val:
            return trainer.samples(val, size)
        val = [EvalField("", (x.permute(1, 2, 0) * 255).round().byte().numpy(), np.zeros(
            x.shape[1:], np.int32)) for x in batch["ihc"][:4].cpu()]  # fmt: skip
        return trainer.samples(val, size)
    if val:
        crops = [f for f in val[:4]]
        ihc = torch.stack([f.ihc[:, :size, :size] for f in crops])
        truth = [
            (f.nuclear[:size, :size], None if f.marker is None else f.marker[:size, :size])
            for f in crops
        ]
    else:
        ihc, truth = batch["ihc"][:4], None
    fields = [ValField("", x, x[0], None) for x in ihc]
    translated = translate_fields(
        trainer.gens.ihc_to_if, trainer.gens.if_to_ihc, fields, trainer.device
    )
    fake = torch.stack([t[0] for t in translated])
    rec = torch.stack([t[1] for t in translated])
    return sample_grid(ihc, fake, rec, trainer.nuclear_index, trainer.marker_index, truth)


def _validate(trainer: Trainer | UnmixTrainer, val: Sequence[Any]) -> dict[str, float]:
    if isinstance(trainer, UnmixTrainer):
        return trainer.validate(val)
    gens = trainer.gens
    gens.eval()
    try:
        with trainer.autocast():
            translated = translate_fields(gens.ihc_to_if, gens.if_to_ihc, val, trainer.device)
    finally:
        gens.train()
    return validation_metrics(val, translated, trainer.nuclear_index, trainer.marker_index)


def fit(
    config: TrainConfig,
    resume: bool | str | Path = False,
    ihc: Sequence[str | Path | np.ndarray] | None = None,
    if_: Sequence[np.ndarray] | None = None,
    channels: Sequence[Channel] | None = None,
    val: Sequence[ValField] | None = None,
) -> FitResult:
    """Train IHC <-> IF generators as ``config`` says; resume a run; under ``torchrun`` too.

    ``model.kind: cyclegan`` fits generators in both directions on unpaired images;
    ``model.kind: unmix`` trains the shipped default's unmixing network on paired data
    (`restainaug.train.unmix`), validated on ``data.val_deepliif`` against its annotation.

    Args:
        config: the run configuration (see `TrainConfig`).
        resume: ``True`` continues from the run folder's latest checkpoint, a path continues
            from that checkpoint file or run folder; ``False`` starts a new run (an existing
            run folder with checkpoints is an error, so nothing is overwritten by mistake).
        ihc: in-memory IHC images or paths instead of ``config.data.ihc`` (Python use).
        if_: in-memory IF images ``(C, H, W)`` instead of ``config.data.if`` (with
            ``channels``).
        channels: names and roles of the channels of ``if_``.
        val: validation fields instead of those the config describes.

    Returns:
        The run folder, step count, last validation metrics and speed.

    Raises:
        ValueError: for an invalid config, a damaged checkpoint, a resume with changed
            settings, or starting a new run in a folder that already holds one.
        FileNotFoundError: for missing data or checkpoints.

    Examples:
        >>> import tempfile
        >>> from restainaug.train import TrainConfig, apply_overrides
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cfg = apply_overrides(TrainConfig(), [
        ...         f"run.out={tmp}", "data.synthetic=2", "data.synthetic_size=64",
        ...         "data.patch_size=32", "optim.steps=2", "run.progress=false",
        ...         'model.generator={"ngf": 4, "n_blocks": 1}', 'model.discriminator={"ndf": 4}'])
        ...     result = fit(cfg)
        ...     result.step, sorted(p.name for p in result.out.iterdir())
        (2, ['checkpoints', 'config.json', 'log.csv', 'samples'])
    """
    config.check()
    if ihc is None or if_ is None:
        config.check_data()
    out = run_folder(config)
    state = None
    if resume:
        source = out if resume is True else Path(resume)
        state = load_checkpoint(source)
        saved = TrainConfig.from_dict(state["config"], source=f"checkpoint in {source}")
        config = _check_resume(config, saved)
    elif latest_checkpoint(out / "checkpoints") is not None:
        raise ValueError(
            f"{out} already holds a run; pass resume=True (restainaug train --resume) to "
            "continue it, or choose another run.out."
        )
    set_determinism(config.run.deterministic, config.run.threads)
    dist = setup_distributed(config.run.device)
    try:
        return _fit(config, dist, state, ihc, if_, channels, val)
    finally:
        dist.close()


def _setup_cyclegan(
    config: TrainConfig,
    dist: Distributed,
    ihc: Sequence[str | Path | np.ndarray] | None,
    if_: Sequence[np.ndarray] | None,
    channels: Sequence[Channel] | None,
    val: Sequence[ValField] | None,
) -> tuple[Trainer, Dataset, Sequence[ValField], int]:
    from ..data.datasets import UnpairedPatches

    d, r, o = config.data, config.run, config.optim
    if ihc is None or if_ is None:
        found_ihc, found_if, found_channels = training_images(d, r.seed)
        ihc = list(ihc) if ihc is not None else found_ihc
        if_ = list(if_) if if_ is not None else found_if
        channels = channels or found_channels
    if channels is None:
        raise ValueError("fit: pass channels (names and roles) with in-memory IF images.")
    trainer = Trainer(config, tuple(channels), dist)
    if val is None:
        val = validation_fields(d, r.seed, multiple=max(trainer.gens.ihc_to_if.multiple, 4))
    length = o.steps * o.batch_size * dist.world
    unpaired = UnpairedPatches(ihc, if_, d.patch_size, length, seed=r.seed, flips=d.flips)
    pairs = paired_images(d, r.seed) if d.paired_synthetic and o.lambda_paired > 0 else []
    paired = PairedPatches(pairs, d.patch_size, length, r.seed, d.flips) if pairs else None
    return trainer, TrainPatches(unpaired, paired), val, max(1, len(ihc))


def _setup_unmix(
    config: TrainConfig, dist: Distributed, val: Sequence[EvalField] | None
) -> tuple[UnmixTrainer, Dataset, Sequence[EvalField], int]:
    from ..evaluation.sources import deepliif_fields, synth_fields

    d, r, o = config.data, config.run, config.optim
    tiles: list[np.ndarray] = []
    if d.ihc:
        tiles, names = read_tiles(d.ihc)
        if dist.main:
            check_tiles(tiles, names, d.patch_size)
    real, synthetic = unmix_pairs(d, r.seed)
    trainer = UnmixTrainer(config, dist, real, tiles)
    if val is None:
        val = deepliif_fields(d.val_deepliif, register=d.register) if d.val_deepliif else []
        if d.val_synthetic:
            size = min(d.val_size, d.synthetic_size) // trainer.multiple * trainer.multiple
            val += synth_fields(d.val_synthetic, size=size, seed=r.seed * 8 + 3)
    length = o.steps * o.batch_size * dist.world
    dataset = UnmixPatches(real, synthetic, d.patch_size, length, r.seed, d.flips, tiles)
    return trainer, dataset, val, len(real) + len(synthetic) + len(tiles)


def _adaptation(trainer: UnmixTrainer, val: Sequence[Any], when: str) -> dict[str, Any]:
    """Scores of the starting (``when="before"``) or the adapted network on tiles and fields."""
    net = trainer.teacher if when == "before" else trainer.net
    assert net is not None
    out: dict[str, Any] = {"tiles": unlabelled_scores(net, trainer.tiles)}
    if val:
        out["validation"] = trainer.validate(val, net)
    return out


def _report_adaptation(out: Path, before: dict[str, Any], after: dict[str, Any]) -> dict:
    """Write ``adaptation.json``; warn when the adapted network scores worse than the start."""
    import warnings

    report = {"before": before, "after": after}
    atomic_write_text(out / "adaptation.json", json.dumps(report, indent=2) + "\n")
    worse = [
        f"{k} {before['validation'][k]:.3f} -> {v:.3f}"
        for k, v in after.get("validation", {}).items()
        if v < before["validation"].get(k, v) - 0.02
    ]
    if after["tiles"]["jitter_error"] > before["tiles"]["jitter_error"] * 1.1:
        worse.append(
            f"jitter error on the tiles {before['tiles']['jitter_error']:.4f} -> "
            f"{after['tiles']['jitter_error']:.4f}"
        )
    if worse:
        warnings.warn(
            "The adapted model scores worse than the one it started from: "
            + "; ".join(worse)
            + f" (see {out / 'adaptation.json'}). Keep the starting model, or adapt with more "
            "tiles or fewer steps.",
            stacklevel=3,
        )
    return report


def _fit(
    config: TrainConfig,
    dist: Distributed,
    state: dict | None,
    ihc: Sequence[str | Path | np.ndarray] | None,
    if_: Sequence[np.ndarray] | None,
    channels: Sequence[Channel] | None,
    val: Sequence[Any] | None,
) -> FitResult:
    out, d, r, o = run_folder(config), config.data, config.run, config.optim
    trainer: Trainer | UnmixTrainer
    if config.model.kind == "unmix":
        trainer, dataset, val, images_per_epoch = _setup_unmix(config, dist, val)
    else:
        trainer, dataset, val, images_per_epoch = _setup_cyclegan(
            config, dist, ihc, if_, channels, val
        )
    if state is not None:
        trainer.load_state_dict(state)
    start = trainer.step
    adapting = isinstance(trainer, UnmixTrainer) and trainer.teacher is not None and trainer.tiles
    before = _adaptation(trainer, val, "before") if adapting and dist.main else {}
    loader = DataLoader(
        dataset,
        batch_sampler=StepBatches(start, o.steps, o.batch_size, dist.rank, dist.world),
        num_workers=d.workers,
        pin_memory=dist.device.type == "cuda",
    )
    logger = RunLogger(out, dist.main, start if state is not None else None, r.tensorboard)
    if dist.main:
        atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    metrics: dict[str, float] = {}
    if val and dist.main and state is None:
        logger.log_val(0, _validate(trainer, val))  # the untrained baseline
    times: list[float] = []
    last_log = time.perf_counter()
    batches = progress(loader, len(loader), "restainaug train", enabled=r.progress and dist.main)
    tick = time.perf_counter()
    batch: dict[str, torch.Tensor] = {}
    adaptive = r.threads == "auto" and not r.deterministic and dist.device.type == "cpu"
    threads = AdaptiveThreads() if adaptive else None
    for batch in batches:
        start = time.perf_counter()
        with cpu_threads(threads.count() if threads is not None else None):
            losses = trainer.fit_step(batch)
        now = time.perf_counter()
        if threads is not None:
            threads.record(now - start)
        times.append(now - tick)
        tick = now
        step = trainer.step
        if step % r.log_every == 0 or step == o.steps:
            seen = step * o.batch_size * dist.world
            row = {**losses, "lr": trainer.lr, "epoch": seen / images_per_epoch}
            row["sec_per_step"] = (now - last_log) / (r.log_every if step % r.log_every == 0 else 1)
            logger.log(step, row)
            last_log = now
        if dist.main and r.sample_every and (step % r.sample_every == 0 or step == o.steps):
            logger.image(step, _samples(trainer, val, batch, d.patch_size))
        if val and dist.main and ((r.val_every and step % r.val_every == 0) or step == o.steps):
            metrics = _validate(trainer, val)
            logger.log_val(step, metrics)
        if step % r.checkpoint_every == 0 or step == o.steps:
            local = dist.gather(trainer.local_state())
            if dist.main:
                assert local is not None
                save_checkpoint(
                    out / "checkpoints", trainer.state_dict(local), keep=r.keep_checkpoints
                )
            dist.barrier()
    logger.close()
    mean = float(np.mean(times)) if times else math.nan
    report = {}
    if before and isinstance(trainer, UnmixTrainer):
        report = _report_adaptation(out, before, _adaptation(trainer, val, "after"))
    return FitResult(out, trainer.step, metrics, mean, report)
