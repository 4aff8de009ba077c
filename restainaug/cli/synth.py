"""``restainaug synth``: write a labelled synthetic data set (`restainaug.synth`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DESCRIPTION", "HELP", "ON_INTERRUPT", "add_arguments", "marker_level", "run"]

HELP = "write a labelled synthetic data set (images/, labels/, if/, manifest.json)"
#: Finished fields are on disk; a rerun with the same --out skips them.
ON_INTERRUPT = "run the same command again to resume (finished fields are kept)"
DESCRIPTION = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug synth``."""
    parser.add_argument("--out", required=True, help="destination folder (resumes if it exists)")
    parser.add_argument("--n", type=int, required=True, help="number of fields")
    parser.add_argument(
        "--marker",
        default="membrane",
        choices=["membrane", "nuclear", "cytoplasmic", "none"],
        help="marker localisation",
    )
    parser.add_argument(
        "--level",
        default="mixed",
        help="marker strength: 1+, 2+, 3+, 0, mixed (1+ to 3+ per cell) or an optical density",
    )
    parser.add_argument(
        "--positive-fraction",
        type=float,
        default=None,
        help="fraction of positive epithelial cells (default: 0.3-0.9 per field)",
    )
    parser.add_argument("--size", type=int, default=256, help="field side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="data set seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def marker_level(text: str) -> str | float | None:
    """``--level`` as `restainaug.synth.SynthConfig`'s ``marker_level``.

    Returns:
        A level name of `restainaug.ops.MARKER_LEVELS` as it is, a number as a float, and
        ``None`` for ``"mixed"``: ``SynthConfig``'s own default, 1+ to 3+ drawn per cell.

    Raises:
        ValueError: for anything else.

    Examples:
        >>> marker_level("2+"), marker_level("0.45"), marker_level("mixed")
        ('2+', 0.45, None)
    """
    from ..ops import MARKER_LEVELS

    if text == "mixed":
        return None
    if text in MARKER_LEVELS:
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"--level: expected 0, 1+, 2+, 3+, mixed or an optical density, got {text!r}."
        ) from None


def run(args: argparse.Namespace) -> int:
    """Write the data set; returns the exit status."""
    from ..synth import SynthConfig
    from ..synth.dataset import write_dataset

    overrides: dict[str, Any] = {"marker": args.marker, "size": (args.size, args.size)}
    level = marker_level(args.level)
    if level is not None:
        overrides["marker_level"] = level
    if args.positive_fraction is not None:
        overrides["positive_fraction"] = args.positive_fraction
    config = SynthConfig(**overrides)
    manifest = write_dataset(args.out, args.n, config, seed=args.seed, show_progress=not args.quiet)
    print(f"restainaug synth: {args.n} fields ({args.marker} marker) in {manifest.parent}")
    return 0
