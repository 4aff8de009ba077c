"""Numbers of the realism page's "What the score can reach": the context floor of the data.

For each data set, on the real nuclei of fields with both classes:

1. the cross-validated AUC of real positives vs real negatives over `context_features` of the
   original image (the context floor, ``RealismScores.context_auc``), over its band columns
   only and over its shape columns only;
2. a transplant check, an idealised re-staining with real texture: every negative nucleus is
   filled with a real positive nucleus of the same field (drawn at random; its bounding box
   stretched onto the label's, pixels outside the donor taking the nearest donor pixel), and
   real positives are told from these over `nucleus_features` (the added AUC's classifier);
   then the same with every positive nucleus filled with another positive of its field.

Run from the repository root: ``python docs/scripts/context_floor.py --shared-data
../shared/data`` (prints the numbers; about 30 s on one thread).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy import ndimage

from restainaug.evaluation import load_fields
from restainaug.evaluation.realism import classifier_auc, context_features, nucleus_features


def transplant(
    out: np.ndarray, rgb: np.ndarray, labels: np.ndarray, donor: int, target: int
) -> None:
    """Fill label ``target`` of ``out`` with the pixels of label ``donor`` of ``rgb``."""
    (sl_d,) = ndimage.find_objects((labels == donor).astype(np.uint8))
    (sl_t,) = ndimage.find_objects((labels == target).astype(np.uint8))
    inside = labels[sl_d] == donor
    # Every pixel of the donor's box points to its nearest donor pixel.
    _, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    yy, xx = np.nonzero(labels[sl_t] == target)
    (hd, wd), (ht, wt) = inside.shape, labels[sl_t].shape
    sy = np.clip(((yy + 0.5) * hd / ht).astype(int), 0, hd - 1)
    sx = np.clip(((xx + 0.5) * wd / wt).astype(int), 0, wd - 1)
    out[sl_t][yy, xx] = rgb[sl_d][iy[sy, sx], ix[sy, sx]]


def measure(name: str, shared_data: str, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    ctx: dict[bool, list[np.ndarray]] = {True: [], False: []}
    real, into_neg, into_pos = [], [], []
    for f in load_fields(name, shared_data=shared_data):
        if f.positive is None:
            continue
        ids = np.unique(f.labels[f.labels > 0])
        pos = f.positive[ids]
        if pos.sum() < 2 or pos.all():
            continue
        p, n = ids[pos], ids[~pos]
        ctx[True].append(context_features(f.ihc, f.labels, p))
        ctx[False].append(context_features(f.ihc, f.labels, n))
        to_neg = f.ihc.copy()
        for target in n:
            transplant(to_neg, f.ihc, f.labels, rng.choice(p), target)
        to_pos = f.ihc.copy()
        for target in p:
            transplant(to_pos, f.ihc, f.labels, rng.choice(p[p != target]), target)
        real.append(nucleus_features(f.ihc, f.labels, p))
        into_neg.append(nucleus_features(to_neg, f.labels, n))
        into_pos.append(nucleus_features(to_pos, f.labels, p))
    a, b = np.concatenate(ctx[True]), np.concatenate(ctx[False])
    r = np.concatenate(real)
    return {
        "context": classifier_auc(a, b, seed=seed),
        "band only": classifier_auc(a[:, :3], b[:, :3], seed=seed),
        "shape only": classifier_auc(a[:, 3:], b[:, 3:], seed=seed),
        "transplant into negatives": classifier_auc(r, np.concatenate(into_neg), seed=seed),
        "transplant into positives": classifier_auc(r, np.concatenate(into_pos), seed=seed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", default="../shared/data")
    ap.add_argument("--data", nargs="+", default=["bcdata", "deepliif"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        for key, auc in measure(name, args.shared_data).items():
            print(f"{name:<9} {key:<26} AUC {auc:.3f}")


if __name__ == "__main__":
    main()
