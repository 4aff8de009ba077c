"""Recipe of the shipped ``restain-unmix`` model: data, training, evaluation, export.

The model is an `UnmixGenerator` / `StainRenderer` pair (see
`restainaug.models.networks`): a small context network predicts a DAPI-like nuclear channel
and a marker channel from brightfield IHC, and Beer-Lambert recomposition with the image's
own deconvolution residual renders the edited channels back. Only the network is trained,
with supervision:

* synthetic tissue from `restainaug.synth` with its true nuclear and marker channels, the
  four marker localisations in equal numbers (membrane, nuclear, cytoplasmic, none);
* one real DeepLIIF field, ``Bladder1`` (183 annotated nuclei): its Ki67 IHC panel against
  its annotated nuclei and Ki67-positive nuclei, textured by the co-registered DAPI and Ki67
  immunofluorescence, with the pixels within two pixels of a neighbouring nucleus left out
  so that touching nuclei stay apart (``--target gaps``), and its hematoxylin-only panel
  against the same nuclei with no marker. The panels of the sample fields are 6-9 pixels
  apart as stored; every panel is first moved into the IHC panel's frame
  (``read_deepliif(..., register=True)``, ``--no-register`` to skip it).

Every training patch gets a random stain jitter (hematoxylin, DAB and residual optical
density scaled independently, a grey glass tint, a slight blur) so that the network learns
what is a nucleus, not the colour of one slide. The loss weighs the two-pixel band around
each nucleus more (``--gap-weight``) so that the gaps between nuclei stay dark.

The DeepLIIF field ``Lung1`` (another organ, 60 nuclei) is never trained on: it is the
held-out evaluation field. Its metrics are logged during training for the learning curve
only; the exported model is the last step, fixed in advance, not the best logged one.
``--train-fields Lung1 --held-out Bladder1`` runs the same recipe the other way round (the
second held-out check in the model card).

Run from the repository root (about 8 minutes on one CPU core at the default settings)::

    python pretrained/recipes/train_unmix.py --shared-data ../shared/data --out runs/unmix
    python pretrained/recipes/train_unmix.py ... --export-only   # evaluate and export again
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restainaug.data import DeepLIIFField, read_deepliif
from restainaug.models import save_model
from restainaug.models.io import ModelCard
from restainaug.models.learned import GeneratorTranslator
from restainaug.models.networks import UNMIX_CHANNELS, StainRenderer, UnmixGenerator
from restainaug.nuclei import dilate
from restainaug.stains import OpticalTranslator
from restainaug.synth import synthesize
from restainaug.train.config import SIZES
from restainaug.translator import Channel

# The fast context generator of the training sizes, with a second full-resolution layer.
NET = {**SIZES["fast"]["generator"], "stem_layers": 2}
TRAIN_FIELDS = ("Bladder1",)
HELD_OUT_FIELDS = ("Lung1",)
LOCALISATIONS = ("membrane", "nuclear", "cytoplasmic", "none")
DEEPLIIF_LICENCE = "Apache-2.0 with Commons Clause (no selling)"


def data_licences(train_fields: list[str], held_out: list[str]) -> dict[str, str]:
    """The data of a run and their licences, for the model card."""
    out = {f"deepliif/train/{n} (training)": DEEPLIIF_LICENCE for n in train_fields}
    out.update(
        {f"deepliif/train/{n} (held out, evaluation only)": DEEPLIIF_LICENCE for n in held_out}
    )
    out["restainaug.synth (training)"] = "generated, no restrictions"
    return out


def _normalise(x: np.ndarray, lo: float = 1.0, hi: float = 99.5) -> np.ndarray:
    a, b = np.percentile(x, [lo, hi])
    return np.clip((x - a) / max(b - a, 1e-6), 0.0, 1.0).astype(np.float32)


def _soft(mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.clip(gaussian_filter(mask.astype(np.float32), sigma), 0.0, 1.0)


def _touching(labels: np.ndarray) -> np.ndarray:
    """Pixels of a nucleus within two pixels (chessboard) of another nucleus."""
    from scipy.ndimage import maximum_filter, minimum_filter

    big = np.where(labels > 0, labels, np.iinfo(labels.dtype).max)
    return (labels > 0) & ((maximum_filter(labels, 5) > labels) | (minimum_filter(big, 5) < labels))


def real_targets(f: DeepLIIFField, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Nuclear and marker targets of a DeepLIIF field: its IF, or its masks textured by it.

    ``"if"``: the co-registered DAPI and Ki67, normalised to the 1st-99.5th percentiles.
    ``"masks"``: the annotated nuclei (all, and the Ki67-positive ones), softened by a
    one-pixel Gaussian and textured by the normalised DAPI / Ki67, ``mask * (0.6 + 0.4 IF)``:
    DAPI-like inside nuclei, with no DAPI background or registration blur outside them.
    ``"gaps"``: ``"masks"`` without the pixels within two pixels of another nucleus, so that
    touching nuclei stay apart in the predicted channel (re-staining finds nuclei as its
    connected components). ``"nuclei"``: the same without the annotation's boundary ring
    (each nucleus is read without the 2-pixel green ring that DeepLIIF draws around it).
    ``"flat"``: ``"masks"`` without the texture.

    ``f`` is the field as read with its boundary rings, registered or not; ``"nuclei"``
    reads its file again without the rings, in the same frame.
    """
    if target == "nuclei":
        ring_free = read_deepliif(f.source, include_boundary=False)
        f = ring_free.registered(offsets=f.offsets) if f.offsets else ring_free
    dapi, ki67 = _normalise(f.dapi), _normalise(f.marker)
    if target == "if":
        return dapi, ki67
    inside = (f.labels > 0) & ~(_touching(f.labels) if target == "gaps" else False)
    nuclei = _soft(inside)
    positive = _soft(f.positive[f.labels] & inside)
    if target == "flat":
        return nuclei * 0.8, positive * 0.8
    return nuclei * (0.6 + 0.4 * dapi), positive * (0.6 + 0.4 * ki67)


