"""The package layout: every subpackage is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_installation() -> None:
    # pyproject.toml lists the packages explicitly; a subpackage missing there is left out of
    # the wheel (an editable install would still find it, so nothing else would notice).
    tomllib = pytest.importorskip("tomllib")
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "restainaug").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set()
