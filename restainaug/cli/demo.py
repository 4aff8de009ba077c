"""``restainaug demo``: a PNG grid of re-stained variants of one image (`restainaug.demo`)."""

from __future__ import annotations

import argparse

from ._options import options

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "write a PNG grid of re-stained variants of one image"
DESCRIPTION = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug demo``."""
    parser.add_argument("--out", default="restainaug-demo.png", help="PNG to write")
    parser.add_argument(
        "--image", default=None, help="RGB IHC image (default: skimage.data.immunohistochemistry())"
    )
    parser.add_argument("--model", default="default", help="model name or path")
    parser.add_argument("--n", type=int, default=8, help="number of variants")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda")


def run(args: argparse.Namespace) -> int:
    """Write the grid; returns the exit status."""
    from ..demo import run_demo

    run_demo(**options(args, "out", "image", "model", "n", "seed", "device"))
    return 0
