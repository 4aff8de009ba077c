"""Every transform and adapter passes the shared checker (see checker.py)."""

from __future__ import annotations

import numpy as np
import pytest
from checker import CHECKS
from harnesses import HARNESSES


@pytest.fixture(scope="module")
def batch(ihc: np.ndarray) -> np.ndarray:
    crops = [(200, 150), (0, 0), (300, 300)]
    return np.stack([ihc[y : y + 64, x : x + 64] for y, x in crops])


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
def test_contract(harness, check, ihc_tile: np.ndarray, batch: np.ndarray) -> None:
    check(harness, ihc_tile, batch)
