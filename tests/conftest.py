"""Shared fixtures: the embedded IHC image, tiny learned translators, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from restainaug.models import ContextGenerator, GeneratorTranslator, ModelCard, save_model
from restainaug.translator import Channel

SHARED_DATA = Path(
    os.environ.get(
        "RESTAINAUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def ihc() -> np.ndarray:
    """skimage's 512x512 IHC image (DAB + hematoxylin), uint8 HWC."""
    from skimage import data

    return data.immunohistochemistry()


@pytest.fixture(scope="session")
def ihc_tile(ihc: np.ndarray) -> np.ndarray:
    """A 64x64 crop with nuclei, stroma and DAB-stained epithelium."""
    return np.ascontiguousarray(ihc[200:264, 150:214])


def tiny_translator(seed: int = 0, channels: int = 2) -> GeneratorTranslator:
    """Random tiny generator pair: a stand-in for trained weights in tests (never shipped)."""
    torch.manual_seed(seed)
    chans = [Channel("DAPI", "nuclear"), Channel("HER2", "marker"), Channel("extra", "other")][
        :channels
    ]
    kw = {"width": 4, "context_width": 4, "context_blocks": 1, "head_width": 8}
    return GeneratorTranslator(
        ContextGenerator(3, channels, **kw), ContextGenerator(channels, 3, **kw), chans, name="tiny"
    )


def tiny_card(name: str = "tiny-test", channels: int = 2) -> ModelCard:
    kw = {"type": "context", "width": 4, "context_width": 4, "context_blocks": 1, "head_width": 8}
    return ModelCard(
        name=name,
        channels=[],
        ihc_to_if={**kw, "in_channels": 3, "out_channels": channels},
        if_to_ihc={**kw, "in_channels": channels, "out_channels": 3},
        description="random weights for tests",
        licence="CC0-1.0",
        provenance={"note": "random initialisation, test only"},
    )


@pytest.fixture
def tiny_model_path(tmp_path: Path) -> Path:
    """A tiny random model saved to a temporary folder; returns its card path."""
    return save_model(tiny_translator(), tmp_path / "tiny-test", tiny_card())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not present")
    return SHARED_DATA


#: Overrides of a tiny `model.kind: unmix` run (seconds on a CPU), for the training tests.
UNMIX_TINY = [
    "model.kind=unmix",
    "model.size=fast",
    'model.generator={"width": 4, "context_width": 4, "context_blocks": 1, "head_width": 4}',
    "data.paired_synthetic=2",
    "data.synthetic_size=64",
    "data.patch_size=32",
    "optim.batch_size=2",
    "optim.schedule=onecycle",
    "optim.lr=0.003",
    "optim.gap_weight=4",
    "run.progress=false",
    "run.sample_every=0",
    "run.log_every=1",
    "run.threads=1",
]