def training_pairs(
    shared: Path,
    synthetic: int,
    seed: int,
    target: str,
    train_fields: tuple[str, ...],
    register: bool = True,
) -> tuple[list, list]:
    """(real, synthetic) lists of ``(IHC uint8 (H, W, 3), target float32 (2, H, W))``."""
    real = []
    for name in train_fields:
        path = shared / "deepliif" / "train" / f"{name}.png"
        f = read_deepliif(path, register=register)
        nuc, mark = real_targets(f, target)
        real.append((f.ihc, np.stack([nuc, mark])))
        real.append((f.hematoxylin, np.stack([nuc, np.zeros_like(mark)])))
    synth = []
    for i in range(synthetic):
        loc = LOCALISATIONS[i % len(LOCALISATIONS)]
        f = synthesize(seed=seed * 100_000 + i, size=(256, 256), marker=loc)
        synth.append((f.ihc, np.clip(f.if_, 0.0, 1.0).astype(np.float32)))
    return real, synth


def _crop(pairs: list, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ihc, tgt = pairs[int(rng.integers(len(pairs)))]
    h, w = ihc.shape[:2]
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    a = ihc[y : y + size, x : x + size].transpose(2, 0, 1).astype(np.float32) / 255.0
    b = tgt[:, y : y + size, x : x + size]
    k = int(rng.integers(4))
    a, b = np.rot90(a, k, (1, 2)), np.rot90(b, k, (1, 2))
    if rng.random() < 0.5:
        a, b = a[:, :, ::-1], b[:, :, ::-1]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def batch(real: list, synth: list, n: int, size: int, rng: np.random.Generator):
    """``n`` patches, half real and half synthetic."""
    items = [_crop(real if i % 2 == 0 else synth, size, rng) for i in range(n)]
    x = torch.from_numpy(np.stack([a for a, _ in items]))
    y = torch.from_numpy(np.stack([b for _, b in items]))
    return x, y


def jitter(x: torch.Tensor, gen: torch.Generator, optical: OpticalTranslator) -> torch.Tensor:
    """Random stain jitter of an IHC batch in ``[0, 1]`` (the targets stay as they are)."""
    b = x.shape[0]

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, 1, 1, generator=gen)

    c = optical.to_if(x)
    scale = torch.cat([u(0.6, 1.5, 1), u(0.6, 1.5, 1), u(0.7, 1.3, 1)], dim=1)
    shift = torch.cat([u(-0.05, 0.05, 1), u(-0.05, 0.05, 1), torch.zeros(b, 1, 1, 1)], dim=1)
    y = optical.to_ihc(c * scale + shift)
    y = y * u(0.85, 1.0, 3)  # grey or tinted glass
    if torch.rand(1, generator=gen).item() < 0.3:
        k = torch.tensor([0.25, 0.5, 0.25])
        k2 = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)
        y = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), k2, groups=3)
    return y.clamp(0.0, 1.0)


