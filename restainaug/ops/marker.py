"""Marker placement: new marker on a random fraction of nuclei, membranes or cytoplasm.

Objects come from the instance labels when given, else from the nuclear channel of the
unperturbed IF image (see `restainaug.context.IFContext`). Intensities are on the nominal IF
scale where ``1`` is strong staining; the named levels are `MARKER_LEVELS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import nuclei as nu
from ..context import IFContext
from ..params import Params
from ..spaces import Choice, PerObject, Space, Uniform, as_space
from .base import Op, column, with_channel

__all__ = ["MARKER_LEVELS", "MarkerToCytoplasm", "MarkerToMembranes", "MarkerToNuclei"]

#: Marker intensity of the clinical scoring levels on the nominal IF scale.
MARKER_LEVELS: dict[str, float] = {"0": 0.0, "1+": 0.3, "2+": 0.6, "3+": 1.0}


class _MarkerPlacement(Op):
    """Shared parameters of operations that add marker to a random fraction of objects."""

    roles = frozenset({"marker"})

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space,
        intensity: float | tuple[float, float] | Space,
        variation: float,
        p: float,
    ) -> None:
        self.fraction = as_space(fraction, "fraction", low=0.0, high=1.0)
        self.intensity = as_space(intensity, "intensity", low=0.0)
        if not 0.0 <= variation < 1.0:
            raise ValueError(f"variation: expected a value in [0, 1), got {variation!r}.")
        self.variation = float(variation)
        self._set_p(p)

    def param_space(self) -> dict[str, Space]:
        return {
            "fraction": self.fraction,
            "intensity": self.intensity,
            "select": PerObject(0.0, 1.0),
            "strength": PerObject(1.0 - self.variation, 1.0 + self.variation),
        }

    def _amplitude(self, ids: torch.Tensor, params: Params, region: torch.Tensor) -> torch.Tensor:
        """Per-pixel marker amplitude of the selected objects inside ``region``."""
        selected = nu.lookup(params["select"].to(ids.device), ids) < column(params["fraction"], ids)
        strength = nu.lookup(params["strength"].to(ids.device, ids.dtype), ids)
        return strength * (selected & region).to(ids.dtype) * column(params["intensity"], ids)

    def _add(self, x: torch.Tensor, ctx: IFContext, field: torch.Tensor) -> torch.Tensor:
        c = ctx.index("marker")
        return with_channel(x, c, x[:, c : c + 1] + field.to(x.dtype))


class MarkerToNuclei(_MarkerPlacement):
    """Add marker to a random fraction of nuclei (a nuclear marker such as Ki67 or ER).

    Each nucleus is positive with probability ``fraction``; a positive nucleus gets
    ``intensity`` times a per-nucleus factor in ``[1 - variation, 1 + variation]``, modulated
    by its own nuclear-channel texture (``texture = 0`` gives flat nuclei) and by granular
    noise (``grain``: the spread of a mean-preserving log-normal factor, as real DAB
    precipitate is clumped), and its edge is softened over ``edge`` pixels beyond one.

    Args:
        fraction: fraction of positive nuclei in ``[0, 1]``.
        intensity: marker intensity of a positive nucleus (see `MARKER_LEVELS`).
        variation: relative spread of intensity between nuclei, in ``[0, 1)``.
        texture: how much the nuclear-channel pattern shows in the marker, in ``[0, 1]``.
        grain: log-normal spread of granular DAB texture, in ``[0, 2]`` (``0``: none).
        edge: extra pixels of edge softening, ``0`` to ``4``.
        p: probability per sample.
    """

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space = (0.1, 0.7),
        intensity: float | tuple[float, float] | Space = Choice((0.3, 0.6, 1.0)),
        variation: float = 0.3,
        texture: float = 0.5,
        grain: float = 0.0,
        edge: int = 0,
        p: float = 1.0,
    ) -> None:
        super().__init__(fraction, intensity, variation, p)
        if not 0.0 <= texture <= 1.0:
            raise ValueError(f"texture: expected a value in [0, 1], got {texture!r}.")
        if not 0.0 <= grain <= 2.0:
            raise ValueError(f"grain: expected a value in [0, 2], got {grain!r}.")
        if isinstance(edge, bool) or not isinstance(edge, int) or not 0 <= edge <= 4:
            raise ValueError(f"edge: expected an int in [0, 4] (pixels), got {edge!r}.")
        self.texture = float(texture)
        self.grain = float(grain)
        self.edge = edge

    def param_space(self) -> dict[str, Space]:
        space = super().param_space()
        if self.grain > 0:
            space["grain_seed"] = Uniform(0.0, 1.0)
        return space

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        ids = ctx.nuclei()
        amp = self._amplitude(ids, params, ids > 0)
        if self.grain > 0:
            z = _grain(params["grain_seed"], amp)
            amp = amp * torch.exp(self.grain * z - 0.5 * self.grain**2)
        field = nu.box_mean(amp, 1)
        for _ in range(self.edge):
            field = nu.box_mean(field, 1)
        if self.texture > 0:
            ref = ctx.reference[:, ctx.nuclear : ctx.nuclear + 1]
            inside = (ids > 0).to(ref.dtype)
            mean = (ref * inside).sum((1, 2, 3), keepdim=True) / inside.sum(
                (1, 2, 3), keepdim=True
            ).clamp_min(1)
            rel = (ref / mean.clamp_min(1e-6)).clamp(0.5, 1.5)
            field = field * (1.0 - self.texture + self.texture * rel)
        return self._add(x, ctx, field)


def _grain(seeds: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Granular noise: unit-variance Gaussian noise smoothed over about a pixel, per sample.

    Drawn from a generator seeded by each sample's ``seeds`` value in ``[0, 1)``, so a replay
    of the same parameters gives the same grain on any device.
    """
    b, _, h, w = like.shape
    out = torch.empty(b, 1, h, w, dtype=torch.float32)
    for i in range(b):
        g = torch.Generator().manual_seed(int(float(seeds[i]) * 2**31))
        out[i] = torch.randn(1, h, w, generator=g)
    out = nu.box_mean(out, 1)
    out = out / out.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(1e-6)
    return out.to(device=like.device, dtype=like.dtype)


