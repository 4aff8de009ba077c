"""Time to draw one synthetic field (restainaug.synth) on the CPU, per size and marker.

The synthetic-tissue generator is meant to run on the fly inside data loaders, so its cost
per field matters: the target is well under 50 ms for a 256x256 field on two CPU cores.

Run: ``python benchmarks/bench_synth.py [--repeats 30] [--threads N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time

import numpy as np
import torch

from restainaug.synth import LOCALISATIONS, SynthConfig, synthesize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(
        f"# restainaug.synth per-field time ({dt.date.today()}, {cpu}, "
        f"{os.cpu_count()} cores, torch threads {args.threads})\n"
    )
    print("| size | marker | median ms | p90 ms | nuclei (mean) |")
    print("|---|---|---:|---:|---:|")
    for size in (256, 512):
        for marker in LOCALISATIONS:
            cfg = SynthConfig(size=(size, size), marker=marker)
            synthesize(cfg, seed=0)  # warm-up
            times, nuclei = [], []
            for seed in range(1, args.repeats + 1):
                t0 = time.perf_counter()
                field = synthesize(cfg, seed=seed)
                times.append((time.perf_counter() - t0) * 1000)
                nuclei.append(field.n)
            print(
                f"| {size} | {marker} | {np.median(times):.1f} | {np.percentile(times, 90):.1f} "
                f"| {np.mean(nuclei):.0f} |"
            )


if __name__ == "__main__":
    main()
