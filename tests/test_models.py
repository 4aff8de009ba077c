"""Learned translators: file format, registry, checksums, padding and tiling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import tiny_card, tiny_translator

import restainaug
from restainaug import RestainTransform, list_models, load_model, model_card
from restainaug.models import (
    DEFAULT_MODEL,
    ContextGenerator,
    GeneratorTranslator,
    ResnetGenerator,
    build_generator,
    load_card,
    run_tiled,
    save_model,
)
from restainaug.translator import Channel


def test_save_and_load_round_trip(tiny_model_path: Path) -> None:
    original = tiny_translator()
    loaded = load_model(tiny_model_path)
    x = torch.rand(2, 3, 40, 52)
    with torch.no_grad():
        assert torch.equal(loaded.to_if(x), original.to_if(x))
        assert torch.equal(loaded.to_ihc(original.to_if(x)), original.to_ihc(original.to_if(x)))
    card = loaded.card
    assert card.name == "tiny-test" and [c.role for c in card.channels] == ["nuclear", "marker"]
    assert len(card.sha256) == 64 and card.licence == "CC0-1.0"
    on_disk = json.loads(tiny_model_path.read_text())
    assert on_disk["weights"] == "tiny-test.safetensors"
    assert on_disk["ihc_to_if"]["type"] == "context"


def test_load_by_every_kind_of_path(tiny_model_path: Path) -> None:
    for p in (
        tiny_model_path,
        tiny_model_path.with_suffix(".safetensors"),
        tiny_model_path.parent,
        str(tiny_model_path),
    ):
        assert load_model(p).name == "tiny-test"


def test_model_path_env_registers_names(tiny_model_path: Path, monkeypatch) -> None:
    assert "tiny-test" not in list_models()
    monkeypatch.setenv("RESTAINAUG_MODEL_PATH", str(tiny_model_path.parent))
    assert "tiny-test" in list_models()
    t = RestainTransform(model="tiny-test", p=1.0, seed=0)
    assert t.translator.name == "tiny-test"
    assert model_card("tiny-test").description == "random weights for tests"


def test_optical_is_built_in_and_the_default_is_listed() -> None:
    assert "optical" in list_models() and DEFAULT_MODEL in list_models()
    assert load_model("optical").name == "optical" and model_card("optical") is None
    assert load_model().name == DEFAULT_MODEL


def test_tampered_weights_are_refused(tiny_model_path: Path) -> None:
    weights = tiny_model_path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_model(tiny_model_path)
    with pytest.raises(ValueError, match="checksum mismatch"):
        RestainTransform(model=tiny_model_path)


def test_damaged_weights_give_a_clear_error(tiny_model_path: Path) -> None:
    weights = tiny_model_path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(ValueError, match="cannot read weights"):
        load_model(tiny_model_path, verify=False)
    weights.unlink()
    with pytest.raises(ValueError, match="missing"):
        load_model(tiny_model_path)


def test_bad_cards(tmp_path: Path, tiny_model_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="Cannot read model card"):
        load_model(bad)
    card = json.loads(tiny_model_path.read_text())
    del card["channels"]
    bad.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="missing fields"):
        load_card(bad)
    card = json.loads(tiny_model_path.read_text())
    card["format_version"] = 99
    bad.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="newer"):
        load_card(bad)
    card = json.loads(tiny_model_path.read_text())
    card["ihc_to_if"]["out_channels"] = 3
    (tiny_model_path.parent / "wrong.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="expected 3 -> 2"):
        load_model(tiny_model_path.parent / "wrong.json")


def test_unknown_model_names_say_what_exists() -> None:
    with pytest.raises(ValueError, match=r"No model named 'nope'.*optical"):
        load_model("nope")
    with pytest.raises(TypeError, match="name or path"):
        load_model(3)  # type: ignore[arg-type]


def test_generators_are_frozen_and_not_user_state(tiny_model_path: Path) -> None:
    t = RestainTransform(model=tiny_model_path)
    assert t.state_dict() == {} and list(t.parameters()) == []
    assert all(not p.requires_grad for p in t.translator.parameters())
    t.train()
    model = torch.nn.Sequential(t, torch.nn.Identity())
    model.train()
    assert not t.translator.training
    assert "translator" not in dict(t.named_children())


def test_padding_to_the_network_stride() -> None:
    tr = tiny_translator()
    for h, w in [(1, 1), (5, 7), (37, 53)]:
        assert tr.to_if(torch.rand(1, 3, h, w)).shape == (1, 2, h, w)
    resnet = GeneratorTranslator(
        ResnetGenerator(3, 2, ngf=4, n_blocks=1),
        ResnetGenerator(2, 3, ngf=4, n_blocks=1),
        [Channel("DAPI", "nuclear"), Channel("Ki67", "marker")],
    )
    assert resnet.to_ihc(resnet.to_if(torch.rand(2, 3, 30, 45))).shape == (2, 3, 30, 45)


@pytest.mark.parametrize("context_out", [None, 4])
def test_tiles_have_no_seams(context_out: int | None) -> None:
    torch.manual_seed(0)
    net = ContextGenerator(
        3, 2, width=4, context_width=8, context_blocks=2, context_out=context_out
    ).eval()
    x = torch.rand(1, 3, 300, 260)
    with torch.no_grad():
        whole = run_tiled(net, x, out_channels=2, multiple=4, tile=1024)
        tiled = run_tiled(
            net, x, out_channels=2, multiple=4, tile=128, overlap=2 * net.receptive_field
        )
    err = (whole - tiled).abs()
    assert err.max() < 1e-3  # the overlap covers the receptive field: tiles agree with the whole


def test_run_tiled_covers_every_pixel_once_for_pointwise_functions() -> None:
    x = torch.rand(2, 1, 333, 129)
    y = run_tiled(lambda t: t * 3, x, out_channels=1, multiple=8, tile=64, overlap=16)
    assert torch.allclose(y, x * 3, atol=1e-6)


def test_build_generator_errors() -> None:
    with pytest.raises(ValueError, match="Unknown generator type"):
        build_generator({"type": "unet"})
    with pytest.raises(ValueError, match="does not fit"):
        build_generator({"type": "context", "in_channels": 3, "out_channels": 2, "depth": 3})
    with pytest.raises(ValueError, match="'type'"):
        build_generator({"in_channels": 3})


def test_translator_channel_roles_are_checked() -> None:
    with pytest.raises(ValueError, match="nuclear"):
        GeneratorTranslator(
            ContextGenerator(3, 1), ContextGenerator(1, 3), [Channel("x", "marker")]
        )
    with pytest.raises(ValueError, match="role"):
        Channel("x", "membrane")  # type: ignore[arg-type]


def test_save_model_writes_atomically(tmp_path: Path) -> None:
    path = save_model(tiny_translator(), tmp_path / "m.json", tiny_card("m"))
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.safetensors"]
    assert load_card(path).name == "m"
    if os.name == "posix":  # readable by others, like any file: safetensors writes it 0o600
        umask = os.umask(0o022)
        os.umask(umask)
        for f in ("m.json", "m.safetensors"):
            assert (tmp_path / f).stat().st_mode & 0o777 == 0o666 & ~umask


def test_top_level_names() -> None:
    for name in restainaug.__all__:
        assert getattr(restainaug, name) is not None
    with pytest.raises(AttributeError):
        restainaug.nope  # noqa: B018


def test_context_out_reduces_the_upsampled_channels() -> None:
    net = ContextGenerator(3, 2, width=4, context_width=8, context_blocks=1, context_out=3)
    assert net.head[0].in_channels == 4 + 3
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 2, 16, 16)
    plain = ContextGenerator(3, 2, width=4, context_width=8, context_blocks=1)
    assert plain.head[0].in_channels == 4 + 8 and plain.receptive_field == net.receptive_field


def _unmix_pair(od_input: bool = False) -> tuple[torch.nn.Module, torch.nn.Module]:
    from restainaug.models import StainRenderer, UnmixGenerator

    torch.manual_seed(0)
    net = {"width": 4, "context_width": 8, "context_blocks": 1, "head_width": 8}
    unmix = UnmixGenerator(net=net, od_input=od_input).requires_grad_(False)
    return unmix, StainRenderer(gain_nuclear=0.5, gain_marker=0.8)


@pytest.mark.parametrize("od_input", [False, True])
def test_unmix_pair_round_trips_exactly_and_renders_edits(od_input: bool) -> None:
    from restainaug.models import UNMIX_CHANNELS
    from restainaug.stains import OpticalTranslator

    unmix, render = _unmix_pair(od_input)
    assert unmix.net.stem[0].in_channels == (6 if od_input else 3)
    stains = torch.rand(2, 3, 32, 32) * torch.tensor([0.8, 0.8, 0.05]).view(1, 3, 1, 1)
    x = OpticalTranslator(residual="absolute").to_ihc(stains + 0.02)  # no clipped pixels
    v = unmix(x * 2 - 1)
    assert v.shape == (2, len(UNMIX_CHANNELS), 32, 32)
    assert float((render(v) * 0.5 + 0.5 - x).abs().max()) < 1e-4
    c = (v + 1) * 0.5
    assert torch.equal(c[:, 0:2], c[:, 2:4])  # the references copy the predictions
    optical = OpticalTranslator().to_if(x)
    assert torch.allclose(c[:, 4:6], optical[:, :2], atol=1e-5)

    od = OpticalTranslator()
    more = c.clone()
    more[:, 0] += 0.4  # more nuclear stain: hematoxylin OD rises by gain * 0.4
    h = od.to_if(render(more * 2 - 1) * 0.5 + 0.5)[:, 0]
    assert torch.allclose(h, optical[:, 0] + 0.5 * 0.4, atol=2e-3)
    none = c.clone()
    none[:, 1] = 0.0  # no marker: DAB shrinks by (0 + eps) / (m + eps) everywhere
    d = od.to_if(render(none * 2 - 1) * 0.5 + 0.5)[:, 1]
    expected = optical[:, 1] * 0.05 / (c[:, 3] + 0.05)
    assert torch.allclose(d, expected, atol=2e-3)


def test_unmix_pair_saves_loads_and_tiles(tmp_path: Path) -> None:
    from restainaug.models import UNMIX_CHANNELS
    from restainaug.models.io import ModelCard

    unmix, render = _unmix_pair()
    channels = [Channel(n, r) for n, r in UNMIX_CHANNELS]
    t = GeneratorTranslator(unmix, render, channels, name="unmix-test", tile_size=64)
    net = {"width": 4, "context_width": 8, "context_blocks": 1, "head_width": 8}
    card = ModelCard(
        name="unmix-test",
        channels=channels,
        ihc_to_if={"type": "unmix", "in_channels": 3, "out_channels": 7, "net": net},
        if_to_ihc={"type": "render", "in_channels": 7, "out_channels": 3, "gain_nuclear": 0.5,
                   "gain_marker": 0.8},
        licence="test",
        tile_size=64,
    )  # fmt: skip
    loaded = load_model(save_model(t, tmp_path / "unmix-test", card))
    x = torch.rand(1, 3, 150, 130) * 0.8 + 0.15  # larger than a tile: runs in tiles
    with torch.no_grad():
        a, b = t.to_if(x), loaded.to_if(x)
        assert torch.allclose(a, b, atol=1e-5)
        assert float((loaded.to_ihc(b) - x).abs().max()) < 1e-3
    out = RestainTransform(model=loaded, p=1.0, seed=0)((x[0] * 255).to(torch.uint8))
    assert out.shape == (3, 150, 130) and out.dtype == torch.uint8


def test_unmix_pair_config_errors() -> None:
    from restainaug.models import StainRenderer, UnmixGenerator

    with pytest.raises(ValueError, match="maps 3 -> 7"):
        UnmixGenerator(3, 2)
    with pytest.raises(ValueError, match="maps 7 -> 3"):
        StainRenderer(2, 3)
    with pytest.raises(ValueError, match="gain_marker: expected a positive"):
        StainRenderer(gain_marker=0.0)
    with pytest.raises(ValueError, match="eps"):
        StainRenderer(eps=-1.0)


def test_stain_renderer_keeps_the_glass_tint_when_marker_is_removed() -> None:
    from restainaug.models import StainRenderer
    from restainaug.models.stain_renderer import dab_floor
    from restainaug.stains import OpticalTranslator

    unmix, _ = _unmix_pair()
    optical = OpticalTranslator(residual="absolute")
    # Yellowish glass (a little DAB everywhere) and a brown nucleus in the middle.
    stains = torch.zeros(1, 3, 48, 48)
    stains[:, 1] = 0.03
    stains[:, :2, 16:32, 16:32] = torch.tensor([0.3, 0.6]).view(1, 2, 1, 1)
    x = optical.to_ihc(stains)
    v = unmix(x * 2 - 1)
    removed = v.clone()
    removed[:, 1] = -1.0  # no marker anywhere
    glass = torch.zeros(48, 48, dtype=torch.bool)
    glass[:8], glass[-8:] = True, True
    kept = StainRenderer()(removed) * 0.5 + 0.5
    old = StainRenderer(keep_glass=False)(removed) * 0.5 + 0.5
    assert float((kept - x)[..., glass].abs().max()) < 1e-4  # glass untouched
    assert float((old - x)[..., glass].abs().max()) > 1e-3  # without it, the glass changes
    nucleus = (slice(None), slice(None), slice(20, 28), slice(20, 28))
    assert float(optical.to_if(kept[nucleus])[:, 1].mean()) < 0.6 * 0.5  # DAB mostly gone
    od = optical.to_od(stains)
    assert float(dab_floor(od, stains[:, 1:2])) == pytest.approx(0.03, abs=1e-4)
    with pytest.raises(TypeError, match="keep_glass"):
        StainRenderer(keep_glass=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="glass_od"):
        StainRenderer(glass_od=0.0)


def test_stain_renderer_adds_pure_dab_without_the_pixels_residual() -> None:
    from restainaug.models import StainRenderer
    from restainaug.stains import OpticalTranslator

    unmix, _ = _unmix_pair()
    optical = OpticalTranslator(residual="absolute")
    stains = torch.zeros(1, 3, 32, 32)
    stains[:, 0] = 0.4  # hematoxylin tissue with a residual (the colour deconvolution misses)
    stains[:, 2] = 0.06
    x = optical.to_ihc(stains)
    v = unmix(x * 2 - 1)
    added = v.clone()
    added[:, 1] = added[:, 3] + 1.0  # marker added everywhere (the network range)
    for added_residual, residual_kept in ((False, True), (True, False)):
        out = StainRenderer(added_residual=added_residual)(added) * 0.5 + 0.5
        c = optical.to_if(out)
        assert float(c[:, 1].mean()) > 0.3  # DAB was added
        kept = torch.allclose(c[:, 2], stains[:, 2], atol=2e-3)
        assert kept is residual_kept, f"added_residual={added_residual}"
    # Nothing edited: the same image back either way.
    for added_residual in (False, True):
        out = StainRenderer(added_residual=added_residual)(v) * 0.5 + 0.5
        assert float((out - x).abs().max()) < 1e-4
    with pytest.raises(TypeError, match="added_residual"):
        StainRenderer(added_residual="no")  # type: ignore[arg-type]
