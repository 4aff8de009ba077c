"""IF-channel operations: the paper's "simple mathematical operations" on separated stains.

Each operation is deterministic given its parameters: ``op.apply(x, params, ctx)`` with
``x`` the IF batch ``(B, C, H, W)`` and ``params`` a dict of per-sample tensors whose
distributions ``op.param_space()`` declares. Drawing happens elsewhere, in
`restainaug.params.sample_params`, so any draw can be replayed on the same or other data.

Channels are addressed by role (``"nuclear"``, ``"marker"``) or index. Operations that place
marker on nuclei, membranes or cytoplasm find nuclei in the instance labels when given, else
in the nuclear channel of the unperturbed IF image (see `IFContext`).

Intensities are on the nominal IF scale where ``1`` is strong staining; the named marker
levels are `MARKER_LEVELS`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from . import nuclei as nu
from .params import Params
from .spaces import Choice, LogUniform, PerObject, Space, Uniform, as_space

__all__ = [
    "MARKER_LEVELS",
    "ChannelAffine",
    "IFContext",
    "Identity",
    "MarkerToCytoplasm",
    "MarkerToMembranes",
    "MarkerToNuclei",
    "NuclearStrength",
    "Op",
    "RemoveMarker",
]

#: Marker intensity of the clinical scoring levels on the nominal IF scale.
MARKER_LEVELS: dict[str, float] = {"0": 0.0, "1+": 0.3, "2+": 0.6, "3+": 1.0}


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


class Op:
    """Base class of IF-channel operations.

    Subclasses declare their random parameters in `param_space` and implement
    `apply`, which must not modify ``x`` in place.

    Attributes:
        p: probability that a sample gets the operation (drawn per sample).
        roles: channel roles the operation needs.
    """

    p: float = 1.0
    roles: frozenset[str] = frozenset()
    children: tuple[Op, ...] = ()

    def param_space(self) -> dict[str, Space]:
        """Spaces of the per-sample parameters, by name."""
        return {}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        """Apply the operation with the given parameters (deterministic).

        Shape:
            - x: `(B, C, H, W)`
            - output: `(B, C, H, W)`
        """
        raise NotImplementedError

    def _set_p(self, p: float) -> None:
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p!r}.")
        self.p = float(p)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _col(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def _with_channel(x: torch.Tensor, c: int, value: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, c : c + 1] = value
    return out


class Identity(Op):
    """Leaves the IF channels unchanged (a branch of a ``OneOf`` that keeps the stain)."""

    def __init__(self, p: float = 1.0) -> None:
        self._set_p(p)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        return x


class ChannelAffine(Op):
    """Scale, gamma and shift of one channel.

    ``x' = scale * max(x, 0) ** gamma + min(x, 0) + shift``.

    Negative values (deconvolution noise in the optical translator) pass through unscaled.

    Args:
        channel: ``"nuclear"``, ``"marker"`` or a channel index.
        scale: factor (number, ``(low, high)`` or a space); ``>= 0``.
        shift: added value on the nominal scale.
        gamma: exponent; ``> 0``.
        p: probability per sample.

    Examples:
        >>> op = ChannelAffine("marker", scale=2.0)
        >>> x = torch.ones(1, 2, 4, 4)
        >>> ctx = IFContext(x, nuclear=0, marker=1)
        >>> p = {"scale": torch.tensor([2.0]), "shift": torch.zeros(1), "gamma": torch.ones(1)}
        >>> op.apply(x, p, ctx)[0, :, 0, 0].tolist()
        [1.0, 2.0]
    """

    def __init__(
        self,
        channel: str | int,
        scale: float | tuple[float, float] | Space = 1.0,
        shift: float | tuple[float, float] | Space = 0.0,
        gamma: float | tuple[float, float] | Space = 1.0,
        p: float = 1.0,
    ) -> None:
        self.channel = channel
        self.scale = as_space(scale, "scale", low=0.0)
        self.shift = as_space(shift, "shift")
        self.gamma = as_space(gamma, "gamma", low=1e-3)
        if not (channel in ("nuclear", "marker") or (isinstance(channel, int) and channel >= 0)):
            raise ValueError(
                f"channel: expected 'nuclear', 'marker' or a channel index >= 0, got {channel!r}."
            )
        self._set_p(p)

    @property
    def roles(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset({self.channel}) if isinstance(self.channel, str) else frozenset()

    def param_space(self) -> dict[str, Space]:
        return {"scale": self.scale, "shift": self.shift, "gamma": self.gamma}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.index(self.channel)
        v = x[:, c : c + 1]
        pos = v.clamp_min(0.0)
        new = _col(params["scale"], x) * pos.pow(_col(params["gamma"], x)) + (v - pos)
        return _with_channel(x, c, new + _col(params["shift"], x))


class NuclearStrength(Op):
    """Counterstain strength: scale the nuclear channel inside nuclei only.

    ``n' = n * (1 + (factor - 1) * mask)`` with the soft nucleus mask of the context, so the
    background and cytoplasm keep their nuclear-stain level.

    Args:
        factor: multiplicative strength (number, ``(low, high)`` or a space); ``>= 0``.
        p: probability per sample.
    """

    roles = frozenset({"nuclear"})

    def __init__(
        self, factor: float | tuple[float, float] | Space = LogUniform(0.6, 1.6), p: float = 1.0
    ) -> None:
        self.factor = as_space(factor, "factor", low=0.0)
        self._set_p(p)

    def param_space(self) -> dict[str, Space]:
        return {"factor": self.factor}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.nuclear
        gain = 1.0 + (_col(params["factor"], x) - 1.0) * ctx.nuclear_mask()
        return _with_channel(x, c, x[:, c : c + 1] * gain)


class RemoveMarker(Op):
    """Remove the marker: ``m' = keep * m`` (``keep = 0`` removes it completely).

    Args:
        keep: fraction of the marker left (number, ``(low, high)`` or a space) in ``[0, 1]``.
        p: probability per sample.
    """

    roles = frozenset({"marker"})

    def __init__(self, keep: float | tuple[float, float] | Space = 0.0, p: float = 1.0) -> None:
        self.keep = as_space(keep, "keep", low=0.0, high=1.0)
        self._set_p(p)

    def param_space(self) -> dict[str, Space]:
        return {"keep": self.keep}

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        c = ctx.index("marker")
        return _with_channel(x, c, x[:, c : c + 1] * _col(params["keep"], x))


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
        selected = nu.lookup(params["select"].to(ids.device), ids) < _col(params["fraction"], ids)
        strength = nu.lookup(params["strength"].to(ids.device, ids.dtype), ids)
        return strength * (selected & region).to(ids.dtype) * _col(params["intensity"], ids)

    def _add(self, x: torch.Tensor, ctx: IFContext, field: torch.Tensor) -> torch.Tensor:
        c = ctx.index("marker")
        return _with_channel(x, c, x[:, c : c + 1] + field.to(x.dtype))


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


class MarkerToMembranes(_MarkerPlacement):
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

    def __init__(
        self,
        fraction: float | tuple[float, float] | Space = (0.3, 1.0),
        intensity: float | tuple[float, float] | Space = Choice((0.3, 0.6, 1.0)),
        variation: float = 0.3,
        cell_radius: int = 8,
        width: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(fraction, intensity, variation, p)
        if int(cell_radius) < 1 or int(width) < 1:
            raise ValueError(f"cell_radius and width must be >= 1, got {cell_radius}, {width}.")
        self.cell_radius = int(cell_radius)
        self.width = int(width)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        cells = ctx.cells(self.cell_radius)
        outside = nu.dilate((ctx.nuclei() > 0).to(x.dtype)) < 0.5
        amp = self._amplitude(cells, params, nu.boundaries(cells) & outside)
        amp = nu.dilate(amp, (self.width - 1) // 2)
        if self.width % 2 == 0:  # even widths: grow by one pixel towards the bottom right
            amp = torch.maximum(amp, F.pad(amp, (1, 0, 1, 0))[..., :-1, :-1])
        field = nu.box_mean(amp, 1) * outside.to(x.dtype)
        return self._add(x, ctx, field)


class MarkerToCytoplasm(_MarkerPlacement):
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
        super().__init__(fraction, intensity, variation, p)
        if int(cell_radius) < 1:
            raise ValueError(f"cell_radius must be >= 1, got {cell_radius}.")
        self.cell_radius = int(cell_radius)

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        cells = ctx.cells(self.cell_radius)
        outside = ctx.nuclei() <= 0
        amp = self._amplitude(cells, params, outside)
        field = nu.box_mean(amp, 2) * outside.to(x.dtype)
        return self._add(x, ctx, field)
