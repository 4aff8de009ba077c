"""The ``restainaug`` command.

Sub-commands, one module each (its options and its handler):

* ``restainaug demo``: re-stain the embedded default image (or ``--image``) and write a PNG
  grid of the original, its IF channels and re-stained variants;
* ``restainaug models``: list the models the registry finds (offline);
* ``restainaug synth``: write a labelled synthetic data set (IHC, IF, labels, manifest);
* ``restainaug generate``: write re-stained variants of a labelled folder with their labels
  and a manifest (an in-silico data set, see `restainaug.generate`);
* ``restainaug evaluate``: score translators (the default model unless ``--model``) against
  nucleus labels and real IF, next to ``optical`` (see `restainaug.evaluation`);
* ``restainaug train``: fit IHC <-> IF generators on unpaired images (see `restainaug.train`);
* ``restainaug export``: write a trained run as a model that `RestainTransform` loads.

Each sub-command module has ``HELP`` and ``DESCRIPTION`` (its lines in ``--help``),
``add_arguments(parser)`` and ``run(args) -> exit status``; the work itself is done by the
library. A module may set ``ON_INTERRUPT``: what a user can do after Ctrl-C (the command then
prints one line with it and exits with status 130 instead of a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import demo, evaluate, export, generate, models, synth, train

__all__ = ["COMMANDS", "build_parser", "main"]

#: The sub-commands by name, in the order ``--help`` lists them.
COMMANDS = {
    "demo": demo,
    "models": models,
    "synth": synth,
    "generate": generate,
    "evaluate": evaluate,
    "train": train,
    "export": export,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``restainaug`` command."""
    parser = argparse.ArgumentParser(
        prog="restainaug",
        description="Re-stain IHC images through the IF domain (ReStainGAN augmentation).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        options = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(options)
        options.set_defaults(func=command.run)
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
    except KeyboardInterrupt:
        hint = getattr(COMMANDS[args.command], "ON_INTERRUPT", None)
        print(f"restainaug {args.command}: interrupted{'; ' + hint if hint else ''}.",
              file=sys.stderr)  # fmt: skip
        return 130
