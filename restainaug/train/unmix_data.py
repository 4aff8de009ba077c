"""Training data of the unmixing model (``model.kind: unmix``): targets, patches, stain jitter.

The unmixing network (`restainaug.models.unmix.UnmixGenerator`, the shipped default) learns
with supervision: every IHC training patch comes with its nuclear and marker targets.

* **DeepLIIF fields** (``data.paired_deepliif``): the Ki67 IHC panel against its annotated
  nuclei and Ki67-positive nuclei (`deepliif_targets`), and the hematoxylin-only panel of the
  same field against the same nuclei with no marker. Panels are moved into the IHC panel's
  frame first (``data.register``), as the sample fields are stored several pixels apart.
* **Synthetic fields** (``data.paired_synthetic``): `restainaug.synth` tissue with its exact
  nuclear and marker channels.

Item ``i`` of `UnmixPatches` depends only on ``(seed, i)``; even items are real, odd items
synthetic (when both exist), as in the recipe the shipped model was first trained with.
`stain_jitter` then changes the stains of each batch at random (hematoxylin, DAB and residual
optical density scaled independently, tinted glass, a slight blur), so that the network
learns what a nucleus is rather than the colour of one slide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..nuclei import dilate
from ..stains import OpticalTranslator
from .sections import TARGETS, DataConfig

__all__ = ["TARGETS", "UnmixPatches", "deepliif_targets", "gap_weights", "stain_jitter",
           "unmix_pairs"]  # fmt: skip

#: Seed stream of the unmixing patches and of the synthetic training fields.
_STREAM, _SYNTH = 5, 6

Pair = tuple[np.ndarray, np.ndarray]


def _soft(mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.clip(gaussian_filter(mask.astype(np.float32), sigma), 0.0, 1.0)


def _touching(labels: np.ndarray) -> np.ndarray:
    """Pixels of a nucleus within two pixels (chessboard) of another nucleus."""
    from scipy.ndimage import maximum_filter, minimum_filter

    big = np.where(labels > 0, labels, np.iinfo(labels.dtype).max)
    return (labels > 0) & ((maximum_filter(labels, 5) > labels) | (minimum_filter(big, 5) < labels))


def deepliif_targets(path: str | Path, target: str = "gaps", register: bool = True) -> list[Pair]:
    """The two training pairs of a DeepLIIF file: IHC and hematoxylin-only panel with targets.

    ``target`` says what the nuclear and marker channels should be:

    * ``"gaps"`` (default): the annotated nuclei (all, and the Ki67-positive ones), softened by
      a one-pixel Gaussian and textured by the normalised DAPI / Ki67, ``mask * (0.6 + 0.4
      IF)``, without the pixels within two pixels of another nucleus, so that touching nuclei
      stay apart in the predicted channel;
    * ``"masks"``: the same with those pixels; ``"flat"``: ``"masks"`` without the texture
      (0.8 inside); ``"nuclei"``: ``"gaps"`` read without the annotation's 2-pixel boundary
      ring; ``"if"``: the co-registered DAPI and Ki67, normalised to their 1st-99.5th
      percentiles.

    Args:
        path: a six-panel DeepLIIF PNG (`restainaug.data.read_deepliif`).
        target: one of `TARGETS`.
        register: move every panel into the IHC panel's frame first.

    Returns:
        ``[(IHC, target), (hematoxylin-only IHC, target without marker)]``: ``uint8`` ``(H, W,
        3)`` and ``float32`` ``(2, H, W)``.

    Raises:
        ValueError: for an unknown ``target`` or a file that is not a DeepLIIF image.
    """
    from ..data import read_deepliif
    from ..data.ifimage import percentile_normalize

    if target not in TARGETS:
        raise ValueError(f"data.target: expected one of {TARGETS}, got {target!r}.")
    f = read_deepliif(path, register=register)
    dapi, ki67 = (percentile_normalize(c, 1.0, 99.5) for c in (f.dapi, f.marker))
    if target == "if":
        nuc, mark = dapi, ki67
    else:
        labels = f.labels
        if target == "nuclei":
            ring_free = read_deepliif(path, include_boundary=False)
            labels = (ring_free.registered(offsets=f.offsets) if f.offsets else ring_free).labels
        inside = labels > 0
        if target in ("gaps", "nuclei"):
            inside &= ~_touching(labels)
        nuc = _soft(inside)
        mark = _soft(f.positive[labels] & inside)
        scale = (0.8, 0.8) if target == "flat" else (0.6 + 0.4 * dapi, 0.6 + 0.4 * ki67)
        nuc, mark = nuc * scale[0], mark * scale[1]
    tgt = np.stack([nuc, mark]).astype(np.float32)
    no_marker = np.stack([tgt[0], np.zeros_like(tgt[1])])
    return [(f.ihc, tgt), (f.hematoxylin, no_marker)]


def _localisation(kind: str | list[str], i: int) -> str:
    if isinstance(kind, list):
        return kind[i % len(kind)]
    return ("membrane", "nuclear", "cytoplasmic")[i % 3] if kind == "mixed" else kind


def unmix_pairs(cfg: DataConfig, seed: int) -> tuple[list[Pair], list[Pair]]:
    """``(real, synthetic)`` training pairs of a config: ``(IHC uint8, target float32 (2, H, W))``.

    Real pairs come from ``cfg.paired_deepliif`` (two per file, `deepliif_targets`),
    synthetic ones from ``cfg.paired_synthetic`` fields of side ``cfg.synthetic_size``, their
    marker localisation cycling through ``cfg.synthetic_marker``.
    """
    from ..synth import SynthConfig, synthesize
    from ..synth.dataset import field_seed

    real: list[Pair] = []
    for path in cfg.paired_deepliif:
        real += deepliif_targets(path, cfg.target, cfg.register)
    synth: list[Pair] = []
    for i in range(cfg.paired_synthetic):
        config = SynthConfig(
            marker=_localisation(cfg.synthetic_marker, i),  # type: ignore[arg-type]
            size=(cfg.synthetic_size, cfg.synthetic_size),
        )
        f = synthesize(config, seed=field_seed(seed * 8 + _SYNTH, i))
        synth.append((f.ihc, np.clip(f.if_, 0.0, 1.0).astype(np.float32)))
    return real, synth


class UnmixPatches(Dataset):
    """Random crops of real and synthetic ``(IHC, target)`` pairs, with rotations and flips.

    Even items come from ``real`` and odd ones from ``synthetic`` when both are given; with
    ``unlabelled`` tiles (adaptation to a user's slides), every item also holds a crop of one
    of them (and only that when there are no pairs). Item ``index`` depends only on ``(seed,
    index)``, so a resumed run sees the same data.

    Shape:
        - item["ihc"]: `(3, size, size)` float32 in `[0, 1]`, with pairs only
        - item["target"]: `(2, size, size)` float32, with pairs only
        - item["tile"]: `(3, size, size)` float32 in `[0, 1]`, with ``unlabelled`` only

    Examples:
        >>> pair = (np.zeros((20, 20, 3), np.uint8), np.ones((2, 20, 20), np.float32))
        >>> ds = UnmixPatches([pair], [], 8, length=5)
        >>> tuple(ds[4]["ihc"].shape), tuple(ds[4]["target"].shape), len(ds)
        ((3, 8, 8), (2, 8, 8), 5)
    """

    def __init__(
        self, real: list[Pair], synthetic: list[Pair], size: int, length: int, seed: int = 0,
        flips: bool = True, unlabelled: list[np.ndarray] | None = None,
    ) -> None:  # fmt: skip
        if not real and not synthetic and not unlabelled:
            raise ValueError(
                "UnmixPatches: no training pairs: set data.paired_deepliif (DeepLIIF files) "
                "or data.paired_synthetic (number of synthetic fields)."
            )
        for i, (ihc, tgt) in enumerate([*real, *synthetic]):
            if ihc.shape[:2] != tgt.shape[1:] or min(ihc.shape[:2]) < size:
                raise ValueError(
                    f"pair {i}: IHC {ihc.shape} and target {tgt.shape} must share H, W >= {size}."
                )
        for i, tile in enumerate(unlabelled or []):
            if tile.ndim != 3 or tile.shape[2] != 3 or min(tile.shape[:2]) < size:
                raise ValueError(
                    f"unlabelled tile {i}: expected RGB (H, W, 3) with H, W >= {size}, got "
                    f"{tile.shape}."
                )
        self.real, self.synthetic, self.unlabelled = real, synthetic, list(unlabelled or [])
        self.size, self.length, self.seed, self.flips = int(size), int(length), int(seed), flips

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, _STREAM, int(index)))
        item: dict[str, torch.Tensor] = {}
        if self.real or self.synthetic:
            use_real = (index % 2 == 0 and self.real) or not self.synthetic
            pool = self.real if use_real else self.synthetic
            ihc, tgt = pool[int(rng.integers(len(pool)))]
            a, b = self._crop(rng, ihc.transpose(2, 0, 1), tgt)
            item["ihc"] = torch.from_numpy(np.ascontiguousarray(a)).float() / 255.0
            item["target"] = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
        if self.unlabelled:
            tile = self.unlabelled[int(rng.integers(len(self.unlabelled)))]
            c, _ = self._crop(rng, tile.transpose(2, 0, 1), None)
            item["tile"] = torch.from_numpy(np.ascontiguousarray(c)).float() / 255.0
        return item

    def _crop(
        self, rng: np.random.Generator, a: np.ndarray, b: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The same random window, rotation and flip of ``a`` and ``b`` (``(C, H, W)``)."""
        h, w, s = a.shape[1], a.shape[2], self.size
        y, x = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
        a = a[:, y : y + s, x : x + s]
        b = None if b is None else b[:, y : y + s, x : x + s]
        if self.flips:
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            a = np.rot90(a, k, axes=(1, 2))
            b = None if b is None else np.rot90(b, k, axes=(1, 2))
            if flip:
                a, b = a[:, :, ::-1], (None if b is None else b[:, :, ::-1])
        return a, b


def stain_jitter(x: torch.Tensor, gen: torch.Generator, optical: OpticalTranslator) -> torch.Tensor:
    """Random stain jitter of an IHC batch in ``[0, 1]`` (the targets stay as they are).

    Per image: hematoxylin and DAB optical density times ``U(0.6, 1.5)``, plus ``U(-0.05,
    0.05)``; the residual times ``U(0.7, 1.3)``; the glass tinted by a factor ``U(0.85, 1)``
    per RGB channel; and with probability 0.3 the batch is blurred by a 3x3 binomial kernel.
    ``gen`` (a CPU generator) draws everything, so a step's jitter is reproducible.
    """
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        r = torch.rand(b, 1, 1, 1, generator=gen)
        return (lo + (hi - lo) * r).to(x.device)

    c = optical.to_if(x)
    scale = torch.cat([u(0.6, 1.5), u(0.6, 1.5), u(0.7, 1.3)], dim=1)
    zero = torch.zeros(b, 1, 1, 1, device=x.device)
    shift = torch.cat([u(-0.05, 0.05), u(-0.05, 0.05), zero], dim=1)
    y = optical.to_ihc(c * scale + shift)
    y = y * torch.cat([u(0.85, 1.0) for _ in range(3)], dim=1)  # grey or tinted glass
    if torch.rand(1, generator=gen).item() < 0.3:
        k = torch.tensor([0.25, 0.5, 0.25], device=x.device, dtype=x.dtype)
        k2 = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)
        y = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), k2, groups=3)
    return y.clamp(0.0, 1.0)


def gap_weights(target: torch.Tensor, weight: float) -> torch.Tensor:
    """Loss weights: ``1 + weight`` on the two-pixel band around each target nucleus.

    The band holds the thin gaps between touching nuclei; weighting it teaches the network to
    keep them dark, so that nuclei stay separate components of the nuclear channel.

    Examples:
        >>> t = torch.zeros(1, 2, 9, 9); t[0, 0, 4, 4] = 1.0
        >>> w = gap_weights(t, 4.0)
        >>> float(w[0, 0, 4, 4]), float(w[0, 0, 4, 6]), float(w[0, 1, 4, 6])
        (1.0, 5.0, 1.0)
    """
    w = torch.ones_like(target)
    if weight > 0:
        nuclei = (target[:, 0:1] > 0.3).to(target.dtype)
        w[:, 0:1] += weight * (dilate(nuclei, 2) - nuclei)
    return w
