"""The CPU thread policy: per-tile and per-training-step cost, quiet and under load, one run.

torch runs every CPU operation on all cores by default. Beside other work (a training step,
loader workers, other processes), a call made of many small parallel regions then stalls at
every barrier. This script measures what `restainaug.threads` changes, in one run:

* conditions: ``quiet`` (nothing else started) and ``loaded`` (``--load`` busy processes,
  one pure-Python spin loop each, started before and stopped after that phase);
* per 256x256 tile (numpy uint8 in and out, ``p=1.0``, the default policy), for each of
  ``--models``: ``RestainTransform(threads="auto")`` (the library's policy, what users get)
  with torch's default thread count; ``threads=None`` (no policy: torch's default count,
  the behaviour before the policy); and the transform with torch set to one thread; HED jitter
  (scikit-image, single-threaded numpy) as the reference of each condition;
* per training step (`restainaug.train.Trainer.train_step`, model size ``fast``, random
  patches): ``run.threads: auto`` (`AdaptiveThreads`, the default: its first timed steps
  include its first exploration, a few steps on the slower count), torch's default count,
  and one thread.

Rounds interleave the methods of a condition. Ratios are to HED jitter's median in the same
condition (per tile) and to the one-thread step (training).

Run: ``python benchmarks/bench_threads.py [--repeats 30] [--load 2] [--quick]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import _models
import bench_tile as bt
import numpy as np
import torch

import restainaug
from restainaug.threads import AdaptiveThreads, cpu_threads

SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


@contextmanager
def busy_processes(n: int) -> Iterator[None]:
    """``n`` processes that keep one core each busy for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    time.sleep(1.0)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def tile_methods(
    tiles: list[np.ndarray], models: list[str], default_threads: int
) -> list[tuple[str, Callable[[], Callable[[], object]]]]:
    """(name, factory) pairs of the per-tile rows."""

    def restain(model: str, threads: object, torch_threads: int) -> Callable[[], object]:
        t = restainaug.RestainTransform(_models.load(model), p=1.0, seed=0, threads=threads)
        call = bt.cycling(tiles, t)

        def timed() -> object:
            with cpu_threads(torch_threads):
                return call()

        return timed

    def hed() -> Callable[[], object]:
        rng = np.random.default_rng(0)
        return bt.cycling(tiles, lambda t: bt.hed_jitter(t, rng))

    methods: list[tuple[str, Callable[[], Callable[[], object]]]] = []
    for m in models:
        methods += [
            (f'"{m}", threads="auto" (policy)', lambda m=m: restain(m, "auto", default_threads)),
            (f'"{m}", threads=None (no policy)', lambda m=m: restain(m, None, default_threads)),
            (f'"{m}", torch set to 1 thread', lambda m=m: restain(m, None, 1)),
        ]
    return [*methods, (bt.HED_JITTER, hed)]


def train_steps(repeats: int, patch: int, batch: int, default_threads: int) -> dict[str, float]:
    """Median seconds per training step for each thread setting (interleaved)."""
    from restainaug.train import TrainConfig, Trainer, apply_overrides
    from restainaug.train.distributed import Distributed
    from restainaug.translator import Channel

    cfg = apply_overrides(
        TrainConfig(), ["data.synthetic=1", "model.size=fast", f"optim.batch_size={batch}"]
    )
    channels = (Channel("DAPI", "nuclear"), Channel("marker", "marker"))
    trainer = Trainer(cfg, channels, Distributed(device=torch.device("cpu")))
    g = torch.Generator().manual_seed(0)
    ihc, if_ = torch.rand(batch, 3, patch, patch, generator=g), torch.rand(batch, 2, patch, patch)
    policy = AdaptiveThreads(max_threads=default_threads)
    settings: dict[str, Callable[[], int]] = {
        "run.threads: auto (default)": policy.count,
        f"torch's default ({default_threads} threads)": lambda: default_threads,
        "run.threads: 1": lambda: 1,
    }
    times: dict[str, list[float]] = {k: [] for k in settings}
    for i in range(repeats + 1):
        for name, count in settings.items():
            start = time.perf_counter()
            with cpu_threads(count()):
                trainer.train_step(ihc, if_)
            seconds = time.perf_counter() - start
            if count == policy.count:
                policy.record(seconds)
            if i:  # the first round warms up
                times[name].append(seconds)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per tile method")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per setting")
    parser.add_argument("--load", type=int, default=bt.cpu_count(), help="busy processes")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--patch", type=int, default=128, help="training patch side")
    parser.add_argument("--batch", type=int, default=4, help="training batch size")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 repeats, 1 step")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.steps = 3, 1
    default_threads = torch.get_num_threads()
    models = args.models or list(dict.fromkeys([restainaug.DEFAULT_MODEL, "optical"]))
    tiles = bt.make_tiles(args.tile)
    title = f"restainaug thread policy ({args.tile}x{args.tile} tiles, training steps, CPU)"
    print("\n".join(bt.header_lines(title, default_threads)))
    print(
        f"- {args.repeats} interleaved calls per tile method after 3 warm-up calls; "
        f"{args.steps} interleaved training steps per setting (size fast, batch {args.batch}, "
        f"patch {args.patch}); loaded: {args.load} busy processes\n"
    )
    tile_rows: dict[str, dict[str, bt.Result]] = {}
    step_rows: dict[str, dict[str, float]] = {}
    for condition in ("quiet", "loaded"):
        with busy_processes(args.load if condition == "loaded" else 0):
            methods = tile_methods(tiles, models, default_threads)
            results = bt.measure(methods, args.repeats, warmup=3)
            tile_rows[condition] = {r.name: r for r in results}
            step_rows[condition] = train_steps(args.steps, args.patch, args.batch, default_threads)
        print(f"{condition} done (load average {bt.load_average()})", file=sys.stderr, flush=True)

    print("## Per tile: median ms (x HED jitter of the same condition)\n")
    print("| method | quiet | loaded |")
    print("|---|---:|---:|")
    names = list(tile_rows["quiet"])
    for name in names:
        cells = []
        for condition in ("quiet", "loaded"):
            rows = tile_rows[condition]
            ref = rows[bt.HED_JITTER].stat(50)
            r = rows[name]
            cells.append(
                f"failed: {r.error}" if r.error else f"{r.stat(50):.1f} ({r.stat(50) / ref:.2f}x)"
            )
        print(f"| {name} | {' | '.join(cells)} |")
    print("\n## Per training step: median s (x one thread of the same condition)\n")
    print("| setting | quiet | loaded |")
    print("|---|---:|---:|")
    for name in step_rows["quiet"]:
        cells = []
        for condition in ("quiet", "loaded"):
            rows = step_rows[condition]
            one = rows["run.threads: 1"]
            cells.append(f"{rows[name]:.3f} ({rows[name] / one:.2f}x)")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"\n1-minute load average after the run: {bt.load_average()}")


if __name__ == "__main__":
    main()
