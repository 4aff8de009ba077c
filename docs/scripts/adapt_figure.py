"""The "Adapt to your slides" figure: the default model before and after adaptation.

For crops of the DeepLIIF ROIs (the tiles of the adaptation run), one row per crop: IHC |
marker channel before | after | the same re-staining (every nucleus made 2+ positive, the
same draws) before | after. Writes ``docs/img/adapt.jpg``.

Run after adapting (``restainaug train --init default --ihc ../shared/data/deepliif/rois
--out runs/adapt-rois`` and ``restainaug export runs/adapt-rois --name adapted-rois``)::

    python docs/scripts/adapt_figure.py --model runs/adapt-rois/export/adapted-rois.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restainaug import RestainTransform, load_model
from restainaug.ops import MARKER_LEVELS, MarkerToNuclei

ROOT = Path(__file__).resolve().parents[2]
CROP = 192
CROPS = (("ROI_1", 300, 500), ("ROI_7", 400, 500), ("ROI_127", 500, 300))


def grey(x: torch.Tensor) -> np.ndarray:
    g = (x.clamp(0, 1) * 255).round().byte().numpy()
    return np.repeat(g[..., None], 3, axis=2)


def columns(model: str, ihc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marker channel and a re-stained variant (all nuclei 2+) of one model."""
    tr = load_model(model)
    x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        marker = tr.to_if(x)[0, tr.marker_index]
    ops = MarkerToNuclei(fraction=1.0, intensity=MARKER_LEVELS["2+"])
    restained = RestainTransform(model=tr, ops=ops, p=1.0, seed=0)(ihc)
    return grey(marker), restained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", required=True, help="the adapted model's card")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "adapt.jpg")
    args = parser.parse_args()
    from restainaug.data import read_image

    rows = []
    for name, y, x in CROPS:
        roi = read_image(args.data / "deepliif" / "rois" / f"{name}.png")[..., :3]
        ihc = np.ascontiguousarray(roi[y : y + CROP, x : x + CROP])
        m0, r0 = columns("default", ihc)
        m1, r1 = columns(str(args.model), ihc)
        rows.append(np.concatenate([ihc, m0, m1, r0, r1], axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).save(args.out, quality=88)
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
