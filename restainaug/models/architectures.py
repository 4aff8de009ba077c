"""The registry of generator architectures and the builder that reads a stored config.

A generator is described by a plain config dict (``{"type": "context", ...}``) that is stored
with the weights, so loading never asks the user to repeat architecture flags. The ``type``
names an entry of `ARCHITECTURES`; the other keys are constructor arguments.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .generators import ContextGenerator, ResnetGenerator
from .renderer import SlideRenderer
from .stain_renderer import StainRenderer
from .unmix import UnmixGenerator

__all__ = ["ARCHITECTURES", "build_generator"]

#: Architectures by the ``type`` key of a generator config.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "resnet": ResnetGenerator,
    "context": ContextGenerator,
    "unmix": UnmixGenerator,
    "render": StainRenderer,
    "slide-render": SlideRenderer,
}


def build_generator(config: dict[str, Any]) -> nn.Module:
    """Build a generator from its config dict (as stored with the weights).

    Args:
        config: ``{"type": <name in ARCHITECTURES>, **constructor arguments}``.

    Returns:
        The generator module with attributes ``multiple`` (inputs must be a multiple of it) and
        ``receptive_field`` (pixels; used to choose the tile overlap).

    Raises:
        ValueError: for an unknown type or arguments the architecture does not take.

    Examples:
        >>> g = build_generator({"type": "context", "in_channels": 3, "out_channels": 2})
        >>> g.multiple
        4
    """
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"Generator config: expected a dict with a 'type' key, got {config!r}.")
    kind = config["type"]
    if kind not in ARCHITECTURES:
        raise ValueError(f"Unknown generator type {kind!r}; known types: {sorted(ARCHITECTURES)}.")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    try:
        return ARCHITECTURES[kind](**kwargs)
    except TypeError as e:
        raise ValueError(f"Generator config {config!r} does not fit {kind!r}: {e}") from None
