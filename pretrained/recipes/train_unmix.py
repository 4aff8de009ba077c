"""Recipe of the shipped ``restain-unmix`` model: train with the library, evaluate, export.

Training is ``restainaug train --config pretrained/recipes/restain-unmix.yaml`` (the
library's ``model.kind: unmix``, `restainaug.train.unmix`): an `UnmixGenerator` trained with
supervision on one real DeepLIIF field (``Bladder1``: its IHC and hematoxylin-only panels,
registered, against its annotated nuclei with the gaps between touching nuclei left out) and
128 synthetic fields, on stain-jittered patches; `StainRenderer` renders edits back. The
DeepLIIF field ``Lung1`` is never trained on: it is the validation field (learning curve only;
the exported model is the last step, fixed in advance).

What cannot live in the library is the model card's evaluation and the licences of the data,
so this script trains (unless ``--export-only``), then evaluates the run on the held-out field
(registered and as stored), on the training field and on 8 synthetic fields beside
``optical`` and the real IF, counts the nuclei found without labels, and writes the model into
``pretrained/``. Run from the repository root (about 3-4 minutes of training on one CPU thread,
then a few minutes of evaluation)::

    python pretrained/recipes/train_unmix.py                 # train, evaluate, export
    python pretrained/recipes/train_unmix.py --export-only   # evaluate and export again
    python pretrained/recipes/train_unmix.py --set run.seed=1 --set run.out=runs/unmix-s1
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from restainaug.data import read_deepliif
from restainaug.models import load_model
from restainaug.stains import OpticalTranslator
from restainaug.train import apply_overrides, export_run, fit, load_config
from restainaug.train.checkpoint import latest_checkpoint

HERE = Path(__file__).resolve().parent
DEEPLIIF_LICENCE = "Apache-2.0 with Commons Clause (no selling)"
VERSION = "1.2.0"


def data_licences(train: list[str], held_out: list[str]) -> dict[str, str]:
    """The data of a run and their licences, for the model card."""
    out = {f"deepliif/train/{Path(n).stem} (training)": DEEPLIIF_LICENCE for n in train}
    out.update(
        {f"deepliif/train/{Path(n).stem} (held out, evaluation only)": DEEPLIIF_LICENCE
         for n in held_out}
    )  # fmt: skip
    out["restainaug.synth (training)"] = "generated, no restrictions"
    return out


def separation(translator: torch.nn.Module, paths: list[str]) -> dict:
    """Nuclei found without labels (`nuclei_from_channel`) on registered DeepLIIF fields."""
    from restainaug.evaluation.metrics import matched_objects
    from restainaug.nuclei import nuclei_from_channel

    out = {}
    for path in paths:
        f = read_deepliif(path, register=True)
        x = torch.from_numpy(f.ihc).permute(2, 0, 1)[None].float() / 255.0
        row = {"nuclei": f.num_nuclei}
        for key, tr in (("", translator), ("_optical", OpticalTranslator())):
            with torch.no_grad():
                nuclear = tr.to_if(x)[:, tr.nuclear_index : tr.nuclear_index + 1]
            found = nuclei_from_channel(nuclear)[0, 0].numpy().astype(np.int64)
            row[f"objects{key}"] = len(np.unique(found)) - 1
            row[f"matched_iou50{key}"] = matched_objects(found, f.labels)
        out[Path(path).stem] = row
    return out


def evaluation(card: Path, train: list[str], held_out: list[str], out: Path) -> dict:
    """The model card's metrics: `restainaug.evaluation.compare` on four sets of fields."""
    from restainaug.evaluation import compare, deepliif_fields, synth_fields

    translator = load_model(card)
    name = translator.name
    metrics: dict[str, object] = {}
    sets = {
        "": deepliif_fields(held_out),
        "_unregistered": deepliif_fields(held_out, register=False),
        "_training_field": deepliif_fields(train),
        "_synthetic": synth_fields(8, seed=12345),
    }
    for key, fields in sets.items():
        report = compare([translator], fields, variants=4)
        print(f"\n## evaluation{key}\n{report.format_table()}", flush=True)
        report.to_csv(out / f"evaluation{key}.csv")
        for model in report.models:
            suffix = {name: "", "optical": "_optical", "real IF": "_real_if"}[model]
            metrics[f"evaluation{key}{suffix}"] = {
                k: round(float(v), 4) for k, v in report.mean(model).items() if math.isfinite(v)
            }
    metrics["nuclei_without_labels"] = separation(translator, held_out)
    metrics["evaluated_on"] = (
        "evaluation: the held-out DeepLIIF fields (Ki67 IHC, never trained on), masks and IF "
        "registered to the IHC panel; evaluation_unregistered: the same, panels as stored; "
        "evaluation_training_field: the training field (seen in training); "
        "evaluation_synthetic: 8 synthetic fields, seed 12345 (not a training seed); "
        "restainaug evaluate, seed 0, 4 re-stained variants; nuclei_without_labels: "
        "components of nuclei_from_channel on the held-out fields and how many annotated "
        "nuclei one of them matches at IoU >= 0.5"
    )
    return metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=HERE / "restain-unmix.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, as restainaug train --set")  # fmt: skip
    p.add_argument("--name", default="restain-unmix")
    p.add_argument("--export-only", action="store_true", help="evaluate and export the run")
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--dest", type=Path, default=HERE.parent, help="folder of the model files")
    args = p.parse_args()
    config = apply_overrides(load_config(args.config), args.set)
    run = Path(config.run.out)
    if args.export_only:
        if latest_checkpoint(run / "checkpoints") is None:
            p.error(f"--export-only: {run} holds no checkpoint; train first (without the flag).")
    else:
        start = time.perf_counter()
        result = fit(config)
        print(f"trained {result.step} steps in {time.perf_counter() - start:.0f} s", flush=True)
    if args.no_export:
        return
    d = config.data
    provenance = {
        "recipe": "pretrained/recipes/train_unmix.py",
        "command": "restainaug train --config pretrained/recipes/restain-unmix.yaml"
        + "".join(f" --set {s}" for s in args.set),
        "data": data_licences(d.paired_deepliif, d.val_deepliif),
        "trained_with_torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    licence = (
        "Apache-2.0 with the Commons Clause, inherited from the DeepLIIF training field: "
        "use and redistribution allowed, selling not allowed"
    )
    description = (
        "Learned stain unmixing for brightfield hematoxylin + DAB IHC: a small network "
        "predicts DAPI-like nuclei (DAB-stained nuclei included) and the marker; "
        "Beer-Lambert recomposition with the image's own residual renders edits back, "
        "so an unedited image round-trips exactly."
    )
    scratch = export_run(run, args.name, description=description, licence=licence,
                         extra=provenance, version=VERSION)  # fmt: skip
    metrics = evaluation(scratch, d.paired_deepliif, d.val_deepliif, run)
    card = export_run(
        run, args.name, out=args.dest, description=description,
        licence=licence, extra=provenance, metrics=metrics, version=VERSION,
    )  # fmt: skip
    print(f"wrote {card}")


if __name__ == "__main__":
    main()
