"""What operations may read besides the IF batch: channel roles, labels, the unperturbed image.

An `IFContext` is built once per call of `restainaug.RestainTransform` (from the IF batch
before any operation) and handed to every operation of the policy. Nucleus and cell maps are
computed on first use and shared.
"""

from __future__ import annotations

from typing import Any

import torch

from . import nuclei as nu

__all__ = ["IFContext"]


class IFContext:
    """What operations may read besides the IF batch: roles, labels, the unperturbed image.

    Nucleus and cell maps are computed once per call, on first use, and shared by operations.

    Args:
        reference: the IF batch before any operation, ``(B, C, H, W)``.
        nuclear: index of the nuclear channel.
        marker: index of the marker channel (``None`` if the translator has none).
        labels: instance labels ``(B, 1, H, W)`` (``0`` = background; a binary mask is split
            into its connected components), or ``None`` to find nuclei in the nuclear channel.
    """

    def __init__(
        self,
        reference: torch.Tensor,
        nuclear: int,
        marker: int | None,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.reference = reference
        self.nuclear = nuclear
        self.marker = marker
        self.labels = labels
        self._cache: dict[Any, torch.Tensor] = {}

    def index(self, channel: str | int) -> int:
        """Channel index of a role (``"nuclear"``, ``"marker"``) or an index."""
        if channel == "nuclear":
            return self.nuclear
        if channel == "marker":
            if self.marker is None:
                raise ValueError("This operation needs a marker channel; the translator has none.")
            return self.marker
        return int(channel)

    def subset(self, idx: torch.Tensor) -> IFContext:
        """The context of the samples ``idx`` (cached maps are indexed, not recomputed)."""
        sub = IFContext(
            self.reference[idx],
            self.nuclear,
            self.marker,
            None if self.labels is None else self.labels[idx],
        )
        sub._cache = {k: v[idx] for k, v in self._cache.items()}
        return sub

    def nuclei(self) -> torch.Tensor:
        """Nucleus object ids ``(B, 1, H, W)`` (float, ``0`` = background)."""
        if "nuclei" not in self._cache:
            if self.labels is not None:
                ids = self.labels.to(self.reference.dtype)
                # A binary mask: its connected components are the nuclei. Decided per sample,
                # so that a sample's nuclei do not depend on the rest of its batch.
                binary = ids.amax(dim=(1, 2, 3)) <= 1
                if bool(binary.any()):
                    ids = ids.clone()
                    ids[binary] = nu.connected_components(ids[binary] > 0).to(ids.dtype)
            else:
                ids = nu.nuclei_from_channel(self.reference[:, self.nuclear : self.nuclear + 1])
            self._cache["nuclei"] = ids
        return self._cache["nuclei"]

    def nuclear_mask(self) -> torch.Tensor:
        """Soft nucleus mask in ``[0, 1]``, ``(B, 1, H, W)`` (edges smoothed over 3 pixels).

        Needs no object labelling: from the labels when given, else from
        ``nuclear_foreground`` of the reference nuclear channel, opened to drop specks.
        """
        if "nuclear_mask" not in self._cache:
            if self.labels is not None:
                hard = (self.labels > 0).to(self.reference.dtype)
            else:
                fg = nu.nuclear_foreground(self.reference[:, self.nuclear : self.nuclear + 1])
                hard = nu.dilate(nu.erode(fg))
            self._cache["nuclear_mask"] = nu.box_mean(hard, 1)
        return self._cache["nuclear_mask"]

    def cells(self, radius: int) -> torch.Tensor:
        """Cell ids: nuclei grown by up to ``radius`` pixels without overlap, ``(B, 1, H, W)``."""
        key = ("cells", radius)
        if key not in self._cache:
            self._cache[key] = nu.expand_labels(self.nuclei(), radius)
        return self._cache[key]
