"""``restainaug generate``: re-stained variants of a labelled folder (`restainaug.generate`)."""

from __future__ import annotations

import argparse

__all__ = ["DESCRIPTION", "HELP", "ON_INTERRUPT", "add_arguments", "run"]

HELP = "write re-stained variants of labelled images with their labels and a manifest"
#: Every finished output is on disk (written atomically); a rerun skips them.
ON_INTERRUPT = "run the same command again to resume (finished outputs are kept)"
DESCRIPTION = (
    "Write VARIANTS re-stained copies of every image in --images, with its labels "
    "from --labels copied, and a manifest from which any output can be regenerated. "
    "Reruns resume; under torchrun every process writes its share."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug generate``."""
    from ..presets import POLICIES

    parser.add_argument(
        "--images", required=True, metavar="DIR", help="folder of IHC images (8-bit RGB)"
    )
    parser.add_argument(
        "--labels",
        default=None,
        metavar="DIR",
        help="folder of instance label images (default: --images)",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="destination folder (resumes if it exists)"
    )
    parser.add_argument(
        "--variants", type=int, default=6, metavar="N", help="re-stained variants per image"
    )
    parser.add_argument(
        "--policy",
        default="default",
        choices=list(POLICIES),
        help="re-staining policy (see restainaug.presets)",
    )
    parser.add_argument("--model", default="default", help="model name or path")
    parser.add_argument(
        "--device", default=None, help="cpu (default), cuda (one GPU per torchrun rank) or auto"
    )
    parser.add_argument("--seed", type=int, default=0, help="data set seed")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="images of the same size re-stained together"
    )
    parser.add_argument(
        "--no-original", action="store_true", help="do not write the input images as _v0"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Write the data set (this process's share under torchrun); returns the exit status."""
    import json

    from ..data import UnmatchedFilesError
    from ..generate import generate

    try:
        path = generate(
            args.images,
            args.labels if args.labels is not None else args.images,
            args.out,
            args.variants,
            model=args.model,
            policy=args.policy,
            seed=args.seed,
            device=args.device,
            batch_size=args.batch_size,
            include_original=not args.no_original,
            show_progress=not args.quiet,
        )
    except UnmatchedFilesError as e:  # its advice, strict=False, is no option here
        fix = "add the missing label files or move the unmatched files out of the folders."
        if args.labels is None:
            fix = (
                "without --labels, label files are looked for in --images: pass --labels DIR "
                f"if they are elsewhere; otherwise {fix}"
            )
        raise ValueError(f"{e.problem}. {fix[0].upper()}{fix[1:]}") from None
    manifest = json.loads(path.read_text())
    if manifest["complete"]:
        print(f"restainaug generate: {len(manifest['outputs'])} outputs in {path.parent}")
    else:
        print(f"restainaug generate: this shard is done; {path} is written when all are")
    return 0
