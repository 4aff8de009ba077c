"""Train a small MONAI BasicUNet for nuclei, with and without re-staining.

The setting of the paper in miniature: train on membrane-marker IHC fields, validate on
nuclear-marker fields, whose DAB-brown nuclei the training set never shows. The data are
synthetic fields written with ``restainaug.synth`` (or your own images and instance labels:
``--images DIR --labels DIR``). The task is binary nucleus foreground with a Dice + cross-entropy
loss; validation reports the Dice of the thresholded prediction on whole fields.

``--restain`` takes any of three modes (all three by default, one row each in the final table):

* ``none``: the baseline, no re-staining.
* ``dataloader``: ``RestainTransformd`` inside the MONAI ``Compose``, per sample, in the
  DataLoader's CPU workers (each worker has its own reproducible stream).
* ``gpu-batch``: a plain ``RestainTransform`` on the whole batch after ``.to(device)``: it runs
  wherever the batch is (the GPU when there is one) and uses the instance labels, so marker
  operations act on the true nuclei.

    python examples/monai/train_unet.py                      # synthetic data, all three modes
    python examples/monai/train_unet.py --restain gpu-batch --device cuda --out runs.csv
    python examples/monai/train_unet.py --images imgs/ --labels labs/ --val-images vimgs/ \\
        --val-labels vlabs/
    python examples/monai/train_unet.py --smoke              # a few steps on tiny fields (CI)
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from monai.data import CacheDataset, DataLoader
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.networks.nets import BasicUNet
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    RandFlipd,
    RandRotate90d,
    RandSpatialCropd,
    ScaleIntensityRanged,
)
from monai.utils import set_determinism

from restainaug import RestainTransform, RestainTransformd
from restainaug.data import pair_folders
from restainaug.synth import Localisation, SynthConfig
from restainaug.synth.dataset import write_dataset

MODES = ("none", "dataloader", "gpu-batch")
Files = list[dict[str, str]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--restain", nargs="+", choices=MODES, default=list(MODES), help="modes")
    p.add_argument("--images", type=Path, help="your IHC images (default: synthetic data)")
    p.add_argument("--labels", type=Path, help="their instance label images")
    p.add_argument("--val-images", type=Path, help="validation images (default: 1 in 5 held out)")
    p.add_argument("--val-labels", type=Path, help="validation instance labels")
    p.add_argument("--work", type=Path, help="folder for the synthetic data (default: a temp dir)")
    p.add_argument("--fields", type=int, default=48, help="synthetic training fields")
    p.add_argument("--val-fields", type=int, default=8, help="synthetic fields per val set")
    p.add_argument("--field-size", type=int, default=128, help="side of a synthetic field")
    p.add_argument("--crop", type=int, default=64, help="training crop (a multiple of 16)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--p", type=float, default=0.5, help="probability of re-staining a sample")
    p.add_argument("--model", default="default", help="restainaug model (see `restainaug models`)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the results table here (CSV)")
    p.add_argument("--smoke", action="store_true", help="3 steps on 4 tiny fields (for CI)")
    args = p.parse_args(argv)
    if (args.images is None) != (args.labels is None):
        p.error("--images and --labels go together")
    if (args.val_images is None) != (args.val_labels is None):
        p.error("--val-images and --val-labels go together")
    if args.crop % 16:
        p.error(f"--crop must be a multiple of 16 (BasicUNet), got {args.crop}")
    if args.smoke:
        args.fields, args.val_fields, args.field_size, args.crop = 2, 1, 64, 64
        args.steps, args.batch_size, args.workers = 3, 2, min(args.workers, 1)
    return args


def as_files(images: Path, labels: Path) -> Files:
    return [{"image": str(p.image), "label": str(p.labels)} for p in pair_folders(images, labels)]


def synthetic_data(args: argparse.Namespace, work: Path) -> tuple[Files, dict[str, Files]]:
    """Membrane-marker fields to train on; held-out membrane and nuclear-marker fields."""
    size = (args.field_size, args.field_size)
    sets: dict[str, tuple[Localisation, int, int]] = {  # name: (marker, fields, data set seed)
        "train": ("membrane", args.fields, args.seed),
        "membrane": ("membrane", args.val_fields, args.seed + 1),
        "nuclear": ("nuclear", args.val_fields, args.seed + 2),
    }
    files = {}
    for name, (marker, n, seed) in sets.items():
        root = work / f"{name}-{marker}"
        write_dataset(root, n, SynthConfig(size=size, marker=marker), seed, show_progress=False)
        files[name] = as_files(root / "images", root / "labels")
    train = files.pop("train")
    return train, files


def user_data(args: argparse.Namespace) -> tuple[Files, dict[str, Files]]:
    files = as_files(args.images, args.labels)
    if args.val_images is not None:
        return files, {"val": as_files(args.val_images, args.val_labels)}
    if len(files) < 2:
        raise SystemExit("Need at least 2 labelled images to hold one out; or pass --val-images.")
    return [f for i, f in enumerate(files) if i % 5], {"val": files[::5]}


def load() -> list[Any]:
    """Read RGB IHC and instance labels, channel first; image intensities to [0, 1]."""
    return [
        LoadImaged(keys=["image", "label"], image_only=True),
        EnsureChannelFirstd(keys=["image", "label"]),
        ScaleIntensityRanged(keys="image", a_min=0, a_max=255, b_min=0, b_max=1, clip=True),
    ]


def train_transforms(args: argparse.Namespace, restain: bool) -> Compose:
    steps = [
        *load(),
        RandSpatialCropd(keys=["image", "label"], roi_size=args.crop, random_size=False),
        RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=0),
        RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=1),
        RandRotate90d(keys=["image", "label"], prob=0.5),
    ]
    if restain:  # after the crop: only the pixels the network sees are re-stained
        steps.append(
            RestainTransformd(keys="image", label_key="label", prob=args.p, model=args.model)
        )
    return Compose(steps)


def batches(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


@torch.no_grad()
def evaluate(net: torch.nn.Module, loader: DataLoader, crop: int, device: torch.device) -> float:
    """Mean Dice of the thresholded foreground over whole fields (sliding window)."""
    net.eval()
    dice = DiceMetric(include_background=True, reduction="mean")
    for batch in loader:
        image, label = batch["image"].to(device), batch["label"].to(device)
        logits = sliding_window_inference(image, (crop, crop), 4, net, overlap=0.25)
        dice(y_pred=(logits.sigmoid() > 0.5).float(), y=(label > 0).float())
    net.train()
    return float(dice.aggregate().item())


def train(
    mode: str, args: argparse.Namespace, train_files: Files, val_sets: dict[str, Files]
) -> dict[str, Any]:
    """Train one network from the same initial weights and data order; return its results."""
    device = torch.device(args.device)
    set_determinism(seed=args.seed)  # same weights, crops and worker seeds in every mode
    dataset = CacheDataset(
        train_files, train_transforms(args, mode == "dataloader"), progress=False, num_workers=0
    )
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= args.batch_size,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )
    # The GPU-batch form: one transform for the whole batch, on whatever device the batch is.
    batch_restain = RestainTransform(model=args.model, p=args.p, seed=args.seed)
    net = BasicUNet(2, in_channels=3, out_channels=1, features=(16, 16, 32, 64, 128, 16))
    net = net.to(device)
    loss_fn = DiceCELoss(sigmoid=True)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)

    stream = batches(loader)
    next(stream)  # starts the workers; this first batch is left out of training and timing
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = next(stream)
        image, label = batch["image"].to(device), batch["label"].to(device)
        if mode == "gpu-batch":
            image = batch_restain(image, labels=label)  # (B, 3, H, W) float in [0, 1]
        loss = loss_fn(net(image), (label > 0).float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps:
            print(f"[{mode}] step {step}/{args.steps}  loss {loss.item():.3f}", flush=True)
    seconds = (time.perf_counter() - start) / args.steps

    row: dict[str, Any] = {"mode": mode, "steps": args.steps, "s/step": round(seconds, 3)}
    for name, files in val_sets.items():
        val = CacheDataset(files, Compose(load()), progress=False, num_workers=0)
        row[f"Dice {name}"] = round(evaluate(net, DataLoader(val), args.crop, device), 3)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    cells = [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, width, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, width, strict=True)))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.images is not None:
            train_files, val_sets = user_data(args)
        else:
            train_files, val_sets = synthetic_data(args, args.work or Path(tmp))
        sizes = ", ".join(f"{k} {len(v)}" for k, v in val_sets.items())
        print(f"train fields: {len(train_files)}; validation fields: {sizes}; device {args.device}")
        rows = [train(mode, args, train_files, val_sets) for mode in args.restain]
    print()
    print_table(rows)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
