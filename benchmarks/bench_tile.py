"""Per-tile CPU cost of restainaug against the classical stain augmentations.

An augmentation runs once per sample per epoch inside the data loader, so its per-tile cost
decides whether it can be used online. This script times, per RGB uint8 tile (256x256 by
default, cut from ``skimage.data.immunohistochemistry()`` and cycled):

* ``RestainTransform(model=...)`` for each of ``--models`` (default: the default model and
  ``optical``; ``arch:fast`` is an untrained generator pair of the ``fast`` size, see
  ``_models.py``) as users call it (numpy uint8 (H, W, 3) in and out,
  default policy), with ``p=1.0`` and with ``p=0.5`` as in a training loop;
* the "two passes" alone: the translator's ``to_if`` then ``to_ihc`` on a (1, 3, H, W) float
  tensor under ``torch.no_grad()`` (no checks, parameter draws, policy or conversions);
* HED jitter (Tellez et al. 2018), the baseline users would reach for instead: ``rgb2hed``,
  per-channel scale ``U(0.95, 1.05)`` and shift ``U(-0.05, 0.05)``, ``hed2rgb``, uint8;
* albumentations ``HEStain`` in its default random mode (``random_preset``), ``p=1``.

Each method is warmed up, then N rounds of one call per method are timed with
``time.perf_counter``; rounds interleave the methods so drifts in machine speed hit them
alike. The Markdown table gives median, interquartile range and mean (ms per tile) and each
median's ratio to the HED-jitter median; ``--csv`` also writes them to a file.

Run: ``python benchmarks/bench_tile.py [--repeats 50] [--threads N] [--tile 256] [--quick]
[--csv out.csv] [--models default optical]``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.metadata
import itertools
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import _models
import numpy as np
import torch

import restainaug

HED_JITTER = "HED jitter (skimage)"
T = TypeVar("T")


@dataclass
class Result:
    """Timings of one method, in milliseconds per tile (``error`` set when it could not run)."""

    name: str
    times_ms: list[float]
    error: str | None = None

    def stat(self, q: float) -> float:
        return float(np.percentile(self.times_ms, q)) if self.times_ms else float("nan")

    @property
    def mean(self) -> float:
        return float(np.mean(self.times_ms)) if self.times_ms else float("nan")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    has_affinity = hasattr(os, "sched_getaffinity")
    return len(os.sched_getaffinity(0)) if has_affinity else os.cpu_count() or 1


def make_tiles(size: int) -> list[np.ndarray]:
    """Four different ``size`` x ``size`` crops (the corners) of the scikit-image IHC sample."""
    from skimage import data

    image = data.immunohistochemistry()
    h, w = image.shape[:2]
    if not 0 < size <= min(h, w):
        raise SystemExit(f"--tile must be in [1, {min(h, w)}], got {size}.")
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size)]
    return [np.ascontiguousarray(image[y : y + size, x : x + size]) for y, x in corners]


def hed_jitter(
    tile: np.ndarray, rng: np.random.Generator, sigma: float = 0.05, bias: float = 0.05
) -> np.ndarray:
    """Reference HED jitter (Tellez et al. 2018): random per-channel scale and shift in HED.

    Args:
        tile: RGB uint8 image (H, W, 3).
        rng: source of the random scale ``U(1 - sigma, 1 + sigma)`` and shift ``U(-bias, bias)``.

    Returns:
        The jittered RGB uint8 image.
    """
    from skimage.color import hed2rgb, rgb2hed

    alpha = rng.uniform(1.0 - sigma, 1.0 + sigma, size=3)
    beta = rng.uniform(-bias, bias, size=3)
    hed = rgb2hed(tile) * alpha + beta
    rgb = hed2rgb(hed)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def cycling(items: Sequence[T], fn: Callable[[T], object]) -> Callable[[], object]:
    """A zero-argument call that applies ``fn`` to the next item, round robin."""
    nxt = itertools.cycle(items).__next__
    return lambda: fn(nxt())


def build_methods(
    tiles: list[np.ndarray], models: Sequence[str] = ("optical",)
) -> list[tuple[str, Callable[[], Callable[[], object]]]]:
    """(name, factory) pairs; a factory builds the timed call and may raise (then reported)."""

    def restain(model: str, p: float) -> Callable[[], object]:
        t = restainaug.RestainTransform(model=_models.load(model), p=p, seed=0)
        return cycling(tiles, t)

    def two_passes(model: str) -> Callable[[], object]:
        tr = _models.load(model)
        batches = [torch.from_numpy(t).permute(2, 0, 1)[None].float().div(255) for t in tiles]
        return cycling(batches, torch.no_grad()(lambda x: tr.to_ihc(tr.to_if(x))))

    def hed() -> Callable[[], object]:
        rng = np.random.default_rng(0)
        return cycling(tiles, lambda t: hed_jitter(t, rng))

    def hestain() -> Callable[[], object]:
        import albumentations as A

        aug = A.HEStain(p=1.0)  # defaults: method="random_preset", scale/shift ranges
        if hasattr(aug, "set_random_seed"):
            aug.set_random_seed(0)
        return cycling(tiles, lambda t: aug(image=t)["image"])

    methods: list[tuple[str, Callable[[], Callable[[], object]]]] = []
    for m in models:
        methods += [
            (f'RestainTransform("{m}", p=1.0)', lambda m=m: restain(m, 1.0)),
            (f'RestainTransform("{m}", p=0.5)', lambda m=m: restain(m, 0.5)),
            (f'two passes "{m}": to_if + to_ihc (tensor)', lambda m=m: two_passes(m)),
        ]
    return [
        *methods,
        (HED_JITTER, hed),
        ("albumentations HEStain (random_preset)", hestain),
    ]


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:120]


def measure(
    methods: list[tuple[str, Callable[[], Callable[[], object]]]], repeats: int, warmup: int
) -> list[Result]:
    """Warm every method up, then time ``repeats`` rounds of one call per method.

    Rounds interleave the methods, so slow drifts of the machine (other jobs, frequency
    changes) hit all of them alike instead of whichever happened to run at the time; this
    keeps the ratios stable from run to run. A method that raises becomes a failed row.
    """
    results = [Result(name, []) for name, _ in methods]
    calls: list[Callable[[], object] | None] = []
    for result, (_, factory) in zip(results, methods, strict=True):
        try:
            call = factory()
            for _ in range(warmup):
                call()
        except Exception as exc:  # a benchmark reports a failing method instead of crashing
            result.error, call = _failure(exc), None
        calls.append(call)
    for _ in range(repeats):
        for i, (result, call) in enumerate(zip(results, calls, strict=True)):
            if call is None:
                continue
            try:
                start = time.perf_counter()
                call()
                result.times_ms.append((time.perf_counter() - start) * 1e3)
            except Exception as exc:
                result.error, result.times_ms, calls[i] = _failure(exc), [], None
    return results


def load_average() -> str:
    """1-minute load average: other work on the machine inflates and spreads the timings."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def version(dist: str) -> str:
    """Installed version of a distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def header_lines(title: str, threads: int) -> list[str]:
    """Markdown header lines shared by the benchmarks: date, machine, library versions."""
    return [
        f"# {title}",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_model()}, {cpu_count()} cores available; torch threads: {threads}; "
        f"load average before the run: {load_average()}",
        f"- python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"scikit-image {version('scikit-image')}, albumentations {version('albumentations')}, "
        f"scipy {version('scipy')}, restainaug {restainaug.__version__}",
    ]


def header(args: argparse.Namespace, threads: int) -> str:
    """Markdown header: date, machine, library versions and the timing protocol."""
    title = f"restainaug per-tile benchmark ({args.tile}x{args.tile} RGB uint8, CPU)"
    lines = [
        *header_lines(title, threads),
        f"- {args.repeats} timed calls per method (interleaved rounds) after {args.warmup} "
        "warm-up calls; 4 tiles from skimage.data.immunohistochemistry(), cycled",
        "",
    ]
    return "\n".join(lines)


def table(results: list[Result]) -> tuple[str, list[dict[str, object]]]:
    """The Markdown table and the matching CSV rows (ratios are to the HED-jitter median)."""
    ref = next((r.stat(50) for r in results if r.name == HED_JITTER and r.times_ms), float("nan"))
    head = "| method | median ms | IQR ms (q25-q75) | mean ms | x HED jitter (median) |"
    lines = [head, "|---|---:|---:|---:|---:|"]
    rows: list[dict[str, object]] = []
    for r in results:
        med, q25, q75 = r.stat(50), r.stat(25), r.stat(75)
        ratio = med / ref if np.isfinite(ref) and ref > 0 else float("nan")
        if r.error:
            lines.append(f"| {r.name} | failed: {r.error} | | | |")
        else:
            lines.append(
                f"| {r.name} | {med:.2f} | {q75 - q25:.2f} ({q25:.2f}-{q75:.2f}) | {r.mean:.2f} "
                f"| {ratio:.2f} |"
            )
        rows.append(
            {"method": r.name, "median_ms": med, "q25_ms": q25, "q75_ms": q75,
             "iqr_ms": q75 - q25, "mean_ms": r.mean, "ratio_to_hed_jitter": ratio,
             "repeats": len(r.times_ms), "error": r.error or ""}
        )  # fmt: skip
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per method")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before timing")
    parser.add_argument("--threads", type=int, default=cpu_count(), help="torch.set_num_threads")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels (<= 512)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 5 repeats, 1 warm-up")
    parser.add_argument("--csv", type=Path, help="also write the results to this CSV file")
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="models to time (default: the default model and optical)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, 5), 1
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    tiles = make_tiles(args.tile)
    print(header(args, torch.get_num_threads()))
    models = args.models or list(dict.fromkeys([restainaug.DEFAULT_MODEL, "optical"]))
    results = measure(build_methods(tiles, models), args.repeats, args.warmup)
    text, rows = table(results)
    print(text)
    print(f"\n1-minute load average after the run: {load_average()}")
    if args.csv is not None:
        with args.csv.open("w", newline="") as fh:
            extra = {"tile": args.tile, "threads": torch.get_num_threads()}
            writer = csv.DictWriter(fh, fieldnames=[*rows[0], *extra])
            writer.writeheader()
            writer.writerows({**row, **extra} for row in rows)
        print(f"\nCSV written to {args.csv}")


if __name__ == "__main__":
    main()
