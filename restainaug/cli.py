"""The ``restainaug`` command.

Sub-commands:

* ``restainaug demo``: re-stain the embedded default image (or ``--image``) and write a PNG
  grid of the original, its IF channels and re-stained variants;
* ``restainaug models``: list the models the registry finds (offline).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(
        out=args.out,
        image=args.image,
        model=args.model,
        n=args.n,
        seed=args.seed,
        device=args.device,
    )
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models.registry import DEFAULT_MODEL, list_models, model_card

    for name in list_models():
        card = model_card(name)
        tag = " (default)" if name == DEFAULT_MODEL else ""
        desc = "analytic colour deconvolution (built in)" if card is None else card.description
        print(f"{name}{tag}: {desc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``restainaug`` command."""
    parser = argparse.ArgumentParser(
        prog="restainaug",
        description="Re-stain IHC images through the IF domain (ReStainGAN augmentation).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write a PNG grid of re-stained variants of one image")
    demo.add_argument("--out", default="restainaug-demo.png", help="PNG to write")
    demo.add_argument(
        "--image", default=None, help="RGB IHC image (default: skimage.data.immunohistochemistry())"
    )
    demo.add_argument("--model", default="default", help="model name or path")
    demo.add_argument("--n", type=int, default=8, help="number of variants")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--device", default=None, help="torch device, e.g. cuda")
    demo.set_defaults(func=_demo)
    models = sub.add_parser("models", help="list the available models")
    models.set_defaults(func=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, ImportError) as e:
        print(f"restainaug {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
