"""Training speed: CycleGAN steps per second for each model size, on CPU or GPU.

One step is what `restainaug.train.Trainer.train_step` does: a generator update (four
generator passes, two identity passes, two discriminator passes, backward) and a
discriminator update on real images and pooled fakes. Random tensors stand in for data, so
the data loader is not timed.

CPU (default)::

    python benchmarks/bench_train.py                       # sizes small/fast/full, patch 256
    python benchmarks/bench_train.py --patch 128 --steps 5

GPU (on a machine with CUDA): the precision x batch matrix, channels_last, optionally
``torch.compile``::

    python benchmarks/bench_train.py --device cuda --amp none bf16 fp16 --batch 1 4 16
    python benchmarks/bench_train.py --device cuda --amp bf16 --batch 16 --compile
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time

import numpy as np
import torch

from restainaug.train import SIZES, TrainConfig, Trainer, apply_overrides
from restainaug.train.distributed import Distributed
from restainaug.translator import Channel

CHANNELS = (Channel("DAPI", "nuclear"), Channel("marker", "marker"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_size(
    size: str, patch: int, batch: int, amp: str, device: torch.device, steps: int, warmup: int,
    compile_: bool,
) -> dict[str, float]:  # fmt: skip
    cfg = apply_overrides(
        TrainConfig(),
        ["data.synthetic=1", f"model.size={size}", f"run.amp={amp}", f"optim.batch_size={batch}"],
    )
    trainer = Trainer(cfg, CHANNELS, Distributed(device=device))
    if compile_:
        trainer.gens_ddp = torch.compile(trainer.gens)
    g = torch.Generator().manual_seed(0)
    ihc = torch.rand(batch, 3, patch, patch, generator=g)
    if_ = torch.rand(batch, 2, patch, patch, generator=g)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        trainer.train_step(ihc, if_)
    _sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        trainer.train_step(ihc, if_)
        _sync(device)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in trainer.gens.ihc_to_if.parameters())
    med = float(np.median(times))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else np.nan
    return {"s_per_step": med, "steps_per_s": 1 / med, "patches_per_s": batch / med,
            "params": params, "peak_mib": peak}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=["small", "fast", "full"], choices=SIZES)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--amp", nargs="+", default=["none"], choices=["none", "bf16", "fp16"])
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps (default 5 CPU, 30 GPU)"
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile the generators")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = args.steps or (30 if device.type == "cuda" else 5)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        platform.processor() or platform.machine())  # fmt: skip
    print(
        f"# restainaug train step time ({dt.date.today()}, {name}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, patch {args.patch}, "
        f"median of {steps} steps after {args.warmup} warm-up)\n"
    )
    print(
        "| size | generator params | amp | batch | s / step | steps / s | patches / s | peak MiB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for amp in args.amp:
            for batch in args.batch:
                r = time_size(
                    size, args.patch, batch, amp, device, steps, args.warmup, args.compile
                )
                print(
                    f"| {size} | {r['params'] / 1e6:.2f} M | {amp} | {batch} | "
                    f"{r['s_per_step']:.3f} | {r['steps_per_s']:.2f} | {r['patches_per_s']:.1f} | "
                    f"{r['peak_mib']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
