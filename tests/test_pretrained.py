"""The models shipped in pretrained/: found offline, complete cards, verified, used by default."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from restainaug import DEFAULT_MODEL, RestainTransform, list_models, load_model, model_card
from restainaug.models import GeneratorTranslator
from restainaug.models.registry import _package_dir

PRETRAINED = _package_dir()
SHIPPED = sorted(p.stem for p in PRETRAINED.glob("*.json")) if PRETRAINED else []


@pytest.mark.skipif(DEFAULT_MODEL == "optical", reason="no learned default ships yet")
def test_default_is_a_shipped_learned_model() -> None:
    assert DEFAULT_MODEL in SHIPPED, f"default {DEFAULT_MODEL!r} is not shipped: {SHIPPED}"
    assert isinstance(load_model("default"), GeneratorTranslator)
    t = RestainTransform()
    assert t.translator.name == DEFAULT_MODEL


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_card_is_complete(name: str) -> None:
    assert name in list_models()
    card = model_card(name)
    assert card is not None and card.name == name
    weights = PRETRAINED / card.weights
    assert weights.stat().st_size < 8 * 2**20, "keep shipped model files small"
    assert card.licence and card.licence != "unspecified"
    assert [c.role for c in card.channels][:2] == ["nuclear", "marker"]
    prov = card.provenance
    assert {"recipe", "data", "config", "step", "trained_with"} <= set(prov)
    assert all(licence for licence in prov["data"].values())
    ev = card.metrics.get("evaluation", {})
    assert {"nuclear_auc", "otsu_dice", "marker_auc", "cycle_ssim"} <= set(ev), ev


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_round_trip_on_real_image(name: str, ihc: np.ndarray) -> None:
    t = load_model(name)
    x = torch.from_numpy(ihc[:256, :256]).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        if_ = t.to_if(x)
        back = t.to_ihc(if_)
    assert if_.shape == (1, t.num_channels, 256, 256) and torch.isfinite(if_).all()
    assert float((back - x).abs().mean()) < 0.08  # the cycle holds on the embedded image


@pytest.mark.parametrize("name", SHIPPED)
def test_tampered_shipped_weights_are_refused(name: str, tmp_path: Path) -> None:
    card = model_card(name)
    assert card is not None
    for f in (f"{name}.json", card.weights):
        shutil.copy(PRETRAINED / f, tmp_path / f)
    weights = tmp_path / card.weights
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_model(tmp_path / f"{name}.json")
