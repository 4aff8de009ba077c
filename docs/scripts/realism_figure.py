"""Figure of the realism page: real and re-stained nuclei of the same slides, side by side.

For DeepLIIF (and, with ``--bcdata``, BCData: a lab the default model never saw), eight
nuclei per row, 40x40 px crops around each nucleus, shown at twice their size:

1. real positive nuclei;
2. real negative nuclei made positive (`MarkerToNuclei`, 2+) by the default model;
3. the same with ``model="restain-slide"`` and ``MarkerToNuclei(grain=0.6, edge=1)``;
4. real negative nuclei;
5. real positive nuclei after `RemoveMarker`, default model;
6. the same with ``model="restain-slide"``.

Run from the repository root: ``python docs/scripts/realism_figure.py --shared-data
../shared/data`` (writes ``docs/img/realism.jpg``). BCData's terms do not allow redistributing
its images, so the committed figure shows DeepLIIF only; ``--bcdata --out elsewhere.jpg`` adds
BCData's rows for a look on your own machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from restainaug import RestainTransform
from restainaug.evaluation import EvalField, load_fields
from restainaug.ops import MARKER_LEVELS, MarkerToNuclei, RemoveMarker
from restainaug.policy import Sequential

HALF = 20


def crops(image: np.ndarray, field: EvalField, ids: np.ndarray, n: int = 8) -> np.ndarray:
    centres = ndimage.center_of_mass(field.labels > 0, field.labels, ids)
    out = []
    h, w = image.shape[:2]
    for y, x in centres:
        y, x = int(y), int(x)
        if HALF <= y < h - HALF and HALF <= x < w - HALF:
            out.append(image[y - HALF : y + HALF, x - HALF : x + HALF])
        if len(out) == n:
            break
    while len(out) < n:
        out.append(np.full((2 * HALF, 2 * HALF, 3), 255, np.uint8))
    return np.concatenate(out, 1)


def rows(field: EvalField) -> list[np.ndarray]:
    ids = np.unique(field.labels[field.labels > 0])
    assert field.positive is not None
    pos = field.positive[ids]
    negatives = np.where(np.isin(field.labels, ids[~pos]), field.labels, 0)
    out = [crops(field.ihc, field, ids[pos])]
    for model, grain, edge in (("default", 0.0, 0), ("restain-slide", 0.6, 1)):
        marker = MarkerToNuclei(1.0, MARKER_LEVELS["2+"], grain=grain, edge=edge)
        t = RestainTransform(
            model, Sequential(RemoveMarker(), marker), p=1.0, seed=0, min_tissue=0.0
        )
        out.append(crops(t(field.ihc, labels=negatives), field, ids[~pos]))
    out.append(crops(field.ihc, field, ids[~pos]))
    for model in ("default", "restain-slide"):
        t = RestainTransform(model, RemoveMarker(), p=1.0, seed=0, min_tissue=0.0)
        out.append(crops(t(field.ihc), field, ids[pos]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared-data", default="../shared/data")
    ap.add_argument("--out", type=Path, default=Path("docs/img/realism.jpg"))
    ap.add_argument("--bcdata", action="store_true", help="also BCData (not for the repository)")
    args = ap.parse_args()
    sets = (("bcdata", "BCData"),) * args.bcdata + (("deepliif", "DeepLIIF"),)
    torch.set_num_threads(1)
    blocks = []
    for data, _ in sets:
        field = load_fields(data, shared_data=args.shared_data)[0]
        grid = np.concatenate(rows(field), 0)
        blocks.append(np.kron(grid, np.ones((2, 2, 1), np.uint8)))
    gap = np.full((12, blocks[0].shape[1], 3), 255, np.uint8)
    parts = [x for block in blocks for x in (block, gap)][:-1]
    image = Image.fromarray(np.concatenate(parts, 0))
    labels = ["real +", "added", "added (slide)", "real -", "removed", "removed (slide)"]
    left = Image.new("RGB", (150, image.height), "white")
    draw = ImageDraw.Draw(left)
    for b, (_, name) in enumerate(sets):
        top = b * (blocks[0].shape[0] + 12)
        for r, text in enumerate(labels):
            draw.text((6, top + r * 4 * HALF + 2 * HALF - 6), text, fill="black")
        draw.text((6, top + 4), name, fill="black")
    figure = Image.new("RGB", (left.width + image.width, image.height), "white")
    figure.paste(left, (0, 0))
    figure.paste(image, (left.width, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out, quality=85)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