def gap_weights(y: torch.Tensor, weight: float) -> torch.Tensor:
    """Loss weights: ``1 + weight`` on the two-pixel band around each target nucleus.

    The band holds the thin gaps between touching nuclei; weighting it teaches the network to
    keep them dark, so that nuclei stay separate components of the nuclear channel.
    """
    w = torch.ones_like(y)
    if weight > 0:
        nuclei = (y[:, 0:1] > 0.3).float()
        band = dilate(nuclei, 2) - nuclei
        w[:, 0:1] += weight * band
    return w


def held_out_scores(
    net: UnmixGenerator, shared: Path, held_out: tuple[str, ...]
) -> dict[str, float]:
    """Nuclear AUC, Otsu Dice and marker AUC of the learned channels on the held-out fields."""
    from restainaug.evaluation import deepliif_fields
    from restainaug.evaluation.scoring import marker_auc, nuclear_scores

    out: dict[str, list[float]] = {}
    paths = [shared / "deepliif" / "train" / f"{n}.png" for n in held_out]
    with torch.no_grad():
        for field in deepliif_fields(paths):
            x = torch.from_numpy(field.ihc).permute(2, 0, 1)[None].float() / 127.5 - 1.0
            p = net.predict(x)[0].numpy()
            s = nuclear_scores(p[0], field, 2**18)
            s["marker_auc"] = marker_auc(p[1], field)
            for k, v in s.items():
                out.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in out.items()}


