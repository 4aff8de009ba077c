"""``restainaug train``: fit IHC <-> IF generators (`restainaug.train`).

Settings come from ``--config``, then the shortcut options, then ``--set`` overrides (which
win); ``--resume RUN`` alone continues a run from its folder or a checkpoint file
(`restainaug.train.resume_config`).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["DESCRIPTION", "HELP", "ON_INTERRUPT", "add_arguments", "overrides", "run"]

HELP = "fit IHC <-> IF generators, or adapt the default model to your own IHC tiles (--init)"
ON_INTERRUPT = "continue from the last checkpoint with: restainaug train --resume RUN_FOLDER"
DESCRIPTION = (
    "Fit IHC <-> IF generators. Settings come from --config (JSON or YAML), then the "
    "shortcuts below, then --set section.field=value overrides (which win). Under "
    "torchrun the same command trains on several processes. To adapt a shipped model to "
    "your slides without labels: restainaug train --init default --ihc MY_TILES/ --out RUN."
)

#: The shortcut options and the config fields they set.
SHORTCUTS = (
    ("out", "run.out"),
    ("steps", "optim.steps"),
    ("size", "model.size"),
    ("synthetic", "data.synthetic"),
    ("device", "run.device"),
)
#: The shortcut options that take several sources, and their (list) config fields.
SOURCES = (("ihc", "data.ihc"), ("if_", "data.if"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``restainaug train``."""
    parser.add_argument("--config", default=None, help="JSON or YAML training config")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=1e-4 (repeatable; values as JSON)",
    )
    parser.add_argument("--ihc", nargs="+", default=None, help="IHC image files or folders")
    parser.add_argument(
        "--if",
        dest="if_",
        metavar="IF",
        nargs="+",
        default=None,
        help="IF images: multi-channel TIFFs or folders",
    )
    parser.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="adapt this model (e.g. default) to the --ihc tiles, without labels "
        "(model.init; sets the adaptation defaults unless --config is given)",
    )
    parser.add_argument("--out", default=None, help="run folder (run.out)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (optim.steps)")
    parser.add_argument(
        "--size", default=None, choices=["small", "full", "fast"], help="model size (model.size)"
    )
    parser.add_argument(
        "--synthetic", type=int, default=None, help="synthetic fields per domain (data.synthetic)"
    )
    parser.add_argument("--device", default=None, help="auto, cpu, cuda ... (run.device)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="continue the run in run.out, or the run folder / checkpoint RUN",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def overrides(args: argparse.Namespace) -> list[str]:
    """The options as ``section.field=value`` overrides, in the order they apply.

    The adaptation defaults first when ``--init`` is given without ``--config``, then the
    shortcuts, then ``--set`` (so that it wins), then ``--quiet``.

    Examples:
        >>> args = argparse.Namespace(out=None, steps=5, size=None, synthetic=None,
        ...     device=None, ihc=["a.png"], if_=None, set=["optim.lr=1e-4"], quiet=True)
        >>> overrides(args)
        ['optim.steps=5', 'data.ihc=["a.png"]', 'optim.lr=1e-4', 'run.progress=false']
    """
    found: list[str] = []
    init = getattr(args, "init", None)
    if init is not None:
        from ..train.adapt import ADAPT_DEFAULTS

        if getattr(args, "config", None) is None:
            found += ADAPT_DEFAULTS
        found.append(f"model.init={init}")
    for flag, key in SHORTCUTS:
        value = getattr(args, flag)
        if value is not None:
            found.append(f"{key}={value}")
    for flag, key in SOURCES:
        value = getattr(args, flag)
        if value:
            found.append(f"{key}={json.dumps(value)}")
    found += args.set or []
    if args.quiet:
        found.append("run.progress=false")
    return found


def run(args: argparse.Namespace) -> int:
    """Train (or resume) the run; rank 0 reports it. Returns the exit status."""
    from ..train import TrainConfig, apply_overrides, fit, load_config, resume_config
    from ..train.distributed import is_main_process

    if args.init is not None and not args.ihc and args.config is None:
        raise ValueError(
            "--init adapts a model to your slides: give a folder of your unlabelled IHC tiles "
            f"with --ihc, e.g. restainaug train --init {args.init} --ihc MY_TILES/ --out RUN."
        )
    if args.config is not None:
        config = load_config(args.config)
    elif isinstance(args.resume, str):
        config = resume_config(args.resume)
    else:
        config = TrainConfig()
    result = fit(apply_overrides(config, overrides(args)), resume=args.resume or False)
    if is_main_process():
        shown = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
        print(
            f"restainaug train: {result.step} steps in {result.out}"
            + (f" ({shown})" if shown else "")
        )
        if result.adaptation:
            print(_adaptation_table(result.adaptation))
        print(f"export it with: restainaug export {result.out} --name NAME")
    return 0


def _adaptation_table(report: dict) -> str:
    """Before / after scores of an adaptation run, one line per score."""
    lines = ["adaptation (scores without labels on the tiles; validation on fields with truth):"]
    for part in ("tiles", "validation"):
        for key, old in report["before"].get(part, {}).items():
            new = report["after"][part][key]
            lines.append(f"  {part} {key}: {old:.4f} -> {new:.4f}")
    return "\n".join(lines)
