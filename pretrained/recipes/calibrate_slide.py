"""Make restain-slide: restain-unmix's network with a renderer calibrated on real nuclei.

restain-slide 1.0.0 uses the network of restain-unmix 1.1.0 (IHC -> IF, the same weights file)
and renders edits with `restainaug.models.SlideRenderer`, which removes marker into the
slide's own negative nuclei and keeps the glass. This script

* measures the renderer's fallback tables of real positive and negative nucleus pixels (for
  slides without any of their own) on DeepLIIF Ki67 IHC: the training field Bladder1 and the
  three unlabelled ROIs, the mean of the per-image tables;
* measures the DAB strength of Bladder1's marker regions (``reference_dab``: added marker on
  another slide with marker of its own is scaled by that slide's strength over this one);
* fits ``gain_marker`` (DAB optical density per unit of added marker) so that a 2+ nucleus
  has the median DAB of Bladder1's real positive nuclei (1.1.0 used 1.352 from the marker
  channel's own fit);

and writes the card ``pretrained/restain-slide.json`` from ``pretrained/restain-unmix.json``.
DeepLIIF Lung1 and every BCData field stay held out.

Run from the repository root (no weights are written: the card names restain-unmix's file):

    python pretrained/recipes/calibrate_slide.py --shared-data ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from restainaug.data import read_image
from restainaug.models import SlideRenderer, load_model

FIELDS = ("train/Bladder1.png", "rois/ROI_1.png", "rois/ROI_7.png", "rois/ROI_127.png")
VERSION = "1.0.0"


def tables(shared: Path) -> tuple[torch.Tensor, torch.Tensor, list[str], float]:
    model = load_model("restain-unmix")
    gain_nuclear, gain_marker = model.if_to_ihc.gains
    renderer = SlideRenderer(gain_nuclear=gain_nuclear, gain_marker=gain_marker)
    positive, negative, used = [], [], []
    reference = float("nan")
    for rel in FIELDS:
        rgb = read_image(shared / "deepliif" / rel)[..., :3]
        if rel.startswith("train/"):
            rgb = rgb[:, :512]  # the IHC panel of the six
        h, w = (s // 4 * 4 for s in rgb.shape[:2])
        x = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w])).permute(2, 0, 1)[None] / 255.0
        with torch.no_grad():
            v = model.to_if(x.float())
            pos, neg, _, _, strength = renderer.slide_stains(v)
        if rel.startswith("train/"):
            reference = float(strength)
        positive.append(pos[0])
        negative.append(neg[0])
        used.append(rel)
        print(f"{rel}: positive total OD {pos[0].sum(0)[[0, 8, 15]].numpy().round(2)}")
    return torch.stack(positive).mean(0).T, torch.stack(negative).mean(0).T, used, reference


def _dab_means(rgb: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    from restainaug.evaluation.realism import FEATURES, nucleus_features

    return nucleus_features(rgb, labels, ids)[:, FEATURES.index("dab_mean")]


def marker_gain(shared: Path, start: float, reference: float) -> float:
    """DAB per unit of marker so that a 2+ nucleus has the median DAB of the real positive
    nuclei of the training field (Bladder1, registered masks)."""
    from restainaug import RestainTransform
    from restainaug.evaluation import deepliif_fields
    from restainaug.ops import MARKER_LEVELS, MarkerToNuclei

    (field,) = [f for f in deepliif_fields(shared / "deepliif" / "train") if "Bladder1" in f.name]
    ids = np.unique(field.labels[field.labels > 0])
    positive = field.positive[ids]
    real = float(np.median(_dab_means(field.ihc, field.labels, ids[positive])))
    negatives = np.where(np.isin(field.labels, ids[~positive]), field.labels, 0)
    gain = start
    for _ in range(2):  # DAB is about linear in the gain: two steps of the ratio
        model = load_model("restain-unmix")
        model.if_to_ihc = SlideRenderer(
            gain_nuclear=model.if_to_ihc.gains[0], gain_marker=gain, reference_dab=reference
        )
        op = MarkerToNuclei(1.0, MARKER_LEVELS["2+"])
        added = RestainTransform(model, op, p=1.0, seed=0, min_tissue=0.0)(
            field.ihc, labels=negatives
        )
        dab = float(np.nanmean(_dab_means(added, field.labels, ids[~positive])))
        print(f"gain_marker {gain:.3f}: 2+ added DAB {dab:.3f}, real positives (median) {real:.3f}")
        gain = round(gain * real / dab, 3)
    return gain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared-data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--base", type=Path, default=Path("pretrained/restain-unmix.json"))
    ap.add_argument("--card", type=Path, default=Path("pretrained/restain-slide.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    positive, negative, used, reference = tables(args.shared_data)
    card = json.loads(args.base.read_text())
    card["name"] = "restain-slide"
    old = card["if_to_ihc"]
    gain_marker = marker_gain(args.shared_data, old["gain_marker"], reference)
    card["if_to_ihc"] = {
        "type": "slide-render",
        "in_channels": old["in_channels"],
        "out_channels": old["out_channels"],
        "gain_nuclear": old["gain_nuclear"],
        "gain_marker": gain_marker,
        "positive_od": [[round(float(v), 4) for v in row] for row in positive],
        "negative_od": [[round(float(v), 4) for v in row] for row in negative],
        "reference_dab": round(reference, 4),
    }
    card["version"] = VERSION
    card["description"] = (
        "restain-unmix's network (DAPI-like nuclei and the marker from brightfield "
        "hematoxylin + DAB IHC) with edits rendered in the slide's own stains: removed marker "
        "leaves the slide's negative nuclei and its glass untouched, added marker is DAB on "
        "top of the nucleus at the slide's own strength, calibrated on real DeepLIIF Ki67 "
        "positives. An unedited image round-trips exactly."
    )
    card.setdefault("provenance", {})["renderer"] = {
        "command": "python pretrained/recipes/calibrate_slide.py --shared-data ../shared/data",
        "tables_from": [f"DeepLIIF {u}" for u in used],
        "gain_marker_from": "DeepLIIF Bladder1 real positive nuclei (registered masks): a 2+ "
        "nucleus has their median DAB",
        "held_out": "DeepLIIF Lung1, BCData (every field)",
    }
    args.card.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.card} (version {VERSION})")


if __name__ == "__main__":
    main()
