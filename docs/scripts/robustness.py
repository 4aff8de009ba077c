"""How the default model's nuclear and marker channels hold up on images unlike its training field.

The held-out DeepLIIF field (Lung1, registered) is changed the way other labs' slides differ:
magnification (resized 0.5-1.5x, labels with it), stain strength (hematoxylin or DAB optical
density scaled), a darker or tinted glass, scanner blur and JPEG compression. Each version is
scored with `restainaug.evaluation.evaluate`, the default model beside ``optical``; prints a
Markdown table (the one in docs/model-card.md).

Run: ``python docs/scripts/robustness.py [--data ../shared/data] [--model default]``.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from restainaug.data import gaussian_smooth, read_deepliif
from restainaug.evaluation import EvalField, evaluate
from restainaug.stains import OpticalTranslator

Change = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
OPTICAL = OpticalTranslator()


def _resize(scale: float) -> Change:
    def f(ihc: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = (round(n * scale) for n in labels.shape)
        x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, (h, w), mode="bilinear", antialias=scale < 1, align_corners=False)
        y = F.interpolate(torch.from_numpy(labels)[None, None].float(), (h, w), mode="nearest")
        out = x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
        return out, y[0, 0].to(torch.int32).numpy()

    return f


def _stain(hematoxylin: float = 1.0, dab: float = 1.0) -> Change:
    def f(ihc: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(ihc).permute(2, 0, 1)[None].float() / 255.0
        c = OPTICAL.to_if(x)
        c = c * torch.tensor([hematoxylin, dab, 1.0]).view(1, 3, 1, 1)
        y = OPTICAL.to_ihc(c)
        return (y[0].permute(1, 2, 0) * 255).round().clamp(0, 255).byte().numpy(), labels

    return f


def _blur(sigma: float) -> Change:
    def f(ihc: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = gaussian_smooth(ihc.transpose(2, 0, 1).astype(np.float32), sigma)
        return np.clip(np.round(x), 0, 255).astype(np.uint8).transpose(1, 2, 0), labels

    return f


def _jpeg(quality: int) -> Change:
    def f(ihc: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buf = io.BytesIO()
        Image.fromarray(ihc).save(buf, format="JPEG", quality=quality)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), labels

    return f


CHANGES: dict[str, Change] = {
    "as scanned": lambda a, b: (a, b),
    "magnification 0.5x": _resize(0.5),
    "magnification 0.75x": _resize(0.75),
    "magnification 1.5x": _resize(1.5),
    "hematoxylin 0.6x": _stain(hematoxylin=0.6),
    "hematoxylin 1.5x": _stain(hematoxylin=1.5),
    "DAB 0.6x": _stain(dab=0.6),
    "DAB 1.5x": _stain(dab=1.5),
    "darker, yellow glass": lambda a, b: ((a * np.array([0.9, 0.85, 0.7])).astype(np.uint8), b),
    "scanner blur (sigma 1.5 px)": _blur(1.5),
    "JPEG quality 50": _jpeg(50),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", default="default")
    ap.add_argument("--field", default="Lung1", help="DeepLIIF field (the default's held-out one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    f = read_deepliif(args.data / "deepliif" / "train" / f"{args.field}.png", register=True)
    print(f"{args.field}, registered; nuclear AUC / Otsu Dice / marker AUC\n")
    print(f"| image | {args.model} | optical |")
    print("|---|---|---|")
    for name, change in CHANGES.items():
        ihc, labels = change(f.ihc, f.labels)
        field = [EvalField(name, ihc, labels, f.positive)]
        cells = []
        for model in (args.model, "optical"):
            row = evaluate(model, field, variants=0).rows[0]
            cells.append(f"{row.nuclear_auc:.3f} / {row.otsu_dice:.3f} / {row.marker_auc:.3f}")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
