"""Synthetic tissue beside real data: the docs figure and the colour statistics table.

Writes ``docs/img/synth_vs_real.jpg`` (synthetic IHC and IF beside real DeepLIIF IHC and
DAPI) and prints Markdown tables comparing optical-density statistics of real and synthetic
IHC, and contrast statistics of real and synthetic nuclear IF. Needs the shared DeepLIIF
fields (``--data``, default ``../shared/data``) and Pillow.

Run: ``python docs/scripts/synth_vs_real.py [--data DIR] [--n 24]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from restainaug.synth import SynthConfig, synthesize

ROOT = Path(__file__).resolve().parents[2]


def od(rgb: np.ndarray) -> np.ndarray:
    """Optical density (H, W, 3) of uint8 RGB, glass-relative (99.5th percentile per channel)."""
    x = rgb.astype(np.float64) / 255.0
    glass = np.percentile(x.reshape(-1, 3), 99.5, axis=0)
    return -np.log10(np.clip(x / glass, 1e-3, 1.0))


def od_stats(rgb: np.ndarray) -> dict[str, float]:
    """Colour statistics of one IHC image in optical-density space."""
    d = od(rgb).reshape(-1, 3)
    total = d.sum(1)
    tissue = total > 0.15
    t = d[tissue]
    direction = t / np.linalg.norm(t, axis=1, keepdims=True)
    dark = t[total[tissue] > np.percentile(total[tissue], 90)]
    dark_dir = dark / np.linalg.norm(dark, axis=1, keepdims=True)
    return {
        "tissue fraction": float(tissue.mean()),
        "OD R": float(t[:, 0].mean()),
        "OD G": float(t[:, 1].mean()),
        "OD B": float(t[:, 2].mean()),
        "OD total p50": float(np.median(total[tissue])),
        "OD total p95": float(np.percentile(total[tissue], 95)),
        "OD direction R (tissue)": float(direction[:, 0].mean()),
        "OD direction B (tissue)": float(direction[:, 2].mean()),
        "OD direction R (darkest 10%)": float(dark_dir[:, 0].mean()),
        "OD direction B (darkest 10%)": float(dark_dir[:, 2].mean()),
    }


def if_stats(nuclear: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Contrast of a nuclear IF channel against its nucleus mask (normalised to its p99.5)."""
    x = nuclear / max(float(np.percentile(nuclear, 99.5)), 1e-6)
    inside = labels > 0
    return {
        "nucleus area fraction": float(inside.mean()),
        "mean inside nuclei": float(x[inside].mean()),
        "mean outside nuclei": float(x[~inside].mean()),
        "CV inside nuclei": float(x[inside].std() / max(x[inside].mean(), 1e-6)),
    }


def deepliif(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IHC panel, DAPI panel (float) and nucleus mask of a DeepLIIF six-panel image."""
    a = np.asarray(Image.open(path).convert("RGB"))
    s = a.shape[0]
    seg = a[:, 5 * s :]
    mask = (((seg[..., 0] == 255) | (seg[..., 2] == 255)) & (seg[..., 1] == 0)).astype(np.int32)
    return a[:, :s], a[:, 2 * s : 3 * s, 0].astype(np.float32) / 255.0, mask


def table(rows: dict[str, list[dict[str, float]]]) -> str:
    keys = list(next(iter(rows.values()))[0])
    out = ["| statistic | " + " | ".join(rows) + " |", "|---|" + "---:|" * len(rows)]
    for k in keys:
        cells = []
        for vals in rows.values():
            v = np.array([r[k] for r in vals])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=24, help="synthetic fields per marker")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "synth_vs_real.jpg")
    args = parser.parse_args(argv)
    real_fields = [
        deepliif(args.data / "deepliif" / "train" / f"{n}.png") for n in ("Bladder1", "Lung1")
    ]
    rois = [
        np.asarray(Image.open(p).convert("RGB"))
        for p in sorted((args.data / "deepliif" / "rois").glob("*.png"))
    ]
    # Real fields are 512x512 at about 40x; synthetic defaults use the same scale.
    cfg = SynthConfig(size=(512, 512))
    synth = {
        m: [synthesize(cfg, seed=s, marker=m) for s in range(args.n)]
        for m in ("nuclear", "membrane")
    }

    ihc_rows = {
        "real Ki67 IHC (2 fields + 3 ROIs)": [od_stats(f[0]) for f in real_fields]
        + [od_stats(r) for r in rois],
        "synthetic, nuclear marker": [od_stats(f.ihc) for f in synth["nuclear"]],
        "synthetic, membrane marker": [od_stats(f.ihc) for f in synth["membrane"]],
    }
    if_rows = {
        "real DAPI (DeepLIIF)": [if_stats(f[1], f[2]) for f in real_fields],
        "synthetic nuclear IF": [if_stats(f.if_[0], f.labels) for f in synth["nuclear"]],
    }
    print("## IHC colour statistics in optical-density space (mean ± sd over images)\n")
    print(table(ihc_rows))
    print("\n## Nuclear IF against the nucleus masks\n")
    print(table(if_rows))

    # Figure: real IHC | synthetic nuclear | synthetic membrane ; real DAPI | synthetic IF x2
    tile = 256

    def crop(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a).resize((tile, tile), Image.Resampling.BILINEAR))

    def grey(x: np.ndarray) -> np.ndarray:
        x = np.clip(x / max(float(np.percentile(x, 99.5)), 1e-6), 0, 1)
        return (np.repeat(x[..., None], 3, -1) * 255).astype(np.uint8)

    def composite(f) -> np.ndarray:
        n = np.clip(f.if_[0] / np.percentile(f.if_[0], 99.5), 0, 1)
        m = np.clip(f.if_[1] / max(np.percentile(f.if_[1], 99.5), 0.2), 0, 1)
        return (np.stack([m, 0.8 * m, n], -1) * 255).astype(np.uint8)

    top = [
        real_fields[0][0],
        real_fields[1][0],
        synth["nuclear"][0].ihc,
        synth["nuclear"][1].ihc,
        synth["membrane"][0].ihc,
        synth["membrane"][1].ihc,
    ]
    bottom = [
        grey(real_fields[0][1]),
        grey(real_fields[1][1]),
        grey(synth["nuclear"][0].if_[0]),
        composite(synth["nuclear"][1]),
        grey(synth["membrane"][0].if_[0]),
        composite(synth["membrane"][1]),
    ]
    grid = np.concatenate(
        [np.concatenate([crop(a) for a in top], 1), np.concatenate([crop(a) for a in bottom], 1)], 0
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out, quality=85, optimize=True)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