class _CellPlacement(_MarkerPlacement):
    """Marker placement on cells: nuclei grown by up to ``cell_radius`` pixels, no overlap."""

    cell_radius: int

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space,
        intensity: float | tuple[float, float] | Space,
        variation: float,
        p: float,
        **pixels: int,
    ) -> None:
        super().__init__(fraction, intensity, variation, p)
        if any(int(v) < 1 for v in pixels.values()):
            got = ", ".join(str(v) for v in pixels.values())
            raise ValueError(f"{' and '.join(pixels)} must be >= 1, got {got}.")
        for name, value in pixels.items():  # sizes in pixels: cell_radius, then any others
            setattr(self, name, int(value))

    def _cells(self, ctx: IFContext) -> torch.Tensor:
        return ctx.cells(self.cell_radius)


class MarkerToMembranes(_CellPlacement):
    """Add marker to the membranes of a random fraction of cells (e.g. HER2, E-cadherin).

    Cells are nuclei grown by up to ``cell_radius`` pixels without overlap; membranes are their
    boundaries (shared walls between touching cells, a ring where a cell meets stroma),
    ``width`` pixels wide, outside the nuclei.

    Args:
        fraction: fraction of positive cells in ``[0, 1]``.
        intensity: marker intensity of a positive membrane (see `MARKER_LEVELS`).
        variation: relative spread of intensity between cells, in ``[0, 1)``.
        cell_radius: how far cells extend beyond their nucleus, in pixels.
        width: membrane width in pixels.
        p: probability per sample.
    """

    width: int

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space = (0.3, 1.0),
        intensity: float | tuple[float, float] | Space = Choice((0.3, 0.6, 1.0)),
        variation: float = 0.3,
        cell_radius: int = 8,
        width: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(fraction, intensity, variation, p, cell_radius=cell_radius, width=width)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        cells = self._cells(ctx)
        outside = nu.dilate((ctx.nuclei() > 0).to(x.dtype)) < 0.5
        amp = self._amplitude(cells, params, nu.boundaries(cells) & outside)
        amp = nu.dilate(amp, (self.width - 1) // 2)
        if self.width % 2 == 0:  # even widths: grow by one pixel towards the bottom right
            amp = torch.maximum(amp, F.pad(amp, (1, 0, 1, 0))[..., :-1, :-1])
        field = nu.box_mean(amp, 1) * outside.to(x.dtype)
        return self._add(x, ctx, field)


class MarkerToCytoplasm(_CellPlacement):
    """Add marker to the cytoplasm of a random fraction of cells (e.g. cytokeratin).

    Args:
        fraction: fraction of positive cells in ``[0, 1]``.
        intensity: marker intensity of positive cytoplasm (see `MARKER_LEVELS`).
        variation: relative spread of intensity between cells, in ``[0, 1)``.
        cell_radius: how far cells extend beyond their nucleus, in pixels.
        p: probability per sample.
    """

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space = (0.3, 1.0),
        intensity: float | tuple[float, float] | Space = Uniform(0.2, 0.6),
        variation: float = 0.3,
        cell_radius: int = 8,
        p: float = 1.0,
    ) -> None:
        super().__init__(fraction, intensity, variation, p, cell_radius=cell_radius)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        cells = self._cells(ctx)
        outside = ctx.nuclei() <= 0
        amp = self._amplitude(cells, params, outside)
        field = nu.box_mean(amp, 2) * outside.to(x.dtype)
        return self._add(x, ctx, field)