def train(args: argparse.Namespace) -> UnmixGenerator:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    real, synth = training_pairs(
        args.shared_data,
        args.synthetic,
        args.seed,
        args.target,
        tuple(args.train_fields),
        args.register,
    )
    net = UnmixGenerator(net=NET, od_input=args.od_input)
    optical = OpticalTranslator()
    opt = torch.optim.Adam(net.net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps)
    log = args.out / "log.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    t0, running = time.time(), 0.0
    for step in range(1, args.steps + 1):
        x, y = batch(real, synth, args.batch, args.patch, rng)
        x = jitter(x, gen, optical)
        pred = net.predict(x * 2.0 - 1.0)
        err = (pred - y).abs() + (pred - y) ** 2
        loss = (err * gap_weights(y, args.gap_weight)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % args.log_every == 0 or step == args.steps:
            entry = {"step": step, "loss": running / args.log_every, "s": time.time() - t0}
            running = 0.0
            if step % args.eval_every == 0 or step == args.steps:
                entry.update(held_out_scores(net, args.shared_data, tuple(args.held_out)))
            print(json.dumps({k: round(v, 4) for k, v in entry.items()}), flush=True)
            with log.open("a") as f:
                f.write(json.dumps(entry) + "\n")
    torch.save(net.state_dict(), args.out / "unmix.pt")
    return net


def gains(net: UnmixGenerator, shared: Path, train_fields: list[str]) -> tuple[float, float]:
    """Hematoxylin / DAB optical density per unit of the predicted channels, on training data."""
    f = read_deepliif(shared / "deepliif" / "train" / f"{train_fields[0]}.png")
    x = torch.from_numpy(f.ihc).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        v = (net(x)[0] + 1.0) * 0.5
    out = []
    for pred, od in ((v[0], v[4]), (v[1], v[5])):
        sel = pred > 0.5
        ratio = float(od[sel].median() / pred[sel].median()) if int(sel.sum()) > 100 else math.nan
        out.append(ratio)
    n = out[0] if math.isfinite(out[0]) and out[0] > 0 else 0.5
    m = out[1] if math.isfinite(out[1]) and out[1] > 0 else 0.8
    return round(n, 3), round(m, 3)


def separation(translator: torch.nn.Module, shared: Path, names: list[str]) -> dict:
    """Nuclei found without labels (`nuclei_from_channel`) on registered DeepLIIF fields."""
    from restainaug.evaluation.metrics import matched_objects
    from restainaug.nuclei import nuclei_from_channel

    out = {}
    for name in names:
        f = read_deepliif(shared / "deepliif" / "train" / f"{name}.png", register=True)
        x = torch.from_numpy(f.ihc).permute(2, 0, 1)[None].float() / 255.0
        row = {"nuclei": f.num_nuclei}
        for key, tr in (("", translator), ("_optical", OpticalTranslator())):
            with torch.no_grad():
                nuclear = tr.to_if(x)[:, tr.nuclear_index : tr.nuclear_index + 1]
            found = nuclei_from_channel(nuclear)[0, 0].numpy().astype(np.int64)
            row[f"objects{key}"] = len(np.unique(found)) - 1
            row[f"matched_iou50{key}"] = matched_objects(found, f.labels)
        out[name] = row
    return out


def export(net: UnmixGenerator, args: argparse.Namespace) -> Path:
    from restainaug.evaluation import compare, deepliif_fields, synth_fields

    g_n, g_m = gains(net, args.shared_data, args.train_fields)
    render_cfg = {"type": "render", "gain_nuclear": g_n, "gain_marker": g_m}
    unmix_cfg = {"type": "unmix", "net": NET, "od_input": args.od_input}
    channels = [Channel(n, r) for n, r in UNMIX_CHANNELS]  # type: ignore[arg-type]
    translator = GeneratorTranslator(
        net, StainRenderer(**{k: v for k, v in render_cfg.items() if k != "type"}), channels,
        name=args.name,
    )  # fmt: skip
    metrics: dict[str, object] = {}
    train_dir = args.shared_data / "deepliif" / "train"
    held_out = [train_dir / f"{n}.png" for n in args.held_out]
    sets = {
        "": deepliif_fields(held_out),
        "_unregistered": deepliif_fields(held_out, register=False),
        "_training_field": deepliif_fields([train_dir / f"{n}.png" for n in args.train_fields]),
        "_synthetic": synth_fields(8, seed=12345),
    }
    for key, fields in sets.items():
        report = compare([translator], fields, variants=4)
        print(f"\n## evaluation{key}\n{report.format_table()}")
        report.to_csv(args.out / f"evaluation{key}.csv")
        for model in report.models:
            suffix = {args.name: "", "optical": "_optical", "real IF": "_real_if"}[model]
            metrics[f"evaluation{key}{suffix}"] = {
                k: round(float(v), 4) for k, v in report.mean(model).items() if math.isfinite(v)
            }
    metrics["nuclei_without_labels"] = separation(translator, args.shared_data, args.held_out)
    metrics["evaluated_on"] = (
        f"evaluation: DeepLIIF {', '.join(args.held_out)} (Ki67 IHC, never trained on), "
        "masks and IF registered to the IHC panel; evaluation_unregistered: the same, panels "
        f"as stored; evaluation_training_field: DeepLIIF {', '.join(args.train_fields)} "
        "(seen in training); evaluation_synthetic: 8 synthetic fields, seed 12345 (not a "
        "training seed); restainaug evaluate, seed 0, 4 re-stained variants; "
        "nuclei_without_labels: components of nuclei_from_channel on the held-out fields "
        "and how many annotated nuclei one of them matches at IoU >= 0.5"
    )
    card = ModelCard(
        name=args.name,
        channels=channels,
        ihc_to_if={"in_channels": 3, "out_channels": len(UNMIX_CHANNELS), **unmix_cfg},
        if_to_ihc={"in_channels": len(UNMIX_CHANNELS), "out_channels": 3, **render_cfg},
        version="1.1.0",
        description=(
            "Learned stain unmixing for brightfield hematoxylin + DAB IHC: a small network "
            "predicts DAPI-like nuclei (DAB-stained nuclei included) and the marker; "
            "Beer-Lambert recomposition with the image's own residual renders edits back, "
            "so an unedited image round-trips exactly."
        ),
        licence=(
            "Apache-2.0 with the Commons Clause, inherited from the DeepLIIF training field: "
            "use and redistribution allowed, selling not allowed"
        ),
        provenance={
            "recipe": "pretrained/recipes/train_unmix.py",
            "command": " ".join(["python pretrained/recipes/train_unmix.py", *_flags(args)]),
            "train_seconds": _train_seconds(args.out),
            "config": {**_settings(args), "net": NET, "train_fields": args.train_fields},
            "step": args.steps,
            "data": data_licences(args.train_fields, args.held_out),
            "trained_with": {"torch": torch.__version__, "threads": args.threads},
            "date": time.strftime("%Y-%m-%d"),
        },
        metrics=metrics,
    )
    dest = Path(__file__).resolve().parents[1] / args.name
    return save_model(translator, dest, card)


def _flags(args: argparse.Namespace) -> list[str]:
    out = []
    for k, v in _settings(args).items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            out.append(flag if v else f"--no-{flag[2:]}")
        else:
            out.append(f"{flag} {v}")
    out.append("--train-fields " + " ".join(args.train_fields))
    out.append("--held-out " + " ".join(args.held_out))
    return out


def _train_seconds(out: Path) -> float | None:
    """Wall time of the training run, from the last line of its log."""
    try:
        last = (out / "log.jsonl").read_text().strip().splitlines()[-1]
        return round(float(json.loads(last)["s"]), 1)
    except (OSError, IndexError, KeyError, ValueError):
        return None


def _settings(args: argparse.Namespace) -> dict[str, object]:
    keys = ("steps", "batch", "patch", "lr", "synthetic", "seed", "target", "od_input", "width",
            "head_width", "stem_layers", "gap_weight", "register")  # fmt: skip
    return {k: getattr(args, k) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared-data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("runs/unmix"))
    p.add_argument("--name", default="restain-unmix")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--synthetic", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-fields", nargs="+", default=list(TRAIN_FIELDS))
    p.add_argument("--held-out", nargs="+", default=list(HELD_OUT_FIELDS))
    p.add_argument("--target", choices=("gaps", "nuclei", "masks", "flat", "if"), default="gaps")
    p.add_argument("--register", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--od-input", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--width", type=int, default=NET["width"], help="full-resolution stem width")
    p.add_argument("--head-width", type=int, default=NET["head_width"])
    p.add_argument("--stem-layers", type=int, default=NET["stem_layers"])
    p.add_argument("--gap-weight", type=float, default=4.0, help="loss weight between nuclei")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--no-export", action="store_true")
    args = p.parse_args()
    NET.update(width=args.width, head_width=args.head_width, stem_layers=args.stem_layers)
    torch.set_num_threads(args.threads)
    if args.export_only:
        weights = args.out / "unmix.pt"
        if not weights.is_file():
            p.error(f"--export-only: {weights} does not exist; train first (without the flag).")
        net = UnmixGenerator(net=NET, od_input=args.od_input)
        net.load_state_dict(torch.load(weights, weights_only=True))
    else:
        net = train(args)
    if not args.no_export:
        print(f"wrote {export(net.eval(), args)}")


if __name__ == "__main__":
    main()
