"""``model.kind: unmix``: the shipped default's training (config, data, fit, resume, export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import UNMIX_TINY

from restainaug import RestainTransform, load_model
from restainaug.stains import OpticalTranslator
from restainaug.train import TrainConfig, apply_overrides, export_run, fit, load_config
from restainaug.train.checkpoint import load_checkpoint
from restainaug.train.unmix_data import (
    UnmixPatches,
    deepliif_targets,
    gap_weights,
    stain_jitter,
    unmix_pairs,
)

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "pretrained" / "recipes" / "restain-unmix.yaml"
TINY = UNMIX_TINY


def tiny_config(out: Path, *extra: str) -> TrainConfig:
    return apply_overrides(TrainConfig(), [f"run.out={out}", *TINY, *extra])


# -- config -----------------------------------------------------------------------------------
def test_recipe_config_reads_and_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    cfg = load_config(RECIPE)
    assert cfg.model.kind == "unmix" and cfg.optim.schedule == "onecycle"
    assert cfg.data.synthetic_marker == ["membrane", "nuclear", "cytoplasmic", "none"]
    assert cfg.model.generator_config(3, 2)["stem_layers"] == 2
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.kind=gan", "model.kind"),
        ("optim.schedule=cosine", "optim.schedule"),
        ("optim.gap_weight=-1", "optim.gap_weight"),
        ("data.target=cells", "data.target"),
        ('data.synthetic_marker=["nuclear", "mixed"]', "data.synthetic_marker"),
        ("data.synthetic_marker=[]", "data.synthetic_marker"),
        ("data.paired_deepliif=a.png", "data.paired_deepliif"),
    ],
)
def test_unmix_config_errors_name_the_field(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, override)


def test_unmix_needs_paired_data(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "data.paired_synthetic=0")
    with pytest.raises(ValueError, match="paired_deepliif"):
        fit(cfg)
    assert not (tmp_path / "checkpoints").exists()


# -- data -------------------------------------------------------------------------------------
def _pair(value: int, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    ihc = np.full((size, size, 3), value, np.uint8)
    return ihc, np.full((2, size, size), value / 255, np.float32)


def test_unmix_patches_alternate_real_and_synthetic_and_replay() -> None:
    ds = UnmixPatches([_pair(10)], [_pair(200)], 16, length=6, seed=3)
    means = [float(ds[i]["ihc"].mean()) * 255 for i in range(6)]
    assert np.allclose(means, [10, 200] * 3, atol=1e-3)
    again = UnmixPatches([_pair(10)], [_pair(200)], 16, length=6, seed=3)
    assert torch.equal(ds[5]["target"], again[5]["target"])
    only_synthetic = UnmixPatches([], [_pair(200)], 16, length=2)
    assert float(only_synthetic[0]["ihc"].mean()) == pytest.approx(200 / 255)


def test_unmix_patches_keep_ihc_and_target_aligned() -> None:
    ihc = np.zeros((32, 32, 3), np.uint8)
    ihc[4:9, 20:27] = 255
    tgt = np.zeros((2, 32, 32), np.float32)
    tgt[:, 4:9, 20:27] = 1.0
    ds = UnmixPatches([(ihc, tgt)], [], 24, length=20)
    for i in range(20):
        item = ds[i]
        assert torch.equal(item["ihc"][0] > 0.5, item["target"][0] > 0.5)


def test_unmix_patches_bad_pairs() -> None:
    with pytest.raises(ValueError, match="paired_deepliif"):
        UnmixPatches([], [], 16, 4)
    with pytest.raises(ValueError, match="must share"):
        UnmixPatches([(np.zeros((40, 40, 3), np.uint8), np.zeros((2, 30, 40)))], [], 16, 4)


def test_stain_jitter_is_drawn_from_its_generator() -> None:
    x = torch.rand(3, 3, 16, 16) * 0.6 + 0.3
    optical = OpticalTranslator()
    a = stain_jitter(x, torch.Generator().manual_seed(1), optical)
    b = stain_jitter(x, torch.Generator().manual_seed(1), optical)
    c = stain_jitter(x, torch.Generator().manual_seed(2), optical)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, x, atol=1e-3)


def test_gap_weights_only_on_the_nuclear_band() -> None:
    t = torch.zeros(1, 2, 12, 12)
    t[0, 0, 3:6, 3:6] = 1.0
    w = gap_weights(t, 2.0)
    assert float(w[0, 0, 4, 4]) == 1.0  # inside
    assert float(w[0, 0, 4, 7]) == 3.0  # two pixels out
    assert float(w[0, 0, 4, 9]) == 1.0  # farther
    assert torch.all(w[0, 1] == 1.0)
    assert torch.equal(gap_weights(t, 0.0), torch.ones_like(t))


def test_synthetic_pairs_cycle_the_localisations(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path, "data.paired_synthetic=2", 'data.synthetic_marker=["none", "nuclear"]'
    )
    real, synthetic = unmix_pairs(cfg.data, seed=0)
    assert real == [] and len(synthetic) == 2
    assert float(synthetic[0][1][1].max()) < 0.3  # "none": background only
    assert float(synthetic[1][1][1].max()) > 0.5


def test_deepliif_targets(shared_data: Path) -> None:
    path = shared_data / "deepliif" / "train" / "Lung1.png"
    (ihc, tgt), (hema, no_marker) = deepliif_targets(path, "gaps")
    assert ihc.shape[:2] == tgt.shape[1:] == hema.shape[:2] and tgt.dtype == np.float32
    assert torch.equal(torch.from_numpy(no_marker[0]), torch.from_numpy(tgt[0]))
    assert float(no_marker[1].max()) == 0.0 and float(tgt[1].max()) > 0.5
    masks = deepliif_targets(path, "masks")[0][1]
    # "gaps" leaves out the pixels between touching nuclei that "masks" keeps.
    assert (tgt[0] > 0.3).sum() < (masks[0] > 0.3).sum()
    with pytest.raises(ValueError, match=r"data\.target"):
        deepliif_targets(path, "cells")


# -- fit, resume, export ----------------------------------------------------------------------
def test_unmix_fit_resumes_exactly_and_exports_a_loadable_model(tmp_path: Path) -> None:
    straight = fit(tiny_config(tmp_path / "a", "optim.steps=4"))
    assert straight.step == 4
    # A run killed after its step-2 checkpoint, resumed from it in another folder.
    killed = tiny_config(tmp_path / "k", "optim.steps=4", "run.checkpoint_every=2")
    fit(apply_overrides(killed, ["run.keep_checkpoints=1"]))
    step2 = tmp_path / "k" / "checkpoints" / "step-000002.pt"
    resumed = fit(apply_overrides(killed, [f"run.out={tmp_path / 'b'}"]), resume=step2)
    assert resumed.step == 4
    with pytest.raises(ValueError, match="onecycle"):
        fit(apply_overrides(killed, [f"run.out={tmp_path / 'c'}", "optim.steps=6"]), resume=step2)
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for k, v in a["generators"].items():
        assert torch.equal(v, b["generators"][k]), k
    log = (tmp_path / "a" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,L_unmix") and len(log) == 5

    card = export_run(tmp_path / "a", "tiny-unmix")
    model = load_model(card)
    assert model.card.ihc_to_if["type"] == "unmix" and model.card.if_to_ihc["type"] == "render"
    assert [c.role for c in model.channels][:2] == ["nuclear", "marker"]
    for k, v in model.ihc_to_if.state_dict().items():
        assert torch.equal(v, a["generators"][k]), k
    tile = np.random.default_rng(0).integers(40, 230, (48, 48, 3), dtype=np.uint8)
    # An unedited image comes back exactly (optics on the way back).
    assert np.array_equal(RestainTransform(model=str(card), p=0.0)(tile), tile)
    out = RestainTransform(model=str(card), p=1.0, seed=0)(tile)
    assert out.shape == tile.shape and out.dtype == np.uint8


def test_unmix_onecycle_and_linear_schedules_differ(tmp_path: Path) -> None:
    one = fit(tiny_config(tmp_path / "one", "optim.steps=3"))
    lin = fit(
        tiny_config(
            tmp_path / "lin", "optim.steps=3", "optim.schedule=linear", "run.sample_every=3"
        )
    )
    # Sample grids without validation fields come from the training batch.
    assert [p.name for p in (lin.out / "samples").iterdir()] == ["step-000003.png"]
    lr = {}
    for name, res in (("one", one), ("lin", lin)):
        rows = (res.out / "log.csv").read_text().splitlines()
        head = rows[0].split(",")
        lr[name] = [float(r.split(",")[head.index("lr")]) for r in rows[1:]]
    assert lr["lin"][0] == pytest.approx(0.003)  # constant before the decay half
    assert lr["one"][0] < 0.003 and lr["one"] != lr["lin"]


def test_unmix_validates_on_deepliif(tmp_path: Path, shared_data: Path) -> None:
    lung = shared_data / "deepliif" / "train" / "Lung1.png"
    cfg = tiny_config(tmp_path, "optim.steps=1", f'data.val_deepliif=["{lung}"]')
    result = fit(cfg)
    assert set(result.metrics) == {"nuclear_auc", "otsu_dice", "marker_auc"}
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    rows = (tmp_path / "val.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]


# -- adaptation to unlabelled tiles -----------------------------------------------------------
def _ihc_tile(seed: int = 0, size: int = 64) -> np.ndarray:
    from skimage.data import immunohistochemistry

    img = immunohistochemistry()
    y, x = 64 * (seed % 4), 64 * (seed // 4)
    return np.ascontiguousarray(img[y : y + size, x : x + size])


def test_check_tiles_refuses_and_warns() -> None:
    import warnings

    from restainaug.train.adapt import check_tiles

    ihc = [_ihc_tile(i) for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_tiles(ihc, [f"t{i}" for i in range(4)], 32)  # four IHC tiles: nothing to say
    with pytest.raises(ValueError, match="no IHC tiles"):
        check_tiles([], [], 32)
    with pytest.raises(ValueError, match=r"t1.*smaller than the patch size"):
        check_tiles([ihc[0], ihc[1][:20]], ["t0", "t1"], 32)
    dark = np.full((64, 64, 3), 10, np.uint8)
    dark[20:30, 20:30] = (20, 200, 40)  # a bright nucleus on black: fluorescence
    with pytest.raises(ValueError, match=r"dark\.png looks like fluorescence"):
        check_tiles([*ihc, dark], [*"abcd", "dark.png"], 32)
    # Eosin-pink tissue with purple nuclei: H&E, not hematoxylin + DAB.
    od = np.zeros((64, 64, 3))
    od[:] = (0.08, 0.6, 0.15)
    od[10:30, 10:30] = (0.5, 0.7, 0.3)
    he = np.round(255 * 10**-od).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"he\.png looks like H&E"):
        check_tiles([*ihc, he], [*"abcd", "he.png"], 32)
    with pytest.warns(UserWarning, match="Adapting to 1 tile"):
        check_tiles(ihc[:1], ["t0"], 32)


def test_init_network_needs_an_unmixing_model() -> None:
    from restainaug.train.adapt import init_network

    state, net, od_input = init_network("default")
    assert net["stem_layers"] == 2 and od_input is True and state
    with pytest.raises(ValueError, match="not an unmixing model"):
        init_network("optical")


def test_adaptation_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"set model\.init"):
        tiny_config(tmp_path, 'data.ihc=["tiles"]')
    with pytest.raises(ValueError, match=r"model\.init"):
        apply_overrides(TrainConfig(), ["model.init=default"])  # a CycleGAN run


def test_adapt_default_to_a_folder_reports_before_and_after(tmp_path: Path) -> None:
    from PIL import Image

    from restainaug.train.adapt import ADAPT_DEFAULTS

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(2):
        Image.fromarray(_ihc_tile(i)).save(tiles / f"t{i}.png")
    cfg = apply_overrides(TrainConfig(), [*ADAPT_DEFAULTS, f"run.out={tmp_path / 'run'}",
        "model.init=default", f'data.ihc=["{tiles}"]', "optim.steps=2", "data.patch_size=32",
        "data.paired_synthetic=2", "data.synthetic_size=64", "data.val_synthetic=1",
        "run.progress=false", "run.threads=1"])  # fmt: skip
    with pytest.warns(UserWarning, match="Adapting to 2 tile"):
        result = fit(cfg)
    report = json.loads((tmp_path / "run" / "adaptation.json").read_text())
    assert report == json.loads(json.dumps(result.adaptation))
    for when in ("before", "after"):
        assert set(report[when]["tiles"]) == {"jitter_error", "dab_r", "nuclear_fraction"}
        assert set(report[when]["validation"]) >= {"nuclear_auc", "otsu_dice"}
    # The run started from the default model: before = the default's own scores.
    assert report["before"] != report["after"]
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "L_unlabelled" in log[0].split(",")
    card = load_model(export_run(tmp_path / "run", "adapted")).card
    assert card.provenance["adapted_from"] == "default"
    assert card.provenance["adapted_on"] == [str(tiles)]
    assert card.provenance["adaptation_scores"] == report
    assert card.description.startswith("default adapted without labels")


def test_adaptation_resumes_exactly_and_holds_the_weights_near_the_start(tmp_path: Path) -> None:
    from PIL import Image

    from restainaug.train.adapt import ADAPT_DEFAULTS, init_network

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(4):
        Image.fromarray(_ihc_tile(i)).save(tiles / f"t{i}.png")

    def config(out: Path, *extra: str) -> TrainConfig:
        return apply_overrides(TrainConfig(), [*ADAPT_DEFAULTS, f"run.out={out}",
            "model.init=default", f'data.ihc=["{tiles}"]', "optim.steps=4", "optim.lr=0.01",
            "data.patch_size=32", "data.val_synthetic=0", "run.progress=false",
            "run.threads=1", "run.checkpoint_every=2", "run.log_every=1", *extra])  # fmt: skip

    # Only tiles, no pairs: the items hold crops of the tiles alone.
    ds = UnmixPatches([], [], 32, 3, unlabelled=[_ihc_tile(0)])
    assert set(ds[0]) == {"tile"}
    straight = fit(config(tmp_path / "a"))
    fit(config(tmp_path / "k", "run.keep_checkpoints=1"))
    step2 = tmp_path / "k" / "checkpoints" / "step-000002.pt"
    fit(config(tmp_path / "b"), resume=step2)
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for k, v in a["generators"].items():
        assert torch.equal(v, b["generators"][k]), k
    head = (straight.out / "log.csv").read_text().splitlines()[0].split(",")
    assert "L_init" in head and "L_unlabelled" in head and "L_unmix" not in head
    # The weight anchor: the same run without it moves further from the start.
    free = fit(config(tmp_path / "free", "optim.lambda_init=0"))
    start, _, _ = init_network("default")

    def distance(run: Path) -> float:
        weights = load_checkpoint(run)["generators"]
        return sum(float(((weights[k] - v) ** 2).sum()) for k, v in start.items())

    assert distance(straight.out) < distance(free.out)
