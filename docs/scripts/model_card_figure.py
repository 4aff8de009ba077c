"""The model card figure: translations and re-stained variants of real IHC, learned vs optical.

For each image (the DeepLIIF Ki67 fields Lung1, held out from training, and Bladder1, the
training field of ``restain-unmix``; a DeepLIIF ROI; the embedded skimage image),
one row per translator: IHC | nuclear channel | marker channel | IHC -> IF -> IHC | four
re-stained variants (default policy, the same draws for both translators). Writes
``docs/img/model_card.jpg``.

Run: ``python docs/scripts/model_card_figure.py [--data ../shared/data] [--model default]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restainaug import RestainTransform, load_model

ROOT = Path(__file__).resolve().parents[2]
CROP = 192


def images(data: Path) -> list[tuple[str, np.ndarray]]:
    """Crops of real IHC (uint8, CROP x CROP)."""
    from skimage.data import immunohistochemistry

    out = [("skimage IHC", immunohistochemistry()[200 : 200 + CROP, 150 : 150 + CROP])]
    if (data / "deepliif").is_dir():
        from restainaug.data import read_deepliif, read_image

        for name, y, x in (("Lung1", 100, 220), ("Bladder1", 160, 160)):
            field = read_deepliif(data / "deepliif" / "train" / f"{name}.png")
            out.append((f"DeepLIIF {name}", field.ihc[y : y + CROP, x : x + CROP]))
        roi = read_image(data / "deepliif" / "rois" / "ROI_7.png")
        out.append(("DeepLIIF ROI_7", roi[400 : 400 + CROP, 500 : 500 + CROP, :3]))
    return out


def grey(x: torch.Tensor, hi: float) -> np.ndarray:
    g = (x.clamp(0, hi) / hi * 255).round().byte().numpy()
    return np.repeat(g[..., None], 3, axis=2)


def row(model: str, ihc: np.ndarray, n: int = 4) -> np.ndarray:
    tr = load_model(model)
    x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        if_ = tr.to_if(x)
        rec = tr.to_ihc(if_)
    hi = float(torch.quantile(if_[0, :2].flatten(), 0.995).clamp(min=1e-3))
    tiles = [ihc, grey(if_[0, tr.nuclear_index], hi)]
    m = tr.marker_index
    tiles.append(grey(if_[0, m], hi) if m is not None else np.zeros_like(ihc))
    tiles.append((rec[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())
    t = RestainTransform(model=tr, p=1.0, seed=0)
    tiles += [t(ihc) for _ in range(n)]
    return np.concatenate(tiles, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "model_card.jpg")
    args = parser.parse_args()
    rows = []
    for name, ihc in images(args.data):
        for model in (args.model, "optical"):
            rows.append(row(model, np.ascontiguousarray(ihc)))
            print(f"{name}: {model}")
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).save(args.out, quality=88)
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
