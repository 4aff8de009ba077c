"""``restainaug export``: write a trained run as a model (`restainaug.train.export_run`)."""

from __future__ import annotations

import argparse

from ._options import options

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "write a trained run as a model (safetensors + JSON card)"
DESCRIPTION = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug export``."""
    parser.add_argument("run", help="the run folder")
    parser.add_argument("--name", required=True, help="model name")
    parser.add_argument("--out", default=None, help="destination folder (default RUN/export)")
    parser.add_argument(
        "--checkpoint", default=None, help="a checkpoint file instead of the latest"
    )
    parser.add_argument("--description", default="", help="one paragraph for the model card")
    parser.add_argument("--licence", default="unspecified", help="licence of the weights")


def run(args: argparse.Namespace) -> int:
    """Write ``NAME.safetensors`` and ``NAME.json``; returns the exit status."""
    from ..train import export_run

    card = export_run(**options(args, "run", "name", "out", "checkpoint", "description", "licence"))
    print(f"restainaug export: wrote {card} and {card.with_suffix('.safetensors').name}")
    print(f'use it with: RestainTransform(model="{card}")')
    return 0
