"""Recipe of the shipped default model: data, settings, training, export.

Reproduces ``pretrained/<name>.{json,safetensors}`` from the public data in the shared data
folder (DeepLIIF ROIs, MIBI field 8) plus synthetic tissue. The labelled DeepLIIF fields
(Bladder1, Lung1) are held out: they are only validation data here (logged, never used to
choose settings or checkpoints) and the evaluation set of the model card.

Run from the repository root::

    python pretrained/recipes/train_default.py --shared-data ../shared/data --out runs/default
    python pretrained/recipes/train_default.py --shared-data ../shared/data --out runs/default \
        --resume                                  # continue after an interruption
    python pretrained/recipes/train_default.py ... --export-only   # write the model files

The model files go to ``pretrained/`` (``--name``); the card records this recipe's config.

Status: under development. Runs of this recipe so far (up to 2,000 steps) beat ``optical``
on nuclear AUC early in training but not on marker AUC, Otsu Dice or cycle SSIM; no model
made with it ships yet (see ``pretrained/README.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from restainaug.data import write_image
from restainaug.train import TrainConfig, apply_overrides, export_run, fit

DATA_LICENCES = {
    "deepliif/rois (IHC domain)": "Apache-2.0 with Commons Clause (no selling)",
    "deepliif/train Bladder1, Lung1 (validation only)": "Apache-2.0 with Commons Clause",
    "mibi_fov8 HH3, HER2 (IF domain)": "Apache-2.0 modified: non-commercial academic use",
    "skimage.data.immunohistochemistry (IHC domain)": "no known copyright restrictions",
    "restainaug.synth (both domains, paired term)": "generated, no restrictions",
}


def config(shared: Path, out: Path, steps: int, extra: list[str] | None = None) -> TrainConfig:
    """The training config of the default model."""
    ihc_dir = out / "data" / "ihc"
    ihc_dir.mkdir(parents=True, exist_ok=True)
    from skimage import data

    skimage_png = ihc_dir / "skimage_ihc.png"
    if not skimage_png.is_file():
        write_image(skimage_png, data.immunohistochemistry())
    rois = sorted((shared / "deepliif" / "rois").glob("*.png"))
    ihc = [str(p) for p in rois] + [str(skimage_png)]
    overrides = [
        f"run.out={out}",
        f"data.ihc={_json(ihc)}",
        f"data.if={_json([str(shared / 'mibi_fov8')])}",
        'data.if_channels={"nuclear": "HH3", "marker": "HER2"}',
        "data.if_smooth=1.5",
        "data.synthetic=96",
        "data.synthetic_marker=mixed",
        "data.paired_synthetic=96",
        "data.patch_size=128",
        f"data.val_deepliif={_json([str(shared / 'deepliif' / 'train')])}",
        "data.val_synthetic=4",
        "data.val_size=256",
        "model.size=fast",
        f"optim.steps={steps}",
        "optim.batch_size=2",
        "optim.lambda_paired=5",
        "run.seed=0",
        "run.val_every=500",
        "run.sample_every=1000",
        "run.checkpoint_every=250",
        "run.log_every=50",
        "run.keep_checkpoints=2",
        "run.threads=1",
    ]
    return apply_overrides(TrainConfig(), overrides + list(extra or []))


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def evaluate_model(card: Path, shared: Path, csv: Path) -> dict[str, object]:
    """Held-out evaluation beside ``optical``: DeepLIIF Bladder1 + Lung1, 8 synthetic fields."""
    from restainaug.evaluation import compare, deepliif_fields, synth_fields

    out: dict[str, object] = {}
    for key, fields in (
        ("", deepliif_fields(shared / "deepliif" / "train")),
        ("_synthetic", synth_fields(8)),
    ):
        report = compare([card], fields, variants=4)
        print(report.format_table())
        report.to_csv(csv.with_name(f"{csv.stem}{key}.csv"))
        means = {m: report.mean(m) for m in report.models}
        learned = next(m for m in report.models if m not in ("optical", "real IF"))
        out[f"evaluation{key}"] = _finite(means[learned])
        out[f"evaluation{key}_optical"] = _finite(means["optical"])
        if "real IF" in means:
            out[f"evaluation{key}_real_if"] = _finite(means["real IF"])
    out["evaluated_on"] = (
        "DeepLIIF Bladder1 + Lung1 (Ki67 IHC, 512x512, held out from training) and 8 "
        "synthetic 256x256 fields; restainaug evaluate, seed 0, 4 variants"
    )
    return out


def _finite(means: dict[str, float]) -> dict[str, float]:
    import math

    return {k: round(float(v), 4) for k, v in means.items() if math.isfinite(v)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/default"))
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--name", default="restain-fast")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="more config overrides")
    args = parser.parse_args()
    cfg = config(args.shared_data, args.out, args.steps, args.set)
    if not args.export_only:
        fit(cfg, resume=args.resume)
    description = (
        "Fast IHC <-> IF generators (DAPI-like nuclear + marker channel) for brightfield "
        "hematoxylin + DAB IHC; CycleGAN on real IHC ROIs, MIBI IF and synthetic tissue, "
        "with a paired term on synthetic fields."
    )
    extra = {"recipe": "pretrained/recipes/train_default.py", "data": DATA_LICENCES}
    draft = export_run(args.out, args.name, description=description, extra=extra)
    metrics = evaluate_model(draft, args.shared_data, args.out / "evaluation.csv")
    card = export_run(
        args.out,
        args.name,
        out=Path(__file__).resolve().parents[1] / args.name,
        description=description,
        licence="CC-BY-NC-4.0",
        extra=extra,
        metrics=metrics,
    )
    print(f"wrote {card}")


if __name__ == "__main__":
    main()
