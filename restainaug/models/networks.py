"""Generator architectures for learned IHC <-> IF translators (one import for all of them).

The architectures live in their own modules; this one gathers their public names:

* `restainaug.models.generators`: `ResnetGenerator` (CycleGAN) and `ContextGenerator`;
* `restainaug.models.unmix`: `UnmixGenerator` and `UNMIX_CHANNELS`, a network that finds
  the nuclei and the marker and passes on the image's own colour deconvolution;
* `restainaug.models.stain_renderer`: `StainRenderer`, the Beer-Lambert renderer that
  translates `UnmixGenerator`'s channels back (and `restainaug.models.renderer` its
  `SlideRenderer`);
* `restainaug.models.architectures`: `ARCHITECTURES` and `build_generator`, which builds a
  generator from the config dict stored with its weights.
"""

from __future__ import annotations

from .architectures import ARCHITECTURES, build_generator
from .generators import ContextGenerator, ResnetGenerator
from .stain_renderer import StainRenderer
from .unmix import UNMIX_CHANNELS, UnmixGenerator

__all__ = [
    "ARCHITECTURES",
    "UNMIX_CHANNELS",
    "ContextGenerator",
    "ResnetGenerator",
    "StainRenderer",
    "UnmixGenerator",
    "build_generator",
]
