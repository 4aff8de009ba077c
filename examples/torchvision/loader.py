"""Re-staining in a torchvision ``transforms.v2`` pipeline, in DataLoader workers.

Each item is a ``tv_tensors.Image`` (uint8 RGB IHC) with its ``tv_tensors.Mask`` (instance
labels), put through one ``v2.Compose``: random crop, flips, ``RestainTransformV2`` and a
conversion to float. The geometric transforms move image and mask together; the re-staining
changes the image only and uses the mask's nuclei for its marker operations.

The script iterates the loader, reports throughput, and checks three things a training run
relies on:

* each worker draws its own re-staining parameters (no two workers repeat a draw);
* a seed reproduces the whole stream (crops, flips, re-staining) and another seed changes it;
* masks come back from the re-staining as the same object while the images change.

    python examples/torchvision/loader.py                        # synthetic fields
    python examples/torchvision/loader.py --images imgs/ --labels labs/ --crop 256
    python examples/torchvision/loader.py --smoke                # tiny and quick (CI)
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torchvision import tv_tensors
from torchvision.transforms import v2

from restainaug.adapters.torchvision import RestainTransformV2
from restainaug.data import LabelledIHC, pair_folders
from restainaug.synth import SynthConfig, synthesize
from restainaug.synth.dataset import field_seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, help="your IHC images (default: synthetic fields)")
    p.add_argument("--labels", type=Path, help="their instance label images")
    p.add_argument("--fields", type=int, default=64, help="synthetic fields")
    p.add_argument("--field-size", type=int, default=256, help="side of a synthetic field")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--p", type=float, default=0.5, help="probability of re-staining a sample")
    p.add_argument("--model", default="default", help="restainaug model (see `restainaug models`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="4 tiny fields, 1 epoch (for CI)")
    args = p.parse_args(argv)
    if (args.images is None) != (args.labels is None):
        p.error("--images and --labels go together")
    if args.smoke:
        args.fields, args.field_size, args.crop, args.epochs, args.batch_size = 4, 64, 48, 1, 2
    return args


def pipeline(crop: int, restain: RestainTransformV2) -> v2.Compose:
    """Geometric transforms (image and mask alike), then re-staining, then float images."""
    return v2.Compose(
        [
            v2.RandomCrop(crop, pad_if_needed=True),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            restain,
            v2.ToDtype(torch.float32, scale=True),  # images only; the mask keeps its ids
        ]
    )


def fingerprint(params: dict[str, torch.Tensor]) -> int:
    """A hash of one re-staining draw (the gate and every operation parameter)."""
    h = hashlib.blake2b(digest_size=8)
    for k in sorted(params):
        h.update(params[k].contiguous().numpy().tobytes())
    return int.from_bytes(h.digest(), "little") >> 1


class RestainedFields(Dataset):
    """Labelled IHC fields as ``tv_tensors`` through a v2 pipeline, with a record of the draw."""

    def __init__(self, fields: LabelledIHC, crop: int, restain: RestainTransformV2) -> None:
        self.fields, self.restain = fields, restain
        self.transforms = pipeline(crop, restain)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rgb, labels = self.fields[i]  # (H, W, 3) uint8, (H, W) int32
        image = tv_tensors.Image(torch.from_numpy(rgb).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(labels).long())
        image, mask = self.transforms(image, mask)
        params = self.restain.restain.params  # the draw this call made
        assert params is not None
        info = get_worker_info()
        return {
            "image": image,
            "mask": mask,
            "restained": bool(params["apply"][0]),
            "draw": fingerprint(params),
            "worker": -1 if info is None else info.id,
        }


def load_fields(args: argparse.Namespace) -> LabelledIHC:
    if args.images is not None:
        return LabelledIHC(pair_folders(args.images, args.labels))
    cfg = SynthConfig(size=(args.field_size, args.field_size), marker="membrane")
    fields = [synthesize(cfg, seed=field_seed(args.seed, i)) for i in range(args.fields)]
    return LabelledIHC([(f.ihc, f.labels) for f in fields])


def iterate(fields: LabelledIHC, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Build transform and loader from ``seed``, run all epochs, and record what came out."""
    torch.manual_seed(seed)  # v2's random transforms draw from torch's global generator
    restain = RestainTransformV2(model=args.model, p=args.p, seed=seed)
    loader = DataLoader(
        RestainedFields(fields, args.crop, restain),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        generator=torch.Generator().manual_seed(seed),  # base of the worker seeds
    )
    draws: list[int] = []
    workers: list[int] = []
    restained = batches = 0
    digest = hashlib.blake2b(digest_size=8)
    start = time.perf_counter()
    for _ in range(args.epochs):
        for batch in loader:
            batches += 1
            draws += batch["draw"].tolist()
            workers += batch["worker"].tolist()
            restained += int(batch["restained"].sum())
            digest.update(batch["image"].numpy().tobytes())
            digest.update(batch["mask"].numpy().tobytes())
    return {
        "seconds": time.perf_counter() - start,
        "batches": batches,
        "draws": draws,
        "workers": workers,
        "restained": restained,
        "digest": digest.hexdigest(),
    }


