"""Learned translators: a frozen pair of generators (IHC -> IF and IF -> IHC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..translator import Channel, Translator
from .tiling import run_tiled

__all__ = ["GeneratorTranslator"]


class GeneratorTranslator(Translator):
    """A translator made of two generator networks, frozen and in inference mode.

    The generators work on ``[-1, 1]`` (``tanh`` outputs, as in CycleGAN); this class maps
    IHC ``[0, 1]`` and IF ``[0, 1]`` (the nominal scale) to and from that range, pads inputs
    to the networks' stride and runs large images in overlapping tiles.

    Args:
        ihc_to_if: network ``(B, 3, H, W) -> (B, C, H, W)``.
        if_to_ihc: network ``(B, C, H, W) -> (B, 3, H, W)``.
        channels: the ``C`` IF channels with their roles.
        name: the registry name or path the model was loaded from.
        tile_size: images larger than this run in tiles of this size.
        tile_overlap: pixels shared by neighbouring tiles; by default twice the larger
            receptive field of the two networks.

    Raises:
        ValueError: if the channels do not have exactly one nuclear role.

    Examples:
        >>> from restainaug.models.generators import ContextGenerator
        >>> t = GeneratorTranslator(
        ...     ContextGenerator(3, 2, width=4, context_width=4, context_blocks=1),
        ...     ContextGenerator(2, 3, width=4, context_width=4, context_blocks=1),
        ...     channels=[Channel("DAPI", "nuclear"), Channel("HER2", "marker")],
        ... )
        >>> t.to_if(torch.rand(1, 3, 30, 30)).shape
        torch.Size([1, 2, 30, 30])
    """

    def __init__(
        self,
        ihc_to_if: nn.Module,
        if_to_ihc: nn.Module,
        channels: Sequence[Channel],
        name: str = "learned",
        tile_size: int = 512,
        tile_overlap: int | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.channels = tuple(channels)
        self._check_channels()
        self.ihc_to_if = ihc_to_if
        self.if_to_ihc = if_to_ihc
        self.multiple = max(getattr(ihc_to_if, "multiple", 1), getattr(if_to_ihc, "multiple", 1))
        if tile_overlap is None:
            tile_overlap = 2 * max(
                getattr(ihc_to_if, "receptive_field", 64), getattr(if_to_ihc, "receptive_field", 64)
            )
        self.tile_size = int(tile_size)
        self.tile_overlap = int(tile_overlap)
        #: The model card when loaded from files (see `restainaug.models.io.ModelCard`).
        self.card: Any = None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> GeneratorTranslator:
        """Generators stay frozen: ``train()`` keeps inference mode."""
        return super().train(False)

    def _run(self, net: nn.Module, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        return run_tiled(
            net,
            x,
            out_channels=out_channels,
            multiple=self.multiple,
            tile=self.tile_size,
            overlap=self.tile_overlap,
        )

    def to_if(self, ihc: torch.Tensor) -> torch.Tensor:
        y = self._run(self.ihc_to_if, ihc * 2.0 - 1.0, self.num_channels)
        return (y + 1.0) * 0.5

    def to_ihc(self, if_: torch.Tensor) -> torch.Tensor:
        y = self._run(self.if_to_ihc, if_ * 2.0 - 1.0, 3)
        return ((y + 1.0) * 0.5).clamp(0.0, 1.0)
