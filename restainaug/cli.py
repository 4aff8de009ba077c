"""The ``restainaug`` command.

Sub-commands:

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


def _generate(args: argparse.Namespace) -> int:
    import json

    from .data import UnmatchedFilesError
    from .generate import generate

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
    except KeyboardInterrupt:
        # Every finished output is on disk (written atomically); a rerun skips them.
        print(
            "restainaug generate: interrupted; run the same command again to resume "
            "(finished outputs are kept).",
            file=sys.stderr,
        )
        return 130
    manifest = json.loads(path.read_text())
    if manifest["complete"]:
        print(f"restainaug generate: {len(manifest['outputs'])} outputs in {path.parent}")
    else:
        print(f"restainaug generate: this shard is done; {path} is written when all are")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation import compare, load_fields

    fields = load_fields(
        args.data,
        args.labels,
        args.shared_data,
        args.n_synth,
        args.size,
        args.seed,
        register=args.register,
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
        from .evaluation.realism import realism

        for model in models:
            scores = realism(
                fields, model, args.seed, args.device, grain=args.grain, edge=args.edge
            )
            print(scores.format_table())
    return 0


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .train import TrainConfig, apply_overrides, fit, load_checkpoint, load_config

    overrides: list[str] = []
    for flag, key in (
        ("out", "run.out"),
        ("steps", "optim.steps"),
        ("size", "model.size"),
        ("synthetic", "data.synthetic"),
        ("device", "run.device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    for flag, key in (("ihc", "data.ihc"), ("if_", "data.if")):
        value = getattr(args, flag)
        if value:
            import json

            overrides.append(f"{key}={json.dumps(value)}")
    overrides += args.set or []  # explicit overrides win over the shortcuts
    resume = args.resume
    if args.config is not None:
        config = load_config(args.config)
    elif isinstance(resume, str):
        # Continue a run from its folder alone: its checkpoint holds the config.
        saved = load_checkpoint(resume)["config"]
        config = TrainConfig.from_dict(saved, source=f"checkpoint in {resume}")
        run = Path(resume)
        run = run.parent.parent if run.is_file() else run
        overrides.insert(0, f"run.out={run.parent if run.name == 'checkpoints' else run}")
    else:
        config = TrainConfig()
    if args.quiet:
        overrides.append("run.progress=false")
    config = apply_overrides(config, overrides)
    result = fit(config, resume=resume or False)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
        print(
            f"restainaug train: {result.step} steps in {result.out}"
            + (f" ({shown})" if shown else "")
        )
        print(f"export it with: restainaug export {result.out} --name NAME")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .train import export_run

    card = export_run(
        args.run,
        args.name,
        out=args.out,
        checkpoint=args.checkpoint,
        description=args.description,
        licence=args.licence,
    )
    print(f"restainaug export: wrote {card} and {card.with_suffix('.safetensors').name}")
    print(f'use it with: RestainTransform(model="{card}")')
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
    from .presets import POLICIES

    generate = sub.add_parser(
        "generate",
        help="write re-stained variants of labelled images with their labels and a manifest",
        description=(
            "Write VARIANTS re-stained copies of every image in --images, with its labels "
            "from --labels copied, and a manifest from which any output can be regenerated. "
            "Reruns resume; under torchrun every process writes its share."
        ),
    )
    generate.add_argument(
        "--images", required=True, metavar="DIR", help="folder of IHC images (8-bit RGB)"
    )
    generate.add_argument(
        "--labels",
        default=None,
        metavar="DIR",
        help="folder of instance label images (default: --images)",
    )
    generate.add_argument(
        "--out", required=True, metavar="DIR", help="destination folder (resumes if it exists)"
    )
    generate.add_argument(
        "--variants", type=int, default=6, metavar="N", help="re-stained variants per image"
    )
    generate.add_argument(
        "--policy",
        default="default",
        choices=list(POLICIES),
        help="re-staining policy (see restainaug.presets)",
    )
    generate.add_argument("--model", default="default", help="model name or path")
    generate.add_argument(
        "--device", default=None, help="cpu (default), cuda (one GPU per torchrun rank) or auto"
    )
    generate.add_argument("--seed", type=int, default=0, help="data set seed")
    generate.add_argument(
        "--batch-size", type=int, default=8, help="images of the same size re-stained together"
    )
    generate.add_argument(
        "--no-original", action="store_true", help="do not write the input images as _v0"
    )
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=_generate)
    evaluate = sub.add_parser(
        "evaluate",
        help="score translators on labelled IHC (nuclear and marker AUC, Dice, cycle, "
        "stability), always next to optical",
    )
    evaluate.add_argument(
        "--model",
        action="extend",
        nargs="+",
        default=None,
        metavar="NAME_OR_PATH",
        help="models to evaluate besides optical (repeatable; default: the default model, see "
        "`restainaug models`)",
    )
    evaluate.add_argument(
        "--data",
        default=None,
        help="deepliif, bcdata, synth, or a folder of IHC images (default: deepliif when the "
        "shared data folder has it, else synth)",
    )
    evaluate.add_argument(
        "--labels", default=None, help="folder of label images for --data DIR (default: DIR)"
    )
    evaluate.add_argument(
        "--shared-data",
        default=None,
        help="shared data folder (default: $RESTAINAUG_SHARED_DATA or ../shared/data)",
    )
    evaluate.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="for --data deepliif: move masks and IF into the IHC panels' frame first (the "
        "sample fields are several pixels apart); --no-register scores the panels as stored",
    )
    evaluate.add_argument("--n-synth", type=int, default=8, help="number of synthetic fields")
    evaluate.add_argument("--size", type=int, default=256, help="side of synthetic fields")
    evaluate.add_argument(
        "--variants", type=int, default=4, help="re-stained variants per field for stability"
    )
    evaluate.add_argument(
        "--realism",
        action="store_true",
        help="also score how real re-stained nuclei look (classifier AUC of real vs added and "
        "removed marker, DAB statistics, glass Delta E; needs scikit-learn)",
    )
    evaluate.add_argument(
        "--grain", type=float, default=0.0, help="--realism: MarkerToNuclei grain (e.g. 0.6)"
    )
    evaluate.add_argument(
        "--edge", type=int, default=0, help="--realism: MarkerToNuclei edge softening (e.g. 1)"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="seed of fields and variants")
    evaluate.add_argument("--out", default=None, help="CSV file for the per-field scores")
    evaluate.add_argument("--device", default=None, help="torch device, e.g. cuda")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=_evaluate)
    train = sub.add_parser(
        "train",
        help="fit IHC <-> IF generators (CycleGAN) on unpaired IHC and IF images",
        description=(
            "Fit IHC <-> IF generators. Settings come from --config (JSON or YAML), then the "
            "shortcuts below, then --set section.field=value overrides (which win). Under "
            "torchrun the same command trains on several processes."
        ),
    )
    train.add_argument("--config", default=None, help="JSON or YAML training config")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=1e-4 (repeatable; values as JSON)",
    )
    train.add_argument("--ihc", nargs="+", default=None, help="IHC image files or folders")
    train.add_argument(
        "--if",
        dest="if_",
        metavar="IF",
        nargs="+",
        default=None,
        help="IF images: multi-channel TIFFs or folders",
    )
    train.add_argument("--out", default=None, help="run folder (run.out)")
    train.add_argument("--steps", type=int, default=None, help="optimisation steps (optim.steps)")
    train.add_argument(
        "--size", default=None, choices=["small", "full", "fast"], help="model size (model.size)"
    )
    train.add_argument(
        "--synthetic", type=int, default=None, help="synthetic fields per domain (data.synthetic)"
    )
    train.add_argument("--device", default=None, help="auto, cpu, cuda ... (run.device)")
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="continue the run in run.out, or the run folder / checkpoint RUN",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)
    export = sub.add_parser(
        "export", help="write a trained run as a model (safetensors + JSON card)"
    )
    export.add_argument("run", help="the run folder")
    export.add_argument("--name", required=True, help="model name")
    export.add_argument("--out", default=None, help="destination folder (default RUN/export)")
    export.add_argument(
        "--checkpoint", default=None, help="a checkpoint file instead of the latest"
    )
    export.add_argument("--description", default="", help="one paragraph for the model card")
    export.add_argument("--licence", default="unspecified", help="licence of the weights")
    export.set_defaults(func=_export)
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
