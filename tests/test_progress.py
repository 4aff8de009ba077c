"""The progress display without tqdm: one rewritten line, ended however the loop ends."""

from __future__ import annotations

import sys
import types

import pytest

from restainaug import _progress
from restainaug._progress import progress


@pytest.fixture
def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the import fails: the fallback
    ticks = iter(range(0, 1000))
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))  # 1 s per reading
    monkeypatch.setattr(_progress, "time", clock)


def test_a_finished_loop_ends_its_line(no_tqdm: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress(range(3), 3, "work")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1 and "work: 3/3" in err


def test_a_loop_stopped_part_way_ends_its_line(
    no_tqdm: None, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = progress(range(10), 10, "work")
    assert [next(shown), next(shown)] == [0, 1]
    shown.close()  # what happens to the generator when Ctrl-C leaves the caller's loop
    err = capsys.readouterr().err
    assert "work: 1/10" in err and err.endswith("\n") and err.count("\n") == 1


def test_nothing_shown_nothing_written(no_tqdm: None, capsys: pytest.CaptureFixture[str]) -> None:
    shown = progress(range(10), 10, "work")
    next(shown)
    shown.close()  # stopped before the first display
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), 3, "work", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
