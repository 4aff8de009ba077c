"""Sampling, composition and the default policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restainaug import RestainTransform
from restainaug.ops import IFContext, MarkerToNuclei, Op, RemoveMarker
from restainaug.policy import (
    OneOf,
    Sequential,
    SomeOf,
    default_policy,
    describe,
    draw,
    roles_needed,
    run,
    sample_params,
)
from restainaug.spaces import (
    Bernoulli,
    Choice,
    Index,
    LogUniform,
    PerObject,
    Subset,
    Uniform,
    as_space,
)
from restainaug.translator import Channel, Translator


class AddConst(Op):
    """Adds a constant to channel 0 (to see which operations ran, and in which order)."""

    def __init__(self, value: float, p: float = 1.0) -> None:
        self.value = value
        self._set_p(p)

    def apply(self, x, params, ctx):
        y = x.clone()
        y[:, 0] = y[:, 0] * 10 + self.value
        return y


def _run(op: Op, n: int = 400, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 2, 1, 1)
    params = sample_params(op, n, g)
    return run(op, x, params, IFContext(x, 0, 1))[:, 0, 0, 0]


def test_draw_spaces() -> None:
    g = torch.Generator().manual_seed(0)
    u = draw(Uniform(0.2, 0.5), 1000, g)
    assert 0.2 <= u.min() and u.max() <= 0.5
    lu = draw(LogUniform(0.5, 2.0), 4000, g)
    assert 0.5 <= lu.min() and lu.max() <= 2.0 and abs(float(torch.log(lu).mean())) < 0.05
    c = draw(Choice((0.3, 0.6, 1.0), weights=(1, 0, 3)), 4000, g)
    assert bool((torch.isclose(c, torch.tensor(0.3)) | (c == 1.0)).all())
    assert abs(float((c == 1.0).float().mean()) - 0.75) < 0.03
    i = draw(Index(3), 3000, g)
    assert i.dtype == torch.long and set(i.tolist()) == {0, 1, 2}
    s = draw(Subset(5, 1, 3), 1000, g)
    assert s.shape == (1000, 5) and s.sum(1).min() >= 1 and s.sum(1).max() <= 3
    b = draw(Bernoulli(0.3), 4000, g)
    assert abs(float(b.float().mean()) - 0.3) < 0.03
    t = draw(PerObject(0.5, 1.5, size=16), 2, g)
    assert t.shape == (2, 16)


def test_as_space_and_space_validation() -> None:
    assert as_space(2, "x") == Uniform(2.0, 2.0)
    with pytest.raises(TypeError, match="scale"):
        as_space("a", "scale")
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        as_space((0.5, 1.5), "fraction", 0.0, 1.0)
    for bad in (
        lambda: Uniform(2, 1),
        lambda: LogUniform(0, 1),
        lambda: Choice(()),
        lambda: Index(0),
        lambda: Subset(3, 2, 4),
        lambda: Bernoulli(1.5),
        lambda: Choice((1, 2), weights=(1,)),
    ):
        with pytest.raises(ValueError):
            bad()


def test_sequential_applies_in_order() -> None:
    out = _run(Sequential(AddConst(1), AddConst(2)), n=4)
    assert out.tolist() == [12.0] * 4  # (0 * 10 + 1) * 10 + 2


def test_one_of_applies_exactly_one_with_weights() -> None:
    out = _run(OneOf(AddConst(1), AddConst(2), AddConst(3), weights=(1, 1, 2)), n=4000)
    assert set(out.tolist()) == {1.0, 2.0, 3.0}
    assert abs(float((out == 3).float().mean()) - 0.5) < 0.03


def test_some_of_applies_within_range_in_order() -> None:
    out = _run(SomeOf(AddConst(1), AddConst(2), AddConst(3), n=(2, 2)), n=500)
    assert set(out.tolist()) <= {12.0, 13.0, 23.0} and len(set(out.tolist())) == 3


def test_probabilities_gate_per_sample() -> None:
    out = _run(Sequential(AddConst(1, p=0.25)), n=4000)
    assert abs(float((out == 1).float().mean()) - 0.25) < 0.03
    out = _run(Sequential(AddConst(1), p=0.0), n=10)
    assert out.tolist() == [0.0] * 10


def test_containers_validate() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Sequential()
    with pytest.raises(TypeError, match="restainaug operations"):
        OneOf(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weights"):
        OneOf(AddConst(1), weights=(1, 2))


def test_default_policy_branches_and_variety(ihc: np.ndarray) -> None:
    op = default_policy()
    g = torch.Generator().manual_seed(0)
    params = sample_params(op, 4000, g)
    choice = params["ops.0.choice"]
    freq = torch.bincount(choice, minlength=5).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.10, 0.20, 0.20, 0.35, 0.15]), atol=0.03)
    t = RestainTransform(p=1.0, seed=0)
    variants = t(np.stack([ihc[:128, :128]] * 6))
    pairwise = [
        np.abs(variants[i].astype(int) - variants[j]).mean() for i in range(6) for j in range(i)
    ]
    assert min(pairwise) >= 0 and np.mean(pairwise) > 2  # diverse variants of one field
    assert sorted(roles_needed(op)) == ["marker", "nuclear"]
    assert roles_needed(default_policy(marker=False)) == {"nuclear"}


def test_presets_share_one_definition_of_each_pattern() -> None:
    import restainaug
    from restainaug import policy, presets

    assert restainaug.default_policy is policy.default_policy is presets.default_policy
    assert repr(presets.POLICIES["default"](True)) == repr(default_policy())
    default = default_policy()
    patterns, *counterstain = default.children
    nuclear, membrane = presets.policy_preset("nuclear"), presets.policy_preset("membrane")
    assert repr(patterns.children[3].children) == repr(nuclear.children[:2])
    assert repr(patterns.children[4].children) == repr(membrane.children[:2])
    for preset in (nuclear, membrane, presets.policy_preset("remove"), default_policy(False)):
        assert repr(preset.children[-2:]) == repr(tuple(counterstain))
    # The default policy as it was (a manifest records this description).
    assert repr(default).startswith(
        "Sequential(OneOf(Identity(p=1.0), ChannelAffine(channel='marker', "
        "scale=LogUniform(low=0.4, high=2.0), shift=Uniform(low=0.0, high=0.0), "
        "gamma=Uniform(low=1.0, high=1.0), p=1.0), RemoveMarker(keep=Uniform(low=0.0, "
        "high=0.0), p=1.0), Sequential(RemoveMarker(keep=Uniform(low=0.0, high=0.0), p=1.0), "
        "MarkerToNuclei(fraction=Uniform(low=0.05, high=0.8), intensity=Choice(values=(0.3, "
        "0.6, 1.0), weights=None), variation=0.3, p=1.0, texture=0.5, grain=0.0, edge=0), "
        "p=1.0), Sequential(RemoveMarker(keep=Uniform(low=0.0, high=0.0), p=1.0), "
        "MarkerToMembranes(fraction=Uniform(low=0.2, high=1.0), intensity=Choice(values=(0.3, "
        "0.6, 1.0), weights=None), variation=0.3, p=1.0, cell_radius=8, width=2), p=1.0), "
        "weights=(0.1, 0.2, 0.2, 0.35, 0.15), p=1.0), NuclearStrength(factor=LogUniform(low="
        "0.6, high=1.6), p=0.8), ChannelAffine(channel='nuclear', scale=LogUniform(low=0.8, "
        "high=1.25)"
    )


def test_describe_lists_applied_operations() -> None:
    op = Sequential(RemoveMarker(), MarkerToNuclei(fraction=(0.1, 0.2), intensity=0.6))
    g = torch.Generator().manual_seed(0)
    desc = describe(op, sample_params(op, 1, g))
    assert desc[0] == "RemoveMarker(keep=0)"
    assert desc[1].startswith("MarkerToNuclei(fraction=0.1")


class NoMarker(Translator):
    def __init__(self) -> None:
        super().__init__()
        self.channels = (Channel("DAPI", "nuclear"),)

    def to_if(self, ihc):
        return 1 - ihc[:, :1]

    def to_ihc(self, if_):
        return (1 - if_).expand(-1, 3, -1, -1)


def test_policy_roles_checked_against_translator() -> None:
    t = RestainTransform(model=NoMarker(), p=1.0, seed=0)  # default policy adapts
    assert roles_needed(t.ops) == {"nuclear"}
    with pytest.raises(ValueError, match="marker"):
        RestainTransform(model=NoMarker(), ops=RemoveMarker())
    with pytest.raises(TypeError, match="operation"):
        RestainTransform(ops=lambda x: x)  # type: ignore[arg-type]


def test_check_policy_names_what_the_translator_lacks() -> None:
    from restainaug.ops import ChannelAffine
    from restainaug.policy import check_policy

    check_policy(Sequential(AddConst(1.0)), NoMarker())
    with pytest.raises(ValueError, match=r"roles \['marker'\] that translator"):
        check_policy(Sequential(RemoveMarker()), NoMarker())
    with pytest.raises(ValueError, match="channel index 3 is out of range"):
        check_policy(Sequential(ChannelAffine(3, scale=2.0)), NoMarker())
    with pytest.raises(TypeError, match="restainaug operation or policy"):
        check_policy("default", NoMarker())  # type: ignore[arg-type]
