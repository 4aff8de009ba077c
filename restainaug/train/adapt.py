"""Adapting a shipped unmixing model to a user's own slides, without labels.

``restainaug train --init default --ihc MY_TILES/`` (``model.init`` + ``data.ihc`` with
``model.kind: unmix``) starts from a model's network and fine-tunes it on unlabelled IHC tiles:
a frozen copy of the starting network (the *teacher*) predicts the nuclear and marker channels
of each tile as it is, and the network learns to predict the same from the tile and from
stain-jittered copies of it (``optim.lambda_unlabelled``), its weights held near the
starting ones (``optim.lambda_init``). The renderer's gains (optical density per unit of
nuclear and marker channel) are measured on the user's tiles, so that added marker is as
strong as the slides' own.

This module reads and checks the tiles (`read_tiles`, `check_tiles`), loads the starting
network (`init_network`) and scores a network on unlabelled tiles (`unlabelled_scores`), so
that the command can report the scores before and after adaptation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..stains import OpticalTranslator
from .unmix_data import stain_jitter

__all__ = [
    "ADAPT_DEFAULTS",
    "FEW_TILES",
    "check_tiles",
    "init_network",
    "read_tiles",
    "unlabelled_scores",
]

#: The settings ``restainaug train --init MODEL`` uses unless a config or ``--set`` says
#: otherwise (chosen on DeepLIIF: adapted on its three ROIs, scored on its two annotated
#: fields, see the docs' "Adapt to your slides"): about 2 minutes on 2 CPU cores for any
#: number of tiles. No synthetic fields: their supervised term pulled the network away from
#: real slides; the weights stay near the starting model's (``optim.lambda_init``).
ADAPT_DEFAULTS: tuple[str, ...] = (
    "model.kind=unmix",
    "model.size=fast",
    "data.paired_synthetic=0",
    "data.patch_size=128",
    "data.val_synthetic=4",
    "optim.steps=1000",
    "optim.batch_size=8",
    "optim.lr=0.0001",
    "optim.beta1=0.9",
    "optim.schedule=onecycle",
    "optim.lambda_init=1000",
    "run.val_every=500",
    "run.sample_every=0",
    "run.checkpoint_every=250",
)
#: Below this many tiles, adaptation warns that the model may fit the tiles, not the stain.
FEW_TILES = 4
#: Median brightness (``[0, 1]``) below which a tile looks like fluorescence.
_DARK = 0.35
#: Green over red + blue optical density of tissue above which a tile looks like H&E (eosin).
_PINK = 0.75


def read_tiles(sources: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    """The IHC tiles of ``data.ihc``: ``uint8`` RGB arrays and their file names.

    Raises:
        FileNotFoundError: for a missing file or folder.
        ValueError: for a folder without images.
        TypeError: for images that are not 8-bit RGB.
    """
    from ..data import read_image
    from ..data.datasets import rgb_uint8
    from .data import ihc_paths

    paths = ihc_paths(list(sources))
    tiles = [rgb_uint8(read_image(p), f"IHC tile {p}") for p in paths]
    return [np.ascontiguousarray(t) for t in tiles], [str(p) for p in paths]


def check_tiles(tiles: Sequence[np.ndarray], names: Sequence[str], size: int) -> None:
    """Refuse tiles that cannot be adapted to, and warn about tiles that may mislead it.

    Errors: no tiles; a tile smaller than the patch size; a tile that looks like fluorescence
    (a dark background: median brightness below 0.35). Warnings: fewer than `FEW_TILES` tiles;
    a tile that looks like H&E rather than hematoxylin + DAB (eosin-pink tissue: green optical
    density above 0.75 of red + blue); tiles of mixed sizes are fine (crops are drawn from
    each).

    Raises:
        ValueError: as above, naming the tile.
    """
    from ..data.datasets import check_patch_size

    if not tiles:
        raise ValueError("data.ihc: no IHC tiles to adapt to; give a folder of RGB images.")
    for tile, name in zip(tiles, names, strict=True):
        check_patch_size(tile.shape, size, f"IHC tile {name}")
        grey = tile.mean(-1) / 255.0
        if float(np.median(grey)) < _DARK:
            raise ValueError(
                f"IHC tile {name} looks like fluorescence (median brightness "
                f"{float(np.median(grey)):.2f}, brightfield IHC has bright glass); adapt on "
                "brightfield hematoxylin + DAB tiles."
            )
        od = -np.log10(np.clip(tile.astype(np.float64) / 255.0, 1e-3, 1.0))
        tissue = od.sum(-1) > 0.3
        if int(tissue.sum()) > 100:
            m = od[tissue].mean(0)
            pink = float(m[1] / max(m[0] + m[2], 1e-6))
            if pink > _PINK:
                warnings.warn(
                    f"IHC tile {name} looks like H&E, not hematoxylin + DAB (green/red+blue "
                    f"optical density {pink:.2f} > {_PINK}); the model is made for IHC.",
                    stacklevel=2,
                )
    if len(tiles) < FEW_TILES:
        warnings.warn(
            f"Adapting to {len(tiles)} tile(s): with fewer than {FEW_TILES} the model may learn "
            "those tiles rather than the stain; give more tiles of the slides if you have them.",
            stacklevel=2,
        )


def init_network(init: str) -> tuple[dict[str, torch.Tensor], dict[str, Any], bool]:
    """The network weights, network config and ``od_input`` of an unmixing model.

    Args:
        init: a model name (``"default"``, ``restainaug models``) or a model card path.

    Raises:
        ValueError: when the model is not an unmixing model (``ihc_to_if`` type ``unmix``).
    """
    from ..models.registry import load_model

    translator = load_model(init)
    card = getattr(translator, "card", None)
    if card is None or card.ihc_to_if.get("type") != "unmix":
        kind = None if card is None else card.ihc_to_if.get("type")
        raise ValueError(
            f"model.init: {init!r} is not an unmixing model (its IHC -> IF network is "
            f"{kind!r}, expected 'unmix'); start from 'default' or a model trained with "
            "model.kind unmix."
        )
    net = translator.ihc_to_if
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return state, dict(card.ihc_to_if["net"]), bool(card.ihc_to_if.get("od_input", False))


@torch.no_grad()
def unlabelled_scores(
    net: torch.nn.Module, tiles: Sequence[np.ndarray], size: int = 256, seed: int = 0
) -> dict[str, float]:
    """Scores of an unmixing network on unlabelled tiles (before/after adaptation).

    * ``jitter_error``: mean absolute change of the predicted nuclear and marker channels when
      the stains of the tile are jittered (`stain_jitter`, three draws): lower is steadier;
    * ``dab_r``: Pearson correlation of the predicted marker with the DAB optical density of
      colour deconvolution over the tiles (the marker should follow the brown);
    * ``nuclear_fraction``: fraction of pixels above 0.5 in the nuclear channel.

    Each tile contributes its centre crop of side ``size`` (the whole tile when smaller).
    """
    from ..evaluation.metrics import pearson
    from .data import centre_crop

    optical = OpticalTranslator()
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    k = int(getattr(net, "multiple", 1))
    errors, marker, dab, nuclear = [], [], [], []
    was_training = net.training
    net.eval()
    try:
        for tile in tiles:
            img = torch.from_numpy(tile).permute(2, 0, 1)[None].float() / 255
            img = centre_crop(img, size, k)
            img = img.to(device)
            pred = net.predict(img * 2.0 - 1.0)
            for _ in range(3):
                jittered = stain_jitter(img.cpu(), gen, optical).to(device)
                errors.append(float((net.predict(jittered * 2.0 - 1.0) - pred).abs().mean()))
            marker.append(pred[0, 1].flatten().cpu().numpy())
            dab.append(optical.to_if(img.cpu())[0, 1].flatten().numpy())
            nuclear.append(float((pred[0, 0] > 0.5).float().mean()))
    finally:
        net.train(was_training)
    return {
        "jitter_error": float(np.mean(errors)),
        "dab_r": pearson(np.concatenate(marker), np.concatenate(dab)),
        "nuclear_fraction": float(np.mean(nuclear)),
    }
