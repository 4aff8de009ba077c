"""The translator interface: RGB IHC <-> IF channels with named roles.

A translator owns the two halves of the ReStainGAN idea: ``to_if`` turns a brightfield
IHC batch into immunofluorescence-like channels whose stains are separate, and ``to_ihc``
turns (possibly perturbed) channels back into IHC. Every operation in `restainaug.ops`
addresses channels by *role* (``"nuclear"``, ``"marker"``), never by position, so the same
policy works with the analytic ``optical`` translator and with learned generators.

Value conventions (the contract every translator keeps):

* IHC is float RGB in ``[0, 1]``, shape ``(B, 3, H, W)``; ``1`` is white glass.
* IF channels are float, shape ``(B, C, H, W)``, non-negative in tissue, on a nominal scale
  where ``0`` is no signal and ``1`` is a strongly stained structure (a dark nucleus, a 3+
  marker). Values may exceed ``1`` after operations; translators accept them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["ROLES", "Channel", "Role", "Translator"]

#: What a channel is for: the nuclear stain, the marker, or anything else.
Role = Literal["nuclear", "marker", "other"]
#: The valid roles.
ROLES: tuple[str, ...] = ("nuclear", "marker", "other")


@dataclass(frozen=True)
class Channel:
    """One IF channel of a translator.

    Args:
        name: what the channel shows, e.g. ``"DAPI"``, ``"HER2"``, ``"hematoxylin"``.
        role: ``"nuclear"`` (the nuclear stain, DAPI or hematoxylin), ``"marker"`` (the
            marker, DAB in IHC) or ``"other"`` (anything the operations leave alone).

    Raises:
        ValueError: if ``role`` is not one of `ROLES`.

    Examples:
        >>> Channel("DAPI", "nuclear")
        Channel(name='DAPI', role='nuclear')
    """

    name: str
    role: Role

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"Channel {self.name!r}: role must be one of {ROLES}, got {self.role!r}."
            )


class Translator(nn.Module):
    """Base class of IHC <-> IF translators (frozen, inference only).

    Subclasses set `channels` and implement `to_if` and `to_ihc`.
    Exactly one channel has the role ``"nuclear"``; at most one has the role ``"marker"``.

    Attributes:
        name: the registry name (or a path) the translator was loaded from.
        channels: the IF channels, in order.
    """

    name: str = "translator"
    channels: tuple[Channel, ...] = ()

    def _check_channels(self) -> None:
        roles = [c.role for c in self.channels]
        if roles.count("nuclear") != 1 or roles.count("marker") > 1:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: need exactly one 'nuclear' channel and at "
                f"most one 'marker' channel, got roles {roles}."
            )

    @property
    def num_channels(self) -> int:
        """The number of IF channels ``C``."""
        return len(self.channels)

    @property
    def nuclear_index(self) -> int:
        """Index of the channel with role ``"nuclear"``."""
        return next(i for i, c in enumerate(self.channels) if c.role == "nuclear")

    @property
    def marker_index(self) -> int | None:
        """Index of the channel with role ``"marker"``, or ``None`` when there is none."""
        return next((i for i, c in enumerate(self.channels) if c.role == "marker"), None)

    @property
    def device(self) -> torch.device:
        """The device the translator's tensors live on."""
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    def to_if(self, ihc: torch.Tensor) -> torch.Tensor:
        """Translate IHC to IF channels.

        Args:
            ihc: float RGB IHC in ``[0, 1]``.

        Returns:
            IF channels on the nominal scale (see the module docstring).

        Shape:
            - ihc: `(B, 3, H, W)`
            - output: `(B, C, H, W)`
        """
        raise NotImplementedError

    def to_ihc(self, if_: torch.Tensor) -> torch.Tensor:
        """Translate IF channels back to IHC.

        Args:
            if_: IF channels on the nominal scale.

        Returns:
            float RGB IHC in ``[0, 1]``.

        Shape:
            - if_: `(B, C, H, W)`
            - output: `(B, 3, H, W)`
        """
        raise NotImplementedError

    def forward(self, ihc: torch.Tensor) -> torch.Tensor:
        """Round trip IHC -> IF -> IHC (useful to measure cycle consistency)."""
        return self.to_ihc(self.to_if(ihc))

    def extra_repr(self) -> str:
        chans = ", ".join(f"{c.name}:{c.role}" for c in self.channels)
        return f"name={self.name!r}, channels=[{chans}]"
