"""End to end: training step time of the examples with and without online re-staining.

What users feel is not the cost of a tile but how much longer a training step takes. This
script runs the two example trainings on the CPU and reports seconds per step:

* MONAI (``examples/monai/train_unet.py``, its data pipeline and network): BasicUNet, batch 8
  of 64x64 crops; modes ``none``, ``dataloader`` (``RestainTransformd``, p=0.5, in the
  DataLoader workers) and ``gpu-batch`` (``RestainTransform``, p=0.5, on the collated batch in
  the training process), with 0 and 2 DataLoader workers; the median time of a step (loading
  included) after a warm-up step.
* StarDist (``examples/stardist/train_stardist.py``): batch 4 of 128x128 patches; flips only
  against flips + ``RestainTransform`` (p=0.5) in StarDist's augmenter, with StarDist's data
  generator on 1 and 2 workers (threads). The step time is the median interval between
  training batches after a warm-up epoch, so it includes data generation that is not hidden
  behind the step.

Each row gives the added time relative to the same loader without re-staining.

Run: ``python benchmarks/bench_e2e.py [--steps 60] [--only monai stardist] [--threads 2]``
(needs ``restainaug[monai]`` and, for StarDist, ``restainaug[stardist]``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from bench_tile import header_lines

ROOT = Path(__file__).resolve().parent.parent


def _example(path: str) -> ModuleType:
    file = ROOT / "examples" / path
    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(file.stem, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def monai_rows(steps: int, workers: list[int]) -> list[tuple]:
    """The MONAI example's training loop, timed per step (median after a warm-up step)."""
    from monai.data import CacheDataset, DataLoader
    from monai.losses import DiceCELoss
    from monai.networks.nets import BasicUNet
    from monai.utils import set_determinism

    from restainaug import RestainTransform

    ex = _example("monai/train_unet.py")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in workers:
            args = ex.parse_args(["--workers", str(w), "--fields", "32"])
            files, _ = ex.synthetic_data(args, Path(tmp) / f"w{w}")
            base = None
            for mode in ("none", "dataloader", "gpu-batch"):
                set_determinism(seed=0)
                ds = CacheDataset(files, ex.train_transforms(args, mode == "dataloader"),
                                  progress=False, num_workers=0)  # fmt: skip
                loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                    num_workers=w, persistent_workers=w > 0)  # fmt: skip
                restain = RestainTransform(p=args.p, seed=0)
                net = BasicUNet(2, in_channels=3, out_channels=1,
                                features=(16, 16, 32, 64, 128, 16))  # fmt: skip
                loss_fn, opt = DiceCELoss(sigmoid=True), torch.optim.Adam(net.parameters())
                stream = ex.batches(loader)
                times = []
                for _ in range(steps + 1):
                    start = time.perf_counter()
                    batch = next(stream)
                    image, label = batch["image"], batch["label"]
                    if mode == "gpu-batch":
                        image = restain(image, labels=label)
                    loss = loss_fn(net(image), (label > 0).float())
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    times.append(time.perf_counter() - start)
                s = float(np.median(times[1:]))  # the first step starts the workers
                base = s if mode == "none" else base
                rows.append(("MONAI BasicUNet", mode, w, s, s / base - 1))
    return rows


def stardist_rows(steps: int, workers: list[int], seed: int = 0) -> list[dict]:
    import keras
    from stardist.models import StarDist2D

    ex = _example("stardist/train_stardist.py")
    import stardist_data

    setting = stardist_data.synthetic(12, 2, 1)[0]
    x, y = ex.as_float(setting.train)
    xv, yv = ex.as_float(setting.val)
    preset = ex.PRESETS["quick"]
    preset = ex.Preset(**{**preset.__dict__, "steps": 2 * steps})

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.times.append(time.perf_counter())

    rows = []
    for w in workers:
        base = None
        for mode in ("none", "restain p=0.5"):
            keras.utils.set_random_seed(seed)
            rng = np.random.default_rng(seed)
            augment = ex.flips(rng)
            if mode != "none":
                augment = ex.restain("default", "default", 0.5, seed, augment)
            with tempfile.TemporaryDirectory() as tmp:
                model = StarDist2D(ex.config(preset, epochs=2), name="m", basedir=tmp)
                clock = Clock()
                model.prepare_for_training()
                model.callbacks.append(clock)
                model.train(x, y, validation_data=(xv, yv), augmenter=augment, workers=w)
            s = float(np.median(np.diff(clock.times[steps:])))  # second epoch only
            base = s if mode == "none" else base
            rows.append(("StarDist 2D", mode, w, s, s / base - 1))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="timed steps per configuration")
    ap.add_argument("--only", nargs="+", choices=("monai", "stardist"),
                    default=["monai", "stardist"])  # fmt: skip
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--threads", type=int, default=None, help="torch threads in the main process")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    title = "restainaug end to end: training step time with online re-staining (CPU)"
    print("\n".join(header_lines(title, torch.get_num_threads())), "\n")
    rows = []
    if "monai" in args.only:
        rows += monai_rows(args.steps, args.workers)
    if "stardist" in args.only:
        rows += stardist_rows(args.steps, [max(1, w) for w in args.workers])
    print("\n| example | re-staining | loader workers | s/step | added |")
    print("|---|---|---:|---:|---:|")
    for name, mode, w, s, added in rows:
        print(f"| {name} | {mode} | {w} | {s:.3f} | {added:+.0%} |")


if __name__ == "__main__":
    main()