def labels_kept(fields: LabelledIHC, args: argparse.Namespace, n: int) -> tuple[int, int, int]:
    """Re-stain ``n`` crops with ``p=1``: count masks returned as-is and images changed."""
    restain = RestainTransformV2(model=args.model, p=1.0, seed=args.seed)
    n = min(n, len(fields))
    same = changed = 0
    for i in range(n):
        rgb, labels = fields[i]
        image = tv_tensors.Image(torch.from_numpy(rgb).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(labels).long())
        out_image, out_mask = restain(image, mask)
        same += out_mask is mask
        changed += not torch.equal(out_image, image)
    return n, same, changed


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    fields = load_fields(args)
    print(
        f"fields: {len(fields)}, crop {args.crop}, batch {args.batch_size}, "
        f"workers {args.workers}, p {args.p}, model {args.model!r}"
    )
    first = iterate(fields, args, args.seed)
    again = iterate(fields, args, args.seed)
    other = iterate(fields, args, args.seed + 1)

    n = len(first["draws"])
    print(
        f"iterated {n} samples in {first['batches']} batches: {first['seconds']:.1f} s, "
        f"{n / first['seconds']:.1f} samples/s"
    )
    print(f"selected for re-staining: {first['restained']}/{n} samples (p = {args.p})")
    per_worker: dict[int, set[int]] = {}
    for w, d in zip(first["workers"], first["draws"], strict=True):
        per_worker.setdefault(w, set()).add(d)
    shared = n - len(set(first["draws"]))
    counts = ", ".join(f"worker {w}: {len(d)}" for w, d in sorted(per_worker.items()))
    ok_distinct = shared == 0
    print(f"distinct draws: {counts}; repeated: {shared} -> {'ok' if ok_distinct else 'FAILED'}")
    ok_repro = first["draws"] == again["draws"] and first["digest"] == again["digest"]
    print(f"same seed again: identical draws and batches -> {'ok' if ok_repro else 'FAILED'}")
    common = len(set(first["draws"]) & set(other["draws"]))
    ok_other = common == 0 and first["digest"] != other["digest"]
    print(f"seed {args.seed + 1}: {common}/{n} draws in common -> {'ok' if ok_other else 'FAILED'}")
    k, same, changed = labels_kept(fields, args, 8)
    ok_labels = same == k and changed > 0
    print(
        f"labels kept: {same}/{k} masks returned as the same object, {changed}/{k} images "
        f"changed (p = 1) -> {'ok' if ok_labels else 'FAILED'}"
    )
    if not (ok_distinct and ok_repro and ok_other and ok_labels):
        raise SystemExit("some checks FAILED")
    print("all checks passed")


if __name__ == "__main__":
    main()
