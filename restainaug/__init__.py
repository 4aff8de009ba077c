"""restainaug: ReStainGAN-style stain augmentation for IHC nucleus and cell segmentation.

IHC -> IF channels (nuclear, marker) -> simple channel operations -> IHC: new, realistic
stain patterns with the same morphology, so segmentation labels stay valid.

Public names:

* `RestainTransform` - the transform for training loops (torch, numpy);
* `RestainTransformd` - its MONAI dictionary twin (needs ``monai``);
* `list_models`, `load_model` - the offline registry of translators;
* `restainaug.ops`, `restainaug.policy`, `restainaug.presets`, `restainaug.spaces` -
  operations, composition, the named policies and parameter spaces for custom policies;
* `restainaug.params` - the params of a draw: their keys, drawing, seeds and JSON form;
* `restainaug.adapters` - torchvision, kornia and StarDist adapters.
"""

from __future__ import annotations

from typing import Any

from .models.registry import DEFAULT_MODEL, list_models, load_model, model_card
from .ops import MARKER_LEVELS
from .policy import OneOf, Sequential, SomeOf
from .presets import default_policy
from .stains import OpticalTranslator
from .transform import RestainTransform
from .translator import Channel, Translator

__version__ = "0.1.0.dev0"

__all__ = [
    "DEFAULT_MODEL",
    "MARKER_LEVELS",
    "Channel",
    "OneOf",
    "OpticalTranslator",
    "RestainTransform",
    "RestainTransformd",
    "Sequential",
    "SomeOf",
    "Translator",
    "__version__",
    "default_policy",
    "list_models",
    "load_model",
    "model_card",
]


def __getattr__(name: str) -> Any:
    # MONAI is an optional extra: import the dictionary transform only when asked for.
    if name == "RestainTransformd":
        from .adapters.monai import RestainTransformd

        return RestainTransformd
    raise AttributeError(f"module 'restainaug' has no attribute {name!r}")
