"""The ``restainaug`` command.

Sub-commands:

* ``restainaug demo``: re-stain the embedded default image (or ``--image``) and write a PNG
  grid of the original, its IF channels and re-stained variants;
* ``restainaug models``: list the models the registry finds (offline);
* ``restainaug synth``: write a labelled synthetic data set (IHC, IF, labels, manifest).
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


def _synth(args: argparse.Namespace) -> int:
    from .synth import SynthConfig
    from .synth.dataset import write_dataset

    level: str | float | tuple[float, float] = args.level
    if args.level == "mixed":
        level = (0.3, 1.0)
    elif args.level not in ("0", "1+", "2+", "3+"):
        try:
            level = float(args.level)
        except ValueError:
            raise ValueError(
                f"--level: expected 0, 1+, 2+, 3+, mixed or an optical density, got {args.level!r}."
            ) from None
    overrides = {"marker": args.marker, "marker_level": level, "size": (args.size, args.size)}
    if args.positive_fraction is not None:
        overrides["positive_fraction"] = args.positive_fraction
    config = SynthConfig(**overrides)
    manifest = write_dataset(args.out, args.n, config, seed=args.seed, show_progress=not args.quiet)
    print(f"restainaug synth: {args.n} fields ({args.marker} marker) in {manifest.parent}")
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
    synth = sub.add_parser(
        "synth", help="write a labelled synthetic data set (images/, labels/, if/, manifest.json)"
    )
    synth.add_argument("--out", required=True, help="destination folder (resumes if it exists)")
    synth.add_argument("--n", type=int, required=True, help="number of fields")
    synth.add_argument(
        "--marker",
        default="membrane",
        choices=["membrane", "nuclear", "cytoplasmic", "none"],
        help="marker localisation",
    )
    synth.add_argument(
        "--level",
        default="mixed",
        help="marker strength: 1+, 2+, 3+, 0, mixed (1+ to 3+ per cell) or an optical density",
    )
    synth.add_argument(
        "--positive-fraction",
        type=float,
        default=None,
        help="fraction of positive epithelial cells (default: 0.3-0.9 per field)",
    )
    synth.add_argument("--size", type=int, default=256, help="field side in pixels")
    synth.add_argument("--seed", type=int, default=0, help="data set seed")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_synth)
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
