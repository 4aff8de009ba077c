"""Behaviour of the IF-channel operations on the real scikit-image IHC image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage.color import rgb2hed
from skimage.filters import threshold_otsu
from skimage.measure import label
from skimage.morphology import remove_small_objects

from restainaug import RestainTransform
from restainaug.ops import (
    ChannelAffine,
    IFContext,
    MarkerToCytoplasm,
    MarkerToMembranes,
    MarkerToNuclei,
    NuclearStrength,
    RemoveMarker,
)
from restainaug.policy import Sequential, sample_params


@pytest.fixture(scope="module")
def reference_nuclei(ihc: np.ndarray) -> np.ndarray:
    """Nuclei found independently of restainaug: Otsu on scikit-image's hematoxylin channel."""
    h = ndi.uniform_filter(rgb2hed(ihc)[..., 0], 3)
    mask = remove_small_objects(h > threshold_otsu(h), max_size=29)
    return label(mask)


def _hed(img: np.ndarray) -> np.ndarray:
    return rgb2hed(img)


def _apply(ihc: np.ndarray, op, labels=None, seed: int = 0) -> np.ndarray:
    return RestainTransform(ops=op, p=1.0, seed=seed)(ihc, labels=labels)


def _regions(nuclei: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = nuclei > 0
    outside = ~ndi.binary_dilation(inside, iterations=4)
    return inside, outside


@pytest.mark.parametrize("use_labels", [True, False])
def test_marker_onto_nuclei_raises_dab_inside_nuclei_only(
    ihc, reference_nuclei, use_labels
) -> None:
    # Remove the membrane marker first, as in the paper's membrane -> nuclear experiment.
    op = Sequential(RemoveMarker(), MarkerToNuclei(fraction=1.0, intensity=0.8, variation=0.0))
    base = _apply(ihc, RemoveMarker())
    out = _apply(ihc, op, labels=reference_nuclei if use_labels else None)
    d_before, d_after = _hed(base)[..., 2], _hed(out)[..., 2]
    inside, outside = _regions(reference_nuclei)
    gain_in = (d_after - d_before)[inside].mean()
    gain_out = np.abs(d_after - d_before)[outside].mean()
    assert gain_in > 0.05  # DAB optical density (scikit-image units) rises in nuclei ...
    assert gain_out < 0.05 * gain_in  # ... and essentially nowhere else


def test_nuclear_strength_changes_hematoxylin_inside_nuclei_only(ihc, reference_nuclei) -> None:
    out = _apply(ihc, NuclearStrength(factor=1.8), labels=reference_nuclei)
    dh = _hed(out)[..., 0] - _hed(ihc)[..., 0]
    inside, outside = _regions(reference_nuclei)
    assert dh[inside].mean() > 0.01
    assert np.abs(dh[outside]).mean() < 0.02 * dh[inside].mean()


def test_scaling_the_nuclear_channel_acts_mostly_in_nuclei(ihc, reference_nuclei) -> None:
    out = _apply(ihc, ChannelAffine("nuclear", scale=1.8))
    dh = _hed(out)[..., 0] - _hed(ihc)[..., 0]
    inside, outside = _regions(reference_nuclei)
    assert dh[inside].mean() > 3 * np.abs(dh[outside]).mean()


def test_remove_marker_removes_dab(ihc) -> None:
    out = _apply(ihc, RemoveMarker())
    d_in, d_out = _hed(ihc)[..., 2], _hed(out)[..., 2]
    brown = d_in > np.percentile(d_in, 90)
    assert d_out[brown].mean() < 0.2 * d_in[brown].mean()


def test_marker_onto_membranes_stays_out_of_nuclei(ihc, reference_nuclei) -> None:
    op = Sequential(RemoveMarker(), MarkerToMembranes(fraction=1.0, intensity=1.0, variation=0.0))
    base, out = _apply(ihc, RemoveMarker()), _apply(ihc, op, labels=reference_nuclei)
    gain = _hed(out)[..., 2] - _hed(base)[..., 2]
    # Learned models keep a stained membrane's own DAB where it was already strong: a few
    # pixels gain far more than the rest, so the reference level is a high percentile.
    stained = gain > 0.5 * np.percentile(gain, 99.5)
    assert stained.mean() > 0.02
    assert (stained & (reference_nuclei > 0)).sum() < 0.02 * stained.sum()


def _ctx_and_disks(n: int = 200, size: int = 256, seed: int = 0):
    rng = np.random.default_rng(seed)
    lab = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    k = 0
    for cy in range(8, size - 8, 17):
        for cx in range(8, size - 8, 17):
            k += 1
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25 + rng.integers(0, 10)] = k
            if k == n:
                break
        if k == n:
            break
    labels = torch.from_numpy(lab)[None, None].float()
    x = torch.zeros(1, 2, size, size)
    return IFContext(x, nuclear=0, marker=1, labels=labels), x, lab


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_fraction_of_positive_nuclei(fraction: float) -> None:
    ctx, x, lab = _ctx_and_disks()
    op = MarkerToNuclei(fraction=fraction, intensity=0.6, texture=0.0, grain=0.0, edge=0)
    g = torch.Generator().manual_seed(1)
    params = {k.split(".", 1)[1]: v for k, v in sample_params(op, 1, g, "op").items()}
    out = op.apply(x, params, ctx)[0, 1].numpy()
    ids = np.unique(lab)[1:]
    positive = np.array([out[lab == i].mean() > 0.1 for i in ids])
    # Each nucleus is all-or-nothing ...
    for i in ids[:20]:
        vals = out[lab == i]
        assert (vals > 0.1).all() or (vals < 0.1).all()
    # ... and the positive fraction follows the parameter (binomial, 200 nuclei).
    assert abs(positive.mean() - fraction) < 0.12


