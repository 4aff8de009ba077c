"""Learned translators: generator architectures, weights I/O and the registry of named models."""

from .architectures import ARCHITECTURES, build_generator
from .generators import ContextGenerator, ResnetGenerator
from .io import ModelCard, load_card, load_translator, save_model
from .learned import GeneratorTranslator
from .registry import DEFAULT_MODEL, list_models, load_model, model_card
from .renderer import SlideRenderer
from .stain_renderer import StainRenderer
from .tiling import run_tiled
from .unmix import UNMIX_CHANNELS, UnmixGenerator

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
