"""Learned translators: generator architectures, weights I/O and the registry of named models."""

from .io import ModelCard, load_card, load_translator, save_model
from .learned import GeneratorTranslator
from .networks import (
    ARCHITECTURES,
    UNMIX_CHANNELS,
    ContextGenerator,
    ResnetGenerator,
    StainRenderer,
    UnmixGenerator,
    build_generator,
)
from .registry import DEFAULT_MODEL, list_models, load_model, model_card
from .renderer import SlideRenderer
from .tiling import run_tiled

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODEL",
    "UNMIX_CHANNELS",
    "ContextGenerator",
    "GeneratorTranslator",
    "ModelCard",
    "ResnetGenerator",
    "SlideRenderer",
    "StainRenderer",
    "UnmixGenerator",
    "build_generator",
    "list_models",
    "load_card",
    "load_model",
    "load_translator",
    "model_card",
    "run_tiled",
    "save_model",
]
