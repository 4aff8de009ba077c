"""Before/after: time this checkout's restainaug against an older one, interleaved.

Copies the older package (``--old``: a checkout or worktree of the repository, e.g.
``git worktree add /tmp/old 07fa6bf``) to a temporary folder as ``restainaug_old``, imports
both in one process and times, with calls interleaved (one thread by default):

* the whole ``RestainTransform(p=1.0)`` call on numpy uint8 256x256 tiles;
* each optimised step: nucleus labelling, the 3x3 and 5x5 means, Beer-Lambert recomposition;
* HED jitter, as a reference that should not change.

Run: ``python benchmarks/compare_versions.py --old /tmp/old [--repeats 100] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bench_tile import hed_jitter, make_tiles


def import_old(checkout: Path, into: Path):  # type: ignore[no-untyped-def]
    src = checkout / "restainaug"
    if not (src / "__init__.py").exists():
        raise SystemExit(f"--old: no restainaug package in {checkout}.")
    dst = into / "restainaug_old"
    shutil.copytree(src, dst)
    registry = dst / "models" / "registry.py"
    registry.write_text(registry.read_text().replace('"restainaug.pretrained"',
                                                     '"restainaug_old.pretrained"'))  # fmt: skip
    sys.path.insert(0, str(into))
    import restainaug_old

    return restainaug_old


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="checkout of the older version")
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import restainaug
    from restainaug import nuclei as new_nu
    from restainaug.stains import od_to_rgb, rgb_to_od

    with tempfile.TemporaryDirectory() as tmp:
        old = import_old(args.old, Path(tmp))
        from restainaug_old import nuclei as old_nu
        from restainaug_old.stains import od_to_rgb as old_od_to_rgb

        tiles = make_tiles(256)
        rng = np.random.default_rng(0)
        x = torch.from_numpy(tiles[0]).permute(2, 0, 1)[None].float() / 255
        nuc = restainaug.load_model("optical").to_if(x)[:, :1]
        core = new_nu.erode(new_nu.nuclear_foreground(nuc), 2) > 0.5
        od = rgb_to_od(x)
        t_old = old.RestainTransform(p=1.0, seed=0)
        t_new = restainaug.RestainTransform(p=1.0, seed=0)
        n_old, n_new = iter(range(10**9)), iter(range(10**9))
        pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "whole call, p=1.0, numpy uint8 256x256": (
                lambda: t_old(tiles[next(n_old) % 4]), lambda: t_new(tiles[next(n_new) % 4])),
            "nucleus labelling": (
                lambda: old_nu.connected_components(core),
                lambda: new_nu.connected_components(core)),
            "3x3 mean": (lambda: F.avg_pool2d(nuc, 3, 1, 1, count_include_pad=False),
                         lambda: new_nu.box_mean(nuc, 1)),
            "5x5 mean": (lambda: F.avg_pool2d(nuc, 5, 1, 2, count_include_pad=False),
                         lambda: new_nu.box_mean(nuc, 2)),
            "Beer-Lambert recomposition": (lambda: old_od_to_rgb(od), lambda: od_to_rgb(od)),
            "HED jitter (reference)": (lambda: hed_jitter(tiles[0], rng),
                                       lambda: hed_jitter(tiles[0], rng)),
        }  # fmt: skip
        times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
        for before, after in pairs.values():
            for _ in range(3):
                before(), after()
        for _ in range(args.repeats):
            for key, fns in pairs.items():
                for i, fn in enumerate(fns):
                    start = time.perf_counter()
                    fn()
                    times[key][i].append(time.perf_counter() - start)
    print(f"| step ({args.threads} thread(s), median of {args.repeats}) | before ms | after ms "
          "| speed-up |\n|---|---:|---:|---:|")  # fmt: skip
    for key, (before, after) in times.items():
        b, a = 1e3 * np.median(before), 1e3 * np.median(after)
        print(f"| {key} | {b:.2f} | {a:.2f} | {b / a:.1f}x |")


if __name__ == "__main__":
    main()
