"""``restainaug evaluate``: score translators on labelled IHC (`restainaug.evaluation`)."""

from __future__ import annotations

import argparse

from ._options import options

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = (
    "score translators on labelled IHC (nuclear and marker AUC, Dice, cycle, "
    "stability), always next to optical"
)
DESCRIPTION = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug evaluate``."""
    parser.add_argument(
        "--model",
        action="extend",
        nargs="+",
        default=None,
        metavar="NAME_OR_PATH",
        help="models to evaluate besides optical (repeatable; default: the default model, see "
        "`restainaug models`)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="deepliif, bcdata, synth, or a folder of IHC images (default: deepliif when the "
        "shared data folder has it, else synth)",
    )
    parser.add_argument(
        "--labels", default=None, help="folder of label images for --data DIR (default: DIR)"
    )
    parser.add_argument(
        "--shared-data",
        default=None,
        help="shared data folder (default: $RESTAINAUG_SHARED_DATA or ../shared/data)",
    )
    parser.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="for --data deepliif: move masks and IF into the IHC panels' frame first (the "
        "sample fields are several pixels apart); --no-register scores the panels as stored",
    )
    parser.add_argument("--n-synth", type=int, default=8, help="number of synthetic fields")
    parser.add_argument("--size", type=int, default=256, help="side of synthetic fields")
    parser.add_argument(
        "--variants", type=int, default=4, help="re-stained variants per field for stability"
    )
    parser.add_argument(
        "--realism",
        action="store_true",
        help="also score how real re-stained nuclei look (classifier AUC of real vs added and "
        "removed marker, next to the context floor: the AUC of real positives vs real negatives "
        "from their surroundings and shape alone; DAB statistics, glass Delta E; needs "
        "scikit-learn)",
    )
    parser.add_argument(
        "--grain", type=float, default=0.0, help="--realism: MarkerToNuclei grain (e.g. 0.6)"
    )
    parser.add_argument(
        "--edge", type=int, default=0, help="--realism: MarkerToNuclei edge softening (e.g. 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of fields and variants")
    parser.add_argument("--out", default=None, help="CSV file for the per-field scores")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Print the table of mean scores (and realism scores); returns the exit status."""
    from ..evaluation import compare, load_fields

    fields = load_fields(
        **options(args, "data", "labels", "shared_data", "n_synth", "size", "seed", "register")
    )
    models = args.model or ["default"]
    report = compare(
        models,
        fields,
        variants=args.variants,
        seed=args.seed,
        device=args.device,
        show_progress=not args.quiet,
    )
    print(
        f"restainaug evaluate: {len(fields)} fields ({', '.join(f.name for f in fields[:4])}"
        f"{', ...' if len(fields) > 4 else ''}); means over fields:"
    )
    print(report.format_table())
    if args.out is not None:
        print(f"per-field scores: {report.to_csv(args.out)}")
    if args.realism:
        from ..evaluation.realism import realism

        for model in models:
            scores = realism(
                fields, model, args.seed, args.device, grain=args.grain, edge=args.edge
            )
            print(scores.format_table())
    return 0
