"""The CPU thread policy: counts by size, restored settings, measured counts for training."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from restainaug import RestainTransform
from restainaug.threads import (
    PIXELS_PER_THREAD,
    AdaptiveThreads,
    cpu_threads,
    threads_for,
)
from restainaug.train.config import TrainConfig, apply_overrides


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_threads_for_grows_with_pixels_within_limits() -> None:
    assert threads_for(256 * 256, limit=16) == 1
    assert threads_for(0, limit=16) == 1
    assert threads_for(3 * PIXELS_PER_THREAD, limit=16) == 3
    assert threads_for(100 * PIXELS_PER_THREAD, limit=16) == 16
    assert threads_for(100 * PIXELS_PER_THREAD, limit=1) == 1


def test_cpu_threads_restores_the_setting_even_on_errors(two_threads: None) -> None:
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with cpu_threads(None):
        assert torch.get_num_threads() == 2


def _seen_threads(t: RestainTransform, x: torch.Tensor) -> list[int]:
    seen: list[int] = []
    to_if = t.translator.to_if

    def spy(ihc: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return to_if(ihc)

    t.translator.to_if = spy  # type: ignore[method-assign]
    try:
        t(x)
    finally:
        del t.translator.to_if
    return seen


@pytest.mark.parametrize(("threads", "expected"), [("auto", 1), (2, 2), (None, 2), (1, 1)])
def test_transform_runs_a_tile_on_the_policys_threads(
    two_threads: None, threads: object, expected: int
) -> None:
    t = RestainTransform("optical", p=1.0, seed=0, threads=threads)  # type: ignore[arg-type]
    x = torch.rand(2, 3, 32, 32) * 0.5 + 0.2
    assert _seen_threads(t, x) == [expected]
    assert torch.get_num_threads() == 2
    assert f"threads={threads!r}" in repr(t)


def test_auto_uses_more_threads_for_large_batches(
    two_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("restainaug.threads.PIXELS_PER_THREAD", 32 * 32)
    t = RestainTransform("optical", p=1.0, seed=0)
    assert _seen_threads(t, torch.rand(4, 3, 32, 32) * 0.5 + 0.2) == [2]
    assert _seen_threads(t, torch.rand(1, 3, 16, 16) * 0.5 + 0.2) == [1]


def test_auto_output_does_not_depend_on_torchs_setting() -> None:
    x = torch.rand(2, 3, 96, 96) * 0.6 + 0.2
    before = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(RestainTransform(p=1.0, seed=3)(x))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize(
    ("threads", "error"), [(0, ValueError), (-2, ValueError), ("all", TypeError), (1.5, TypeError)]
)
def test_bad_thread_settings_are_refused(threads: object, error: type) -> None:
    with pytest.raises(error, match="threads"):
        RestainTransform("optical", threads=threads)  # type: ignore[arg-type]


def _steps(policy: AdaptiveThreads, seconds: dict[int, float], n: int) -> list[int]:
    """Run ``n`` steps that take ``seconds[count]``; the counts the policy chose."""
    counts = []
    for _ in range(n):
        counts.append(policy.count())
        policy.record(seconds[counts[-1]])
    return counts


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [({1: 1.0, 2: 0.6}, 2), ({1: 1.0, 2: 1.5}, 1), ({1: 1.0, 2: 0.9}, 1)],  # a near tie: 1
)
def test_adaptive_threads_keeps_the_faster_count(seconds: dict[int, float], expected: int) -> None:
    policy = AdaptiveThreads(max_threads=2, clock=lambda: 0.0)
    counts = _steps(policy, seconds, 8)
    # The first step on torch's setting (untimed), then 1, 2, 1, 2, then the choice.
    assert counts[:5] == [2, 1, 2, 1, 2]
    assert counts[5:] == [expected] * 3
    assert policy.choice == expected


def test_adaptive_threads_explores_again_when_due_and_follows_the_load() -> None:
    now = [0.0]
    policy = AdaptiveThreads(max_threads=2, every=50.0, trials=1, clock=lambda: now[0])
    loaded, quiet = {1: 1.0, 2: 3.0}, {1: 1.0, 2: 0.5}
    assert _steps(policy, loaded, 3) == [2, 1, 2]  # untimed first step, then one of each
    assert _steps(policy, quiet, 3) == [1, 1, 1]  # not due: the next comes 50 s later
    now[0] = 51.0
    assert _steps(policy, quiet, 3) == [2, 1, 2]  # explores, several threads win
    now[0] = 100.0
    assert _steps(policy, loaded, 2) == [2, 2]  # not due
    now[0] = 102.0
    assert _steps(policy, loaded, 3) == [1, 2, 1]  # explores, one thread wins


def test_adaptive_threads_with_one_thread_never_explores() -> None:
    policy = AdaptiveThreads(max_threads=1)
    assert _steps(policy, {1: 1.0}, 4) == [1, 1, 1, 1]


@pytest.mark.parametrize(("kwargs", "name"), [({"every": 0}, "every"), ({"trials": 0}, "trials")])
def test_adaptive_threads_refuses_bad_settings(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        AdaptiveThreads(max_threads=2, **kwargs)


@pytest.mark.parametrize("value", ["auto", 2, None])
def test_train_config_accepts_thread_settings(value: object) -> None:
    cfg = apply_overrides(TrainConfig(), [f"run.threads={'null' if value is None else value}"])
    assert cfg.run.threads == value


@pytest.mark.parametrize("value", ["0", "many", "true", "1.5"])
def test_train_config_refuses_bad_thread_settings(value: str) -> None:
    with pytest.raises(ValueError, match=r"run\.threads"):
        apply_overrides(TrainConfig(), [f"run.threads={value}"])
