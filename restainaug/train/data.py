"""Training and validation data from a `DataConfig`: files, folders and synthetic tissue.

* `training_images` reads the unpaired IHC images (paths, read lazily by the dataset) and IF
  images (`IFImage`, read, smoothed and normalised once) and adds synthetic fields;
* `validation_fields` reads paired fields (IHC with its true IF) for the metrics logged
  during training: synthetic fields, DeepLIIF panels, or two folders paired by name;
* `paired_images` and `PairedPatches` give the paired synthetic examples of the supervised
  term.

`restainaug.train.batches` decides which items make up each step's batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..synth import SynthConfig, SynthField, synthesize
from ..synth.dataset import field_seed
from ..translator import Channel

# They lived here; still importable from this module.
from .batches import StepBatches as StepBatches
from .batches import TrainPatches as TrainPatches
from .sections import DataConfig

__all__ = [
    "PairedPatches",
    "ValField",
    "paired_images",
    "training_images",
    "validation_fields",
]

_SYNTH_MARKERS = ("membrane", "nuclear", "cytoplasmic")
_SYNTH_CHANNELS = (Channel("DAPI", "nuclear"), Channel("marker", "marker"))
# Independent seed streams for the synthetic IHC, IF and validation fields of one run.
_IHC, _IF, _VAL, _PAIRED = 1, 2, 3, 4


@dataclass
class ValField:
    """A paired validation field: IHC and the IF it should translate to.

    Attributes:
        name: where it came from.
        ihc: RGB, ``float32`` ``(3, H, W)`` in ``[0, 1]``.
        nuclear: true nuclear (DAPI) channel, ``float32`` ``(H, W)``.
        marker: true marker channel, ``float32`` ``(H, W)``, or ``None``.
    """

    name: str
    ihc: torch.Tensor
    nuclear: torch.Tensor
    marker: torch.Tensor | None


def _synth_marker(kind: str, i: int) -> str:
    return _SYNTH_MARKERS[i % len(_SYNTH_MARKERS)] if kind == "mixed" else kind


def _synthetic(cfg: DataConfig, seed: int, stream: int, i: int) -> SynthField:
    config = SynthConfig(
        marker=_synth_marker(cfg.synthetic_marker, i),  # type: ignore[arg-type]
        size=(cfg.synthetic_size, cfg.synthetic_size),
    )
    return synthesize(config, seed=field_seed(seed * 8 + stream, i))


def _image_files(path: Path) -> list[Path]:
    from ..data.io import IMAGE_SUFFIXES

    return sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def ihc_paths(sources: list[str]) -> list[Path]:
    """The image files of ``data.ihc`` sources (files, and folders of images, in name order)."""
    paths: list[Path] = []
    for src in sources:
        p = Path(src).expanduser()
        if p.is_dir():
            found = _image_files(p)
            if not found:
                raise ValueError(f"data.ihc: folder {p} holds no image files.")
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"data.ihc: {p} does not exist.")
    return paths


def _is_channel_folder(path: Path, channels: dict[str, object]) -> bool:
    """A folder of single-channel images named by marker (MIBI layout)?"""
    names = {str(v).lower() for v in channels.values() if isinstance(v, str)}
    return any(f.stem.lower() in names for f in _image_files(path))


def _if_sources(sources: list[str], channels: dict[str, object]) -> list[Path]:
    found: list[Path] = []
    for src in sources:
        p = Path(src).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"data.if: {p} does not exist.")
        if p.is_file() or _is_channel_folder(p, channels):
            found.append(p)
            continue
        inner = [d for d in sorted(p.iterdir()) if d.is_dir() and _is_channel_folder(d, channels)]
        inner += _image_files(p)
        if not inner:
            raise ValueError(
                f"data.if: folder {p} holds neither channel images named like "
                f"{sorted(str(v) for v in channels.values())} nor multi-channel image files."
            )
        found += inner
    return found


def training_images(
    cfg: DataConfig, seed: int
) -> tuple[list[Path | np.ndarray], list[np.ndarray], tuple[Channel, ...]]:
    """The unpaired training images of a run.

    Args:
        cfg: the data section of the config.
        seed: the run seed (synthetic fields depend on it).

    Returns:
        ``(ihc, if_, channels)``: IHC image paths and/or ``uint8`` ``(H, W, 3)`` arrays, IF
        ``float32`` ``(C, H, W)`` arrays, and the IF channels (names and roles).

    Raises:
        FileNotFoundError: for a missing source.
        ValueError: for unreadable sources, unknown channels, or IF images whose channels
            differ from each other or from the synthetic ones.
    """
    from ..data.multiplex import read_multiplex

    ihc: list[Path | np.ndarray] = list(ihc_paths(cfg.ihc))
    if_: list[np.ndarray] = []
    channels: tuple[Channel, ...] | None = None
    for src in _if_sources(cfg.if_, cfg.if_channels):
        im = read_multiplex(
            src, dict(cfg.if_channels), smooth_sigma=cfg.if_smooth, normalize=cfg.if_normalize
        )
        chans = tuple(Channel(n, r) for n, r in zip(im.names, im.roles, strict=True))  # type: ignore[arg-type]
        if channels is not None and [c.role for c in chans] != [c.role for c in channels]:
            raise ValueError(f"data.if: {src} has channel roles {im.roles}, expected {channels}.")
        channels = channels or chans
        if_.append(im.data)
    if cfg.synthetic:
        roles = [c.role for c in channels] if channels else ["nuclear", "marker"]
        if roles != ["nuclear", "marker"]:
            raise ValueError(
                f"data.synthetic: synthetic IF has a nuclear and a marker channel, the IF "
                f"images have roles {roles}; use data.if_channels = nuclear + marker only."
            )
        channels = channels or _SYNTH_CHANNELS
        for i in range(cfg.synthetic):
            ihc.append(_synthetic(cfg, seed, _IHC, i).ihc)
            if_.append(np.clip(_synthetic(cfg, seed, _IF, i).if_, 0.0, 1.0))
    assert channels is not None  # check() requires IF sources or synthetic fields
    return ihc, if_, channels


def centre_crop(a: torch.Tensor, size: int, multiple: int) -> torch.Tensor:
    """The centre of the last two dimensions: at most ``size``, a multiple of ``multiple``."""
    h, w = a.shape[-2:]
    th = min(h, size) // multiple * multiple
    tw = min(w, size) // multiple * multiple
    y, x = (h - th) // 2, (w - tw) // 2
    return a[..., y : y + th, x : x + tw]


def validation_fields(cfg: DataConfig, seed: int, multiple: int = 4) -> list[ValField]:
    """Paired validation fields, centre-cropped to ``cfg.val_size`` and a multiple of ``multiple``.

    Raises:
        FileNotFoundError, ValueError: for missing or unreadable sources.
    """
    from ..data.io import read_image

    fields: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for i in range(cfg.val_synthetic):
        f = _synthetic(cfg, seed, _VAL, i)
        fields.append((f"synthetic-{i}", f.ihc, f.if_[0], f.if_[1]))
    if cfg.val_deepliif:
        from ..data.deepliif import read_deepliif

        for src in cfg.val_deepliif:
            p = Path(src).expanduser()
            files = sorted(p.glob("*.png")) if p.is_dir() else [p]
            for file in files:
                d = read_deepliif(file)
                fields.append((file.stem, d.ihc, d.dapi, d.marker))
    if cfg.val_ihc is not None and cfg.val_if is not None:
        from ..data.folders import pair_folders
        from ..data.multiplex import read_multiplex

        for pair in pair_folders(cfg.val_ihc, cfg.val_if):
            im = read_multiplex(
                pair.labels,
                dict(cfg.if_channels),
                smooth_sigma=cfg.if_smooth,
                normalize=cfg.if_normalize,
            )
            fields.append((pair.image.stem, read_image(pair.image), im.nuclear, im.marker))
    out = []
    for name, rgb, nuclear, marker in fields:
        ihc = torch.from_numpy(np.ascontiguousarray(rgb[..., :3].transpose(2, 0, 1))).float() / 255
        out.append(
            ValField(
                name,
                centre_crop(ihc, cfg.val_size, multiple),
                centre_crop(
                    torch.from_numpy(np.asarray(nuclear, np.float32)), cfg.val_size, multiple
                ),
                None
                if marker is None
                else centre_crop(
                    torch.from_numpy(np.asarray(marker, np.float32)), cfg.val_size, multiple
                ),
            )
        )
    return out


def paired_images(cfg: DataConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``cfg.paired_synthetic`` synthetic ``(IHC uint8 (H, W, 3), IF float32 (2, H, W))`` pairs."""
    out = []
    for i in range(cfg.paired_synthetic):
        f = _synthetic(cfg, seed, _PAIRED, i)
        out.append((f.ihc, np.clip(f.if_, 0.0, 1.0)))
    return out


