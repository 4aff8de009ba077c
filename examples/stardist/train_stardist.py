"""Retrain StarDist with re-stained data: the experiment of the ReStainGAN paper, runnable.

A StarDist 2D model (RGB input) is trained on IHC fields of one stain pattern and tested on
another it never saw (nuclear marker: DAB-brown nuclei). Each *arm* differs only in how the
training fields are augmented; all use the same seeds, steps, flips and rotations:

* ``none``: flips and 90-degree rotations only.
* ``hed``: plus HED jitter (Tellez et al. 2018), the classical stain augmentation.
* ``restain``: plus ``RestainTransform`` online, through `restainaug.adapters.stardist`
  (the labels let the marker operations place marker on the true nuclei).
* ``insilico``: an offline in-silico data set from `restainaug.generate.generate` (the
  originals and ``--variants`` re-stained copies), flips and rotations only.
* ``optical``: ``restain`` with the ``optical`` translator (skipped when the default model is
  ``optical`` itself: the arm would repeat ``restain``).
* ``reference``: trained on the target stain itself (in-domain), the ceiling of the others.

The re-staining arms use ``--policy`` (a name of `restainaug.presets.POLICIES`), ``nuclear``
by default: like the paper, which generated its in-silico fields in the stain pattern it
wanted the segmenter to learn, the experiment asks for the target pattern (marker on nuclei).
``--p 0.8`` re-stains about five patches in six, the paper's ratio of in-silico to original
fields (2,105 to 421). ``--policy default --p 0.5`` gives the transform's own defaults.

Settings (``--setting``): ``synthetic`` (membrane-marker -> nuclear-marker synthetic fields),
``deepliif`` (hematoxylin-only -> Ki67 panels of the DeepLIIF fields, two folds; needs
``--shared-data``), ``bcdata`` (DeepLIIF hematoxylin-only panels -> BCData Ki67 fields of
another lab, scored at nucleus centre points; needs ``--shared-data``), or your own folders
(``--images --labels --test-images --test-labels``).

    python examples/stardist/train_stardist.py --preset quick            # ~20 min on 2 cores
    python examples/stardist/train_stardist.py --preset full --out results/stardist-synthetic
    python examples/stardist/train_stardist.py --setting deepliif --shared-data ../shared/data
    python examples/stardist/train_stardist.py --images tr/ --labels trl/ \\
        --test-images te/ --test-labels tel/
    python examples/stardist/train_stardist.py --smoke                   # seconds (CI)

Writes ``results.csv`` (one row per setting, arm and seed, after each run), ``summary.csv``,
``summary.md`` (a Markdown table) and ``f1.png`` (a bar chart) to ``--out``, and prints the
table. A rerun with the same ``--out`` and steps resumes: runs already in ``results.csv`` are
kept, not repeated. F1, precision and recall are ``stardist.matching`` at IoU 0.5 on the test
fields.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ARMS = ("none", "hed", "restain", "insilico", "optical", "reference")
MIN_GAP = 0.05  # F1 by which the reference must beat `none` for "gap closed" to be given
POINT_KEYS = ("recall_positive", "recall_negative")  # settings scored at points only
Augmenter = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Preset:
    """Sizes of a run: fields, steps, seeds, in-silico variants."""

    n_train: int
    n_val: int
    n_test: int
    size: int
    patch: int
    steps: int
    seeds: tuple[int, ...]
    variants: int
    filters: int = 16
    depth: int = 3


PRESETS = {
    "smoke": Preset(3, 1, 2, 64, 64, 2, (0,), 1, filters=8, depth=2),
    "quick": Preset(12, 4, 8, 256, 128, 400, (0,), 3),
    "full": Preset(32, 6, 12, 256, 128, 800, (0, 1), 6),
}


# -- augmenters -------------------------------------------------------------------------------


def flips(rng: np.random.Generator) -> Augmenter:
    """Random flips and 90-degree rotations of image and labels together."""

    def f(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = int(rng.integers(4))
        x, y = np.rot90(x, k), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    return f


def hed_jitter(rng: np.random.Generator, sigma: float, base: Augmenter) -> Augmenter:
    """HED jitter: per-channel scale U(1-sigma, 1+sigma) and shift U(-sigma, sigma) in HED."""
    from skimage.color import hed2rgb, rgb2hed

    def f(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = base(x, y)
        alpha = rng.uniform(1 - sigma, 1 + sigma, 3)
        beta = rng.uniform(-sigma, sigma, 3)
        rgb = hed2rgb(rgb2hed(np.clip(x, 0, 1)) * alpha + beta)
        return np.clip(rgb, 0, 1).astype(x.dtype), y

    return f


def restain(model: str, policy: str, p: float, seed: int, base: Augmenter) -> Augmenter:
    """``RestainTransform`` with the named ``policy`` online, after flips and rotations."""
    from restainaug import RestainTransform, load_model
    from restainaug.adapters.stardist import augmenter
    from restainaug.presets import policy_preset

    translator = load_model(model)
    ops = policy_preset(policy, marker=translator.marker_index is not None)
    return augmenter(RestainTransform(model=translator, ops=ops, p=p, seed=seed), extra=base)


def insilico(fields: list, model: str, policy: str, variants: int, seed: int, work: Path) -> list:
    """The training fields plus ``variants`` re-stained copies each, via ``generate``."""
    from restainaug.data import pair_folders, write_image, write_labels
    from restainaug.generate import generate

    src = work / "fields"
    for i, (image, labels) in enumerate(fields):
        if not (src / "images" / f"f{i:04d}.png").exists():
            write_image(src / "images" / f"f{i:04d}.png", image)
            write_labels(src / "labels" / f"f{i:04d}.png", labels)
    out = work / f"insilico-{Path(model).stem}-{policy}-seed{seed}"
    generate(src / "images", src / "labels", out, variants, model=model, policy=policy, seed=seed)
    return [pair.read() for pair in pair_folders(out / "images", out / "labels")]


# -- StarDist ---------------------------------------------------------------------------------


def as_float(fields: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """uint8 RGB -> float32 in [0, 1]; labels with holes filled, as StarDist expects."""
    from stardist import fill_label_holes

    xs = [np.asarray(im, np.float32) / 255.0 for im, _ in fields]
    ys = [fill_label_holes(np.asarray(lab, np.int32)) for _, lab in fields]
    return xs, ys


def config(preset: Preset, epochs: int | None = None) -> Any:
    """The StarDist ``Config2D`` of a preset (RGB input, 32 rays, grid 2)."""
    from stardist.models import Config2D

    # Validation (source stain) every tenth of the run: keeps the best weights and lowers the
    # learning rate on plateaus, as StarDist does by default.
    epochs = epochs or max(1, min(10, preset.steps // 50))
    return Config2D(
        n_rays=32,
        grid=(2, 2),
        n_channel_in=3,
        train_patch_size=(preset.patch, preset.patch),
        train_batch_size=4,
        train_epochs=epochs,
        train_steps_per_epoch=preset.steps // epochs,
        train_tensorboard=False,
        # Half StarDist's default U-Net width (32): 2.5x faster on CPU.
        unet_n_filter_base=preset.filters,
        unet_n_depth=preset.depth,
    )


def train_and_test(
    train: list,
    val: list,
    test: list,
    augment: Augmenter | None,
    preset: Preset,
    seed: int,
    points: list | None = None,
) -> dict[str, float]:
    """Train one StarDist model; F1/precision/recall at IoU 0.5 on ``test``, or at the nucleus
    centre ``points`` of the test fields when given (then also the recall of marker-positive
    and negative nuclei)."""
    import keras
    from stardist.matching import matching_dataset
    from stardist.models import StarDist2D

    keras.utils.set_random_seed(seed)
    x, y = as_float(train)
    xv, yv = as_float(val)
    xt, yt = as_float(test)
    with tempfile.TemporaryDirectory() as tmp:
        model = StarDist2D(config(preset), name="model", basedir=tmp)
        start = time.perf_counter()
        model.train(x, y, validation_data=(xv, yv), augmenter=augment, seed=seed)
        seconds = time.perf_counter() - start
        model.optimize_thresholds(
            xv, yv, save_to_json=False, predict_kwargs={"show_tile_progress": False}
        )
        pred = [model.predict_instances(im, show_tile_progress=False)[0] for im in xt]
    timing = {"train_s": seconds, "s_per_step": seconds / preset.steps}
    if points:
        from restainaug.evaluation import PointScores, point_detection

        scored = zip(pred, points, strict=True)
        s = sum((point_detection(p, xy, pos) for p, (xy, pos) in scored), PointScores())
        return {
            "f1": s.f1,
            "precision": s.precision,
            "recall": s.recall,
            "recall_positive": s.recall_positive,
            "recall_negative": s.recall_negative,
            **timing,
        }
    stats = matching_dataset(yt, pred, thresh=0.5, show_progress=False)
    return {
        "f1": float(stats.f1),
        "precision": float(stats.precision),
        "recall": float(stats.recall),
        **timing,
    }


# -- the experiment ---------------------------------------------------------------------------


def arms_to_run(requested: list[str], model: str) -> tuple[list[str], list[str]]:
    """The arms to train and notes on those skipped."""
    from restainaug.models.registry import DEFAULT_MODEL

    notes = []
    arms = list(requested)
    resolved = DEFAULT_MODEL if model == "default" else model
    if "optical" in arms and "restain" in arms and resolved == "optical":
        arms.remove("optical")
        notes.append("arm 'optical' skipped: the model is 'optical', so it repeats 'restain'")
    return arms, notes


def run(args: argparse.Namespace, preset: Preset, settings: list, out: Path, work: Path) -> list:
    arms, notes = arms_to_run(args.arms, args.model)
    for note in notes:
        print(note)
    results_csv = out / "results.csv"
    # Runs of other steps, policies or p stay in the file but are not this run's.
    every = read_results(results_csv)

    def ours() -> list[dict[str, Any]]:
        return [r for r in every if same_run(r, preset.steps, args.policy, args.p)]

    done = {(r["setting"], r["arm"], r["seed"]) for r in ours()}
    if done:
        print(f"resuming: {len(done)} runs already in {results_csv} are kept")
    for setting in settings:
        print(f"\n== {setting.name}: {setting.notes}")
        print(
            f"   {len(setting.train)} training, {len(setting.val)} validation, "
            f"{len(setting.test)} test fields; {preset.steps} steps; seeds {list(preset.seeds)}; "
            f"re-staining: policy {args.policy!r}, p {args.p}"
        )
        for seed in preset.seeds:
            for arm in arms:
                if arm == "reference" and not setting.ref_train:
                    continue
                if (setting.name, arm, seed) in done:
                    continue
                rng = np.random.default_rng([seed, ARMS.index(arm)])
                base = flips(rng)
                train, val, augment = setting.train, setting.val, base
                if arm == "hed":
                    augment = hed_jitter(rng, args.hed_sigma, base)
                elif arm == "restain":
                    augment = restain(args.model, args.policy, args.p, seed, base)
                elif arm == "optical":
                    augment = restain("optical", args.policy, args.p, seed, base)
                elif arm == "insilico":
                    train = insilico(
                        setting.train,
                        args.model,
                        args.policy,
                        preset.variants,
                        seed,
                        work / setting.name,
                    )
                elif arm == "reference":
                    train, val = setting.ref_train, setting.ref_val
                scores = train_and_test(
                    train, val, setting.test, augment, preset, seed, setting.test_points
                )
                row = {
                    "setting": setting.name,
                    "arm": arm,
                    "seed": seed,
                    "steps": preset.steps,
                    **_recipe(arm, args.policy, args.p),
                }
                row.update({k: round(v, 4) for k, v in scores.items()})
                every.append(row)
                print(
                    f"   seed {seed} {arm:>9}: F1 {row['f1']:.3f}  precision "
                    f"{row['precision']:.3f}  recall {row['recall']:.3f}  "
                    f"({row['s_per_step']:.3f} s/step)",
                    flush=True,
                )
                write_csv(results_csv, every)
    return ours()


def _recipe(arm: str, policy: str, p: float) -> dict[str, Any]:
    """The re-staining policy and probability of an arm (empty for arms without one)."""
    restains = arm in ("restain", "optical", "insilico")
    return {"policy": policy if restains else "", "p": p if arm in ("restain", "optical") else ""}


def same_run(row: dict[str, Any], steps: int, policy: str, p: float) -> bool:
    """Whether a row of ``results.csv`` was trained with these steps, policy and p."""
    recipe = _recipe(row["arm"], policy, p)
    return row["steps"] == steps and all(row[k] == v for k, v in recipe.items())


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every row of an earlier ``results.csv`` (none when there is no file).

    Rows of files written before the policy was recorded count as ``default`` at p 0.5, the
    settings those runs used.
    """
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows: list[dict[str, Any]] = list(csv.DictReader(fh))
    for r in rows:
        old = _recipe(r["arm"], "default", 0.5)
        r["policy"] = r.get("policy", old["policy"])
        raw = r.get("p", old["p"])
        r["p"] = float(raw) if raw != "" else ""
        r["seed"], r["steps"] = int(r["seed"]), int(r["steps"])
        for key in ("f1", "precision", "recall", "train_s", "s_per_step"):
            r[key] = float(r[key])
        for key in POINT_KEYS:  # only point-scored settings have them
            r[key] = float(r[key]) if r.get(key, "") != "" else ""
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        fields = list(dict.fromkeys(k for r in rows for k in r))  # older files lack some
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _arm_order(arm: str) -> int:
    return ARMS.index(arm) if arm in ARMS else len(ARMS)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation per arm over seeds and folds; share of the gap closed.

    The share of the gap between ``none`` and ``reference`` that an arm closes is given only
    when the reference beats ``none`` by at least `MIN_GAP` F1.
    """
    by_arm: dict[str, list[dict[str, Any]]] = {}
    # In the order of ARMS, however the runs were ordered (resumed files mix them).
    for row in sorted(rows, key=lambda r: _arm_order(r["arm"])):
        by_arm.setdefault(row["arm"], []).append(row)
    mean = {arm: float(np.mean([r["f1"] for r in rs])) for arm, rs in by_arm.items()}
    out = []
    for arm, rs in by_arm.items():
        entry: dict[str, Any] = {"arm": arm, "runs": len(rs)}
        for key in ("f1", "precision", "recall"):
            values = np.array([r[key] for r in rs])
            entry[key] = round(float(values.mean()), 4)
            entry[f"{key}_sd"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4)
        for key in POINT_KEYS:
            values = np.array([r[key] for r in rs if r.get(key, "") != ""], float)
            entry[key] = round(float(values.mean()), 4) if len(values) else ""
        gap = mean.get("reference", np.nan) - mean.get("none", np.nan)
        # A share of a gap smaller than the noise between seeds means nothing: none then.
        closed = (mean[arm] - mean.get("none", np.nan)) / gap if gap >= MIN_GAP else np.nan
        entry["gap_closed"] = round(float(closed), 3) if np.isfinite(closed) else ""
        out.append(entry)
    return out


def _cells(entry: dict[str, Any]) -> tuple[list[str], str]:
    """``mean ± sd`` of F1, precision and recall, and the gap closed (``-`` when none)."""
    cells = [f"{entry[k]:.3f} ± {entry[k + '_sd']:.3f}" for k in ("f1", "precision", "recall")]
    return cells, f"{entry['gap_closed']:.0%}" if entry["gap_closed"] != "" else "-"


def print_table(summary: list[dict[str, Any]]) -> None:
    print(f"\n{'arm':>10} {'runs':>4}  {'F1':>13}  {'precision':>13}  {'recall':>13}  gap closed")
    for e in summary:
        cells, closed = _cells(e)
        metrics = "  ".join(f"{c:>13}" for c in cells)
        print(f"{e['arm']:>10} {e['runs']:>4}  {metrics}  {closed:>10}")


def markdown(summary: list[dict[str, Any]], title: str) -> str:
    """The summary as a Markdown table (mean ± standard deviation over runs); settings scored
    at points add the mean recall of marker-positive and negative nuclei."""
    points = any(e.get(k, "") != "" for e in summary for k in POINT_KEYS)
    extra = " recall, positive | recall, negative |" if points else ""
    lines = [f"**{title}**", "", f"| arm | runs | F1 | precision | recall | gap closed |{extra}"]
    lines.append("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if points else ""))
    for e in summary:
        cells, closed = _cells(e)
        row = f"| `{e['arm']}` | {e['runs']} | {' | '.join(cells)} | {closed} |"
        if points:
            row += "".join(f" {e[k]:.3f} |" if e.get(k, "") != "" else " - |" for k in POINT_KEYS)
        lines.append(row)
    return "\n".join(lines) + "\n"


def bar_chart(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """F1 per arm: mean bar, one dot per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = sorted({r["arm"] for r in rows}, key=_arm_order)
    fig, ax = plt.subplots(figsize=(1.1 * len(arms) + 1.5, 3.2))
    for i, arm in enumerate(arms):
        f1 = [r["f1"] for r in rows if r["arm"] == arm]
        ax.bar(i, np.mean(f1), color="#8c6d4f" if arm != "reference" else "#777777", width=0.6)
        ax.scatter(np.full(len(f1), i) + np.linspace(-0.12, 0.12, len(f1)), f1, color="k", s=10)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("F1 at IoU 0.5 (test)")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", choices=("synthetic", "deepliif", "bcdata"), default="synthetic")
    ap.add_argument("--preset", choices=tuple(PRESETS), default="quick")
    ap.add_argument("--smoke", action="store_true", help="tiny run for CI (= --preset smoke)")
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument("--model", default="default", help="translator: name or model path")
    from restainaug.presets import POLICIES

    ap.add_argument(
        "--policy",
        default="nuclear",
        choices=sorted(POLICIES),
        help="re-staining policy of the restain, optical and insilico arms: a name of "
        "restainaug.presets.POLICIES (default: nuclear, the target pattern)",
    )
    ap.add_argument("--p", type=float, default=0.8, help="re-staining probability (online)")
    ap.add_argument("--hed-sigma", type=float, default=0.05, help="HED jitter strength")
    ap.add_argument("--steps", type=int, help="override the preset's training steps")
    ap.add_argument("--seeds", type=int, nargs="+", help="override the preset's seeds")
    ap.add_argument("--shared-data", help="folder holding deepliif/ (setting deepliif)")
    ap.add_argument("--fold", type=int, choices=(0, 1), help="deepliif: run one fold only")
    ap.add_argument("--images", help="your training images (with --labels, --test-*)")
    ap.add_argument("--labels")
    ap.add_argument("--test-images")
    ap.add_argument("--test-labels")
    ap.add_argument("--reference-images", help="target-stain training images (optional)")
    ap.add_argument("--reference-labels")
    ap.add_argument("--out", default="stardist-results", help="folder for CSVs and the chart")
    ap.add_argument("--work", help="folder for in-silico data sets (temporary by default)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = PRESETS["smoke" if args.smoke else args.preset]
    if args.steps is not None or args.seeds is not None:
        preset = Preset(
            **{
                **preset.__dict__,
                "steps": args.steps or preset.steps,
                "seeds": tuple(args.seeds or preset.seeds),
            }
        )
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        import tensorflow as tf
        import torch

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        torch.set_num_threads(args.threads)

    import stardist_data as data

    own = [args.images, args.labels, args.test_images, args.test_labels]
    if any(own):
        if not all(own):
            sys.exit("--images, --labels, --test-images and --test-labels go together.")
        ref = (args.reference_images, args.reference_labels) if args.reference_images else None
        settings = data.folders(*own, reference=ref)
        title = "your data"
    elif args.setting == "bcdata":
        if not args.shared_data:
            sys.exit("--setting bcdata needs --shared-data (holding deepliif/, bcdata_ki67/).")
        settings = data.bcdata(args.shared_data)
        title = "DeepLIIF hematoxylin-only -> BCData Ki67 IHC (another lab), at points"
    elif args.setting == "deepliif":
        if not args.shared_data:
            sys.exit("--setting deepliif needs --shared-data (the folder holding deepliif/).")
        settings = data.deepliif(args.shared_data)
        if args.fold is not None:
            settings = settings[args.fold : args.fold + 1]
        title = "DeepLIIF: hematoxylin-only -> Ki67 IHC"
    else:
        p = preset
        settings = data.synthetic(p.n_train, p.n_val, p.n_test, p.size)
        title = "synthetic: membrane marker -> nuclear marker"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        rows = run(args, preset, settings, out, work)
    summary = summarise(rows)
    write_csv(out / "summary.csv", summary)
    (out / "summary.md").write_text(markdown(summary, f"{title} ({preset.steps} steps)"))
    print_table(summary)
    bar_chart(rows, out / "f1.png", f"{title} ({preset.steps} steps)")
    print(f"\nwrote results.csv, summary.csv, summary.md and f1.png to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