def test_binary_mask_labels_are_split_into_nuclei() -> None:
    _, x, lab = _ctx_and_disks()
    binary = IFContext(x, nuclear=0, marker=1, labels=torch.from_numpy(lab > 0)[None, None].float())
    assert len(binary.nuclei().unique()) - 1 == len(np.unique(lab)) - 1


def test_binary_masks_are_recognised_per_sample() -> None:
    _, x, lab = _ctx_and_disks()
    ids = torch.from_numpy(lab)[None, None].float()
    mask = (ids > 0).float()
    batch = IFContext(x.expand(2, -1, -1, -1), 0, 1, torch.cat([mask, ids])).nuclei()
    assert torch.equal(batch[0:1], IFContext(x, 0, 1, mask).nuclei())  # split alone and in a batch
    assert torch.equal(batch[1:2], ids)  # labelled ids are kept next to a binary mask


def test_cytoplasm_marker_is_outside_nuclei() -> None:
    ctx, x, lab = _ctx_and_disks()
    op = MarkerToCytoplasm(fraction=1.0, intensity=0.5, variation=0.0, cell_radius=4)
    params = {
        "fraction": torch.ones(1),
        "intensity": torch.full((1,), 0.5),
        "select": torch.zeros(1, 1024),
        "strength": torch.ones(1, 1024),
    }
    out = op.apply(x, params, ctx)[0, 1].numpy()
    assert out[lab > 0].max() == 0
    assert out[(lab == 0)].max() > 0.3


def test_channel_affine_identity_is_exact() -> None:
    x = torch.randn(2, 3, 8, 8)
    ctx = IFContext(x, 0, 1)
    op = ChannelAffine("marker", scale=1.0, shift=0.0, gamma=1.0)
    p = {"scale": torch.ones(2), "shift": torch.zeros(2), "gamma": torch.ones(2)}
    y = op.apply(x, p, ctx)
    assert torch.equal(y, x) and y is not x


def test_ops_do_not_modify_their_input() -> None:
    ctx, x, _ = _ctx_and_disks()
    x = x + 0.3
    before = x.clone()
    g = torch.Generator().manual_seed(0)
    for op in (
        RemoveMarker(),
        MarkerToNuclei(),
        MarkerToMembranes(),
        MarkerToCytoplasm(),
        NuclearStrength(),
        ChannelAffine("nuclear", scale=(0.5, 2)),
    ):
        params = {k.split(".", 1)[1]: v for k, v in sample_params(op, 1, g, "op").items()}
        op.apply(x, params, ctx)
        assert torch.equal(x, before), type(op).__name__


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: MarkerToNuclei(fraction=1.5), "fraction"),
        (lambda: MarkerToNuclei(variation=1.0), "variation"),
        (lambda: MarkerToNuclei(texture=2.0), "texture"),
        (lambda: MarkerToMembranes(width=0), "width"),
        (lambda: ChannelAffine("nuclear", scale=-1.0), "scale"),
        (lambda: ChannelAffine("membrane"), "channel"),
        (lambda: ChannelAffine("nuclear", gamma="big"), "gamma"),
        (lambda: RemoveMarker(keep=2.0), "keep"),
        (lambda: NuclearStrength(p=1.5), "p must be"),
    ],
)
def test_bad_op_arguments(factory, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        factory()


def test_cell_sizes_are_checked_with_the_old_messages() -> None:
    with pytest.raises(ValueError, match=r"^cell_radius and width must be >= 1, got 8, 0\.$"):
        MarkerToMembranes(width=0)
    with pytest.raises(ValueError, match=r"^cell_radius must be >= 1, got 0\.$"):
        MarkerToCytoplasm(cell_radius=0)
    assert repr(MarkerToMembranes(cell_radius=5, width=3)).endswith(
        "variation=0.3, p=1.0, cell_radius=5, width=3)"
    )


def test_every_public_name_of_the_old_ops_module_imports_from_restainaug_ops() -> None:
    import pickle

    import restainaug.ops as ops
    from restainaug.context import IFContext as Context
    from restainaug.ops import base, channel, marker

    old = [
        "MARKER_LEVELS",
        "ChannelAffine",
        "IFContext",
        "Identity",
        "MarkerToCytoplasm",
        "MarkerToMembranes",
        "MarkerToNuclei",
        "NuclearStrength",
        "Op",
        "Params",
        "RemoveMarker",
    ]
    assert all(hasattr(ops, name) for name in old)
    assert ops.IFContext is Context and ops.Op is base.Op
    assert (
        ops.ChannelAffine is channel.ChannelAffine and ops.MarkerToNuclei is marker.MarkerToNuclei
    )
    op = Sequential(RemoveMarker(), MarkerToNuclei(), MarkerToMembranes())
    assert repr(pickle.loads(pickle.dumps(op))) == repr(op)
