"""GPU throughput of re-staining: tiles per second by precision, layout and compilation.

For each model (``--models``, see ``_models.py``) and tile side (``--tiles``), on a batch of
``--batch`` tiles already on the device, it times:

* ``passes``: the two translation passes (``to_if`` then ``to_ihc``) under
  ``torch.autocast`` in fp32, bf16 and fp16, in the default and ``channels_last`` memory
  formats, and with ``torch.compile`` when ``--compile`` is given;
* ``call``: the whole ``RestainTransform(model, p=1.0)`` on the batch (fp32, what the
  transform runs today).

Every reduced-precision output is compared with the fp32 output of the same input: the
largest absolute difference in ``[0, 1]`` intensity units must stay under ``--tolerance``
(default 2/255, the colour step of an 8-bit image), otherwise the row says so. The achieved
rate (FLOPs of the two passes per second) is given as a share of a bf16 matrix-multiply peak
measured on the same device in the same run.

Run on a machine with a GPU: ``python benchmarks/bench_gpu.py [--models default arch:fast]
[--tiles 256 512] [--batch 64] [--compile]``; ``--device cpu --quick`` checks the script.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import _models
import numpy as np
import torch

import restainaug

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
    """Median seconds per call after two warm-up calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def passes(translator: restainaug.Translator, dtype: torch.dtype | None, device: torch.device):
    def run(x: torch.Tensor) -> torch.Tensor:
        ctx = (
            torch.autocast(device.type, dtype=dtype)
            if dtype is not None
            else contextlib.nullcontext()
        )
        with torch.no_grad(), ctx:
            return translator.to_ihc(translator.to_if(x)).float()

    return run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["default", "arch:fast"])
    ap.add_argument("--tiles", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd passes")
    ap.add_argument("--tolerance", type=float, default=2 / 255)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="batch 2, 2 repeats, tile 64 (checks)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.tiles = 2, 2, [64]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device; pass --device cpu to check the script.")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = _models.matmul_peak(1, n=8192 if device.type == "cuda" else 1024,
                               dtype=peak_dtype, device=str(device))  # fmt: skip
    print(f"# restainaug GPU benchmark: {name}, torch {torch.__version__}")
    print(f"- {str(peak_dtype).split('.')[-1]} matmul peak measured: {peak / 1e12:.1f} TFLOP/s")
    print(f"- batch {args.batch}, median of {args.repeats} calls after 2 warm-up calls\n")
    print("| model | tile | path | precision | layout | tiles/s | % of matmul peak | max diff |")
    print("|---|---:|---|---|---|---:|---:|---:|")
    for spec in args.models:
        translator = _models.load(spec).to(device)
        for tile in args.tiles:
            flops = _models.two_pass_flops(_models.load(spec), tile)
            gen = torch.Generator(device=device).manual_seed(0)
            x = 0.35 + 0.6 * torch.rand(args.batch, 3, tile, tile, device=device, generator=gen)
            ref = passes(translator, None, device)(x)
            variants = [(p, layout, False) for p in DTYPES for layout in ("nchw", "channels_last")]
            if args.compile:
                variants += [(p, "channels_last", True) for p in DTYPES]
            for precision, layout, compiled in variants:
                xin = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
                if layout != "nchw":
                    translator.to(memory_format=torch.channels_last)
                fn = passes(translator, DTYPES[precision], device)
                if compiled:
                    fn = torch.compile(fn)
                diff = float((fn(xin) - ref).abs().max())
                s = timed(lambda fn=fn, xin=xin: fn(xin), device, args.repeats)
                flag = "" if diff <= args.tolerance else " (over tolerance)"
                path = "passes (compiled)" if compiled else "passes"
                print(f"| {spec} | {tile} | {path} | {precision} | {layout} "
                      f"| {args.batch / s:,.0f} | {100 * flops * args.batch / s / peak:.1f} "
                      f"| {diff:.4f}{flag} |", flush=True)  # fmt: skip
                translator.to(memory_format=torch.contiguous_format)
            transform = restainaug.RestainTransform(model=translator, p=1.0, seed=0)
            s = timed(lambda t=transform, x=x: t(x), device, args.repeats)
            print(f"| {spec} | {tile} | whole call | fp32 | nchw | {args.batch / s:,.0f} | | |")


if __name__ == "__main__":
    main()
