"""The params format: keys, drawing, the JSON codec and the one seed function."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from restainaug import RestainTransform
from restainaug.generate import output_seed
from restainaug.ops import MarkerToNuclei, RemoveMarker
from restainaug.params import (
    APPLY,
    ROOT,
    call_params,
    check_params,
    decode_params,
    draw_call,
    encode_params,
    key,
    local_view,
    mix_seed,
    op_params,
    owner,
    sample_params,
    template,
)
from restainaug.policy import OneOf, Sequential, applied
from restainaug.presets import policy_preset


def _old_mix(*values: object) -> int:
    # What transform._mix and generate.output_seed computed before they became one function.
    digest = hashlib.blake2b(repr(values).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def test_one_seed_function_gives_the_old_seeds() -> None:
    for values in [(0,), (123,), (5, 99), (2**62, 7)]:
        assert mix_seed(*values) == _old_mix(*values)
    for seed, stem, variant in [(0, "synth_00000", 1), (7, "img01", 3), (9, "a", 0)]:
        assert output_seed(seed, stem, variant) == _old_mix(seed, stem, variant)
    # Pinned: manifests written before hold these seeds.
    assert output_seed(0, "synth_00000", 1) == 161362249286604489
    assert output_seed(7, "img01", 3) == 7168555640875239892
    assert mix_seed(0) == 2631537505891389924 and mix_seed(5, 99) == 631991286398252043
    assert RestainTransform(model="optical", seed=3)._seed == 363018757033614945


def test_keys_and_views() -> None:
    op = Sequential(RemoveMarker(), OneOf(MarkerToNuclei(), RemoveMarker()))
    params = draw_call(op, 2, torch.Generator().manual_seed(0), p=0.5)
    assert list(params)[:3] == [APPLY, key(ROOT, APPLY), "ops.0.apply"]
    assert {"ops.1.choice", "ops.1.0.fraction", "ops.1.1.keep"} <= set(params)
    assert set(op_params(params)) == set(params) - {APPLY}
    assert call_params({**params, "batch_prob": torch.ones(2)}).keys() == params.keys()
    local = local_view(params, "ops.1")
    assert local["choice"] is params["ops.1.choice"] and local["0.apply"] is params["ops.1.0.apply"]
    assert APPLY in local and not any(k.startswith("1.0.") or k == "ops.1.apply" for k in local)
    assert owner("ops.1.0.fraction") == "ops.1.0" and owner(APPLY) == ""
    # Without p the gate is on and nothing is drawn for it: the policy's draws come first.
    on = draw_call(op, 2, torch.Generator().manual_seed(0))
    ops_only = sample_params(op, 2, torch.Generator().manual_seed(0))
    assert on[APPLY].all() and all(torch.equal(on[k], v) for k, v in ops_only.items())


def test_check_params_names_what_is_wrong() -> None:
    params = template(RemoveMarker())
    assert check_params(params, set(params), 1).keys() == params.keys()
    with pytest.raises(TypeError, match=r"the dict from t\.params"):
        check_params([1], set(params), 1)
    with pytest.raises(ValueError, match=r"missing \['ops.keep'\]"):
        check_params({k: v for k, v in params.items() if k != "ops.keep"}, set(params), 1)
    with pytest.raises(ValueError, match="batch size 2"):
        check_params(params, set(params), 2)


def test_codec_round_trip_keeps_only_operations_that_ran() -> None:
    op = policy_preset("default")
    for seed in range(20):
        params = draw_call(op, 1, torch.Generator().manual_seed(seed))
        ran = {name for name, _, _ in applied(op, params)}
        data = json.loads(json.dumps(encode_params(params, ran)))
        assert all(k == APPLY or owner(k) in ran for k in data)
        back = decode_params(op, data)
        assert back.keys() == params.keys()
        for k, v in back.items():
            assert v.dtype == params[k].dtype and v.shape == params[k].shape
            if k in data:
                assert torch.equal(v, params[k])
            else:
                assert not bool(v.any())  # left-out operations come back switched off
    with pytest.raises(ValueError, match="unknown keys"):
        decode_params(op, {"ops.9.keep": 0.0})
