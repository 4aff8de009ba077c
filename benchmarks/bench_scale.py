"""CPU throughput of re-staining against batch size and tile size, with peak memory and FLOPs.

For each model (``--models``, see ``_models.py``), tile side (``--tiles``) and batch size
(``--batches``), it times two things on a float ``(B, 3, T, T)`` CPU tensor in ``[0, 1]``:

* ``call``: ``RestainTransform(model, p=1.0)(x)`` with the default policy (what a training
  loop runs on a collated batch);
* ``passes``: the two translation passes alone (``to_if`` then ``to_ihc``, no grad).

Each configuration runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``)
can be reported above the process's baseline once imports, model and input are set up.
Configurations larger than ``--max-pixels`` pixels per batch are skipped.

The FLOPs of the two passes (convolutions and matrix products, from
``torch.utils.flop_counter``) over the measured time give a sustained rate, shown as a
fraction of a float32 matrix-multiply peak measured in the same run with the same threads.

Run: ``python benchmarks/bench_scale.py [--models default arch:fast] [--threads 1]
[--tiles 256 512 1024] [--batches 1 2 4 8 16 32 64] [--csv scale.csv]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import _models
import numpy as np
import torch
from bench_tile import header_lines

HERE = Path(__file__).resolve().parent


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def one(spec: str, tile: int, batch: int, threads: int, repeats: int) -> dict[str, float]:
    """Time one configuration in this process; return medians and peak memory."""
    import restainaug

    torch.set_num_threads(threads)
    translator = _models.load(spec)
    transform = restainaug.RestainTransform(model=translator, p=1.0, seed=0)
    x = torch.rand(batch, 3, tile, tile, generator=torch.Generator().manual_seed(0))
    x = 0.35 + 0.6 * x  # tissue-like brightness, so no sample is skipped as blank
    base = _rss_mib()  # imports, model and input; the calls' working memory comes on top
    with torch.no_grad():
        transform(x)  # warm-up (allocator, lazy init)
    times: dict[str, list[float]] = {"call": [], "passes": []}
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            transform(x)
            times["call"].append(time.perf_counter() - start)
            start = time.perf_counter()
            translator.to_ihc(translator.to_if(x))
            times["passes"].append(time.perf_counter() - start)
    out = {f"{k}_s": float(np.median(v)) for k, v in times.items()}
    out["peak_mib_above_baseline"] = max(0.0, _rss_mib() - base)
    out["baseline_mib"] = base
    return out


def run_isolated(spec: str, tile: int, batch: int, threads: int, repeats: int) -> dict:
    cmd = [sys.executable, __file__, "--one", spec, str(tile), str(batch), str(threads),
           str(repeats)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["default", "arch:fast"])
    ap.add_argument("--tiles", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: a loader worker)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-pixels", type=int, default=64 * 256 * 256)
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        spec, tile, batch, threads, repeats = args.one
        print(json.dumps(one(spec, int(tile), int(batch), int(threads), int(repeats))))
        return

    peak = _models.matmul_peak(args.threads)
    print("\n".join(header_lines("restainaug throughput vs batch and tile size (CPU)",
                                 args.threads)))  # fmt: skip
    print(f"- float32 matmul peak (2048^3, {args.threads} threads): {peak / 1e9:.1f} GFLOP/s")
    print(f"- {args.repeats} timed repeats per configuration (median), each in a fresh process\n")
    rows = []
    head = ("| model | tile | batch | call tiles/s | ms/tile | passes tiles/s | GFLOP/tile "
            "| % of matmul peak | peak MiB |")  # fmt: skip
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for spec in args.models:
        translator = _models.load(spec)
        for tile in args.tiles:
            flops = _models.two_pass_flops(translator, tile)
            for batch in args.batches:
                if batch * tile * tile > args.max_pixels:
                    continue
                r = run_isolated(spec, tile, batch, args.threads, args.repeats)
                row = {"model": spec, "tile": tile, "batch": batch, **r, "flops_per_tile": flops}
                rows.append(row)
                if "error" in r:
                    print(f"| {spec} | {tile} | {batch} | failed: {r['error']} | | | | | |")
                    continue
                rate = flops * batch / r["passes_s"]
                row["fraction_of_peak"] = rate / peak
                print(
                    f"| {spec} | {tile} | {batch} | {batch / r['call_s']:.1f} "
                    f"| {1e3 * r['call_s'] / batch:.1f} | {batch / r['passes_s']:.1f} "
                    f"| {flops / 1e9:.3f} | {100 * rate / peak:.1f} "
                    f"| {r['peak_mib_above_baseline']:.0f} |",
                    flush=True,
                )
    if args.csv and rows:
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with args.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        print(f"\nCSV written to {args.csv}")


if __name__ == "__main__":
    main()
