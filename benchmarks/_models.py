"""Model specs shared by the benchmark scripts.

A spec is what ``RestainTransform(model=...)`` takes (``"default"``, a registry name such as
``"optical"``, a model file), or ``arch:<size>`` for an *untrained* generator pair of a
training size (``arch:fast``, ``arch:small``, ``arch:full``; IF channels nuclear, marker and
one residual channel, as the pretrained recipe trains them). Timing does not depend on the
weights, so ``arch:`` specs measure an architecture before any model of it ships.
"""

from __future__ import annotations

import torch

import restainaug
from restainaug.translator import Channel, Translator

ARCH = "arch:"


def load(spec: str) -> Translator:
    """The translator named by ``spec`` (see the module docstring), in eval mode."""
    if not spec.startswith(ARCH):
        return restainaug.load_model(spec)
    from restainaug.models.learned import GeneratorTranslator
    from restainaug.models.networks import build_generator
    from restainaug.train.config import SIZES, ModelConfig

    size = spec[len(ARCH) :]
    if size not in SIZES:
        raise ValueError(f"{spec!r}: expected {ARCH}<size> with size in {sorted(SIZES)}.")
    channels = [Channel("DAPI", "nuclear"), Channel("marker", "marker"), Channel("res", "other")]
    cfg = ModelConfig(size=size)
    torch.manual_seed(0)
    tr = GeneratorTranslator(
        build_generator(cfg.generator_config(3, len(channels))),
        build_generator(cfg.generator_config(len(channels), 3)),
        channels,
        name=spec,
    )
    return tr.eval().requires_grad_(False)


def two_pass_flops(translator: Translator, size: int) -> float:
    """FLOPs of ``to_if`` + ``to_ihc`` on one ``size`` x ``size`` tile.

    Counted by ``torch.utils.flop_counter`` (convolutions and matrix products; element-wise
    work such as activations, normalisation and the optical translator's logarithms is not
    counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        translator.to_ihc(translator.to_if(x))
    return float(counter.get_total_flops())


def matmul_peak(
    threads: int,
    n: int = 2048,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> float:
    """Measured matrix-multiply throughput in FLOP/s (best of ``repeats``), ``threads`` threads."""
    import time

    if device == "cpu":
        torch.set_num_threads(threads)
    a = torch.rand(n, n, dtype=dtype, device=device)
    b = torch.rand(n, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best