class PairedPatches(Dataset):
    """Random crops of paired ``(IHC, IF)`` fields: the same window and flip for both.

    Item ``index`` depends only on ``(seed, index)``, like `UnpairedPatches`.

    Shape:
        - item["pair_ihc"]: `(3, size, size)` float32 in `[0, 1]`
        - item["pair_if"]: `(C, size, size)` float32

    Examples:
        >>> ds = PairedPatches([(np.zeros((20, 20, 3), np.uint8), np.ones((2, 20, 20)))], 8, 5)
        >>> tuple(ds[4]["pair_ihc"].shape), tuple(ds[4]["pair_if"].shape)
        ((3, 8, 8), (2, 8, 8))
    """

    def __init__(
        self, pairs: list[tuple[np.ndarray, np.ndarray]], size: int, length: int, seed: int = 0,
        flips: bool = True,
    ) -> None:  # fmt: skip
        if not pairs:
            raise ValueError("PairedPatches: need at least one (IHC, IF) pair.")
        for i, (ihc, if_) in enumerate(pairs):
            if ihc.shape[:2] != if_.shape[1:] or min(ihc.shape[:2]) < size:
                raise ValueError(
                    f"pairs[{i}]: IHC {ihc.shape} and IF {if_.shape} must share H, W >= {size}."
                )
        self.pairs, self.size, self.length = pairs, int(size), int(length)
        self.seed, self.flips = int(seed), bool(flips)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, _PAIRED, int(index)))
        ihc, if_ = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w, s = ihc.shape[0], ihc.shape[1], self.size
        y, x = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
        a = ihc[y : y + s, x : x + s].transpose(2, 0, 1)
        b = if_[:, y : y + s, x : x + s]
        if self.flips:
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            a, b = np.rot90(a, k, axes=(1, 2)), np.rot90(b, k, axes=(1, 2))
            if flip:
                a, b = a[:, :, ::-1], b[:, :, ::-1]
        return {
            "pair_ihc": torch.from_numpy(np.ascontiguousarray(a)).float() / 255.0,
            "pair_if": torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)),
        }
