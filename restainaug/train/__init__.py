"""Fit IHC <-> IF generators (CycleGAN) on a user's own unpaired images.

Not imported by ``import restainaug``; use ``import restainaug.train``. Reading image files
needs the ``data`` extra (``pip install "restainaug[train]"``).

* `TrainConfig` (with `DataConfig`, `ModelConfig`, `OptimConfig`, `RunConfig`),
  `load_config`, `apply_overrides` - the typed configuration;
* `fit` - train or resume a run, in one process or under ``torchrun``;
* `export_run` - write a run's generators as a model `RestainTransform` loads;
* `Trainer` - the networks, optimisers and one training step, for custom loops;
* `load_checkpoint` - read a checkpoint (verified); `resume_config` - the config that
  continues a run from its folder or a checkpoint file.
"""

from __future__ import annotations

from .checkpoint import load_checkpoint, resume_config
from .config import TrainConfig, apply_overrides, load_config
from .export import export_run
from .fit import FitResult, fit
from .sections import SIZES, DataConfig, ModelConfig, OptimConfig, RunConfig
from .trainer import Trainer

__all__ = [
    "SIZES",
    "DataConfig",
    "FitResult",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "apply_overrides",
    "export_run",
    "fit",
    "load_checkpoint",
    "load_config",
    "resume_config",
]
