"""Generator architectures for learned IHC <-> IF translators.

Two families, both mapping ``(B, C_in, H, W)`` in ``[-1, 1]`` to ``(B, C_out, H, W)`` in
``[-1, 1]`` (``tanh``):

* `ResnetGenerator`, the CycleGAN generator (Zhu et al., 2017; Johnson et al., 2016):
  ``c7s1-k, d2k, d4k, R4k x n, u2k, uk, c7s1-out``. High capacity, slow on CPU.
* `ContextGenerator`, built for data loaders on CPU: one 3x3 layer and per-pixel 1x1
  layers at full resolution, plus a context branch that runs its 3x3 convolutions at a quarter
  of the resolution and is upsampled back. Few FLOPs per pixel and no normalisation layer, so
  its output on a tile equals its output on the whole image away from the tile border.

And one pair that splits the work between a network and optics (`UnmixGenerator` and
`StainRenderer`): a network finds the nuclei and the marker, and Beer-Lambert recomposition
with the image's own colour-deconvolution residual renders the result, so an unchanged IF
image translates back to exactly the input and only the edited stains change.

A generator is described by a plain config dict (``{"type": "context", ...}``) that is stored
with the weights, so loading never asks the user to repeat architecture flags.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..stains import DAB, HEMATOXYLIN, OpticalTranslator

__all__ = [
    "ARCHITECTURES",
    "UNMIX_CHANNELS",
    "ContextGenerator",
    "ResnetGenerator",
    "StainRenderer",
    "UnmixGenerator",
    "build_generator",
]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm: expected 'instance' or 'none', got {kind!r}.")


class _ResBlock(nn.Module):
    """Residual block with reflection padding: ``x + conv(norm(relu(conv(norm(x)))))``."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm == "none"),
            _norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm == "none"),
            _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator (``resnet_9blocks`` with ``ngf=64`` is the reference).

    Args:
        in_channels: input channels (3 for IHC, C for IF).
        out_channels: output channels.
        ngf: filters of the first layer.
        n_blocks: residual blocks at the lowest resolution.
        n_down: stride-2 downsamplings (inputs must be a multiple of ``2**n_down``).
        norm: ``"instance"`` (reference) or ``"none"``.

    Shape:
        - input: `(B, C_{in}, H, W)`, H and W multiples of `multiple`
        - output: `(B, C_{out}, H, W)`

    Examples:
        >>> g = ResnetGenerator(3, 2, ngf=4, n_blocks=1)
        >>> g(torch.zeros(1, 3, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int = 9,
        n_down: int = 2,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        bias = norm == "none"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            _norm(norm, ngf),
            nn.ReLU(inplace=True),
        ]
        ch = ngf
        for _ in range(n_down):
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias),
                _norm(norm, ch * 2),
                nn.ReLU(inplace=True),
            ]
            ch *= 2
        layers += [_ResBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, 2, padding=1, output_padding=1, bias=bias),
                _norm(norm, ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.multiple = 2**n_down
        # 7x7 stem + downsampling + blocks at 2**n_down + upsampling + 7x7 head.
        self.receptive_field = 6 + 2 * (2**n_down - 1) + 4 * n_blocks * 2**n_down + 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContextGenerator(nn.Module):
    """Fast generator: full-resolution per-pixel layers plus a quarter-resolution context branch.

    ``y = tanh(head([stem(x), up(context(pool(x)))]))`` where ``stem`` is one 3x3 convolution,
    ``context`` runs ``context_blocks`` residual blocks of 3x3 convolutions at ``1/factor`` of
    the resolution, and ``head`` is a stack of 1x1 convolutions.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        width: channels of the full-resolution stem.
        context_width: channels of the context branch.
        context_blocks: residual blocks in the context branch.
        head_width: channels of the hidden 1x1 layer of the head.
        factor: downsampling factor of the context branch (a power of two).
        context_out: channels the context branch hands to the full-resolution head, reduced
            by a 1x1 convolution before upsampling (``None``: ``context_width``, no
            reduction). Full-resolution tensors dominate the cost on CPUs, so this is cheap.
        stem_layers: 3x3 convolutions in the full-resolution stem (each ``width`` channels).
            A second one lets the network draw the thin gaps between touching nuclei.

    Shape:
        - input: `(B, C_{in}, H, W)`, H and W multiples of `multiple`
        - output: `(B, C_{out}, H, W)`

    Examples:
        >>> g = ContextGenerator(3, 2, width=8, context_width=8, context_blocks=1)
        >>> g(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 2, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 16,
        context_width: int = 32,
        context_blocks: int = 3,
        head_width: int = 32,
        factor: int = 4,
        context_out: int | None = None,
        stem_layers: int = 1,
    ) -> None:
        super().__init__()
        if factor < 1 or factor & (factor - 1):
            raise ValueError(f"factor: expected a power of two, got {factor}.")
        if stem_layers < 1:
            raise ValueError(f"stem_layers: expected at least 1, got {stem_layers}.")
        self.factor = factor
        stem: list[nn.Module] = []
        for i in range(stem_layers):
            stem += [nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1)]
            stem += [nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        self.context_in = nn.Sequential(
            nn.Conv2d(in_channels, context_width, 3, padding=1), nn.ReLU(inplace=True)
        )
        blocks: list[nn.Module] = [_ContextBlock(context_width) for _ in range(context_blocks)]
        if context_out is not None:
            blocks += [nn.Conv2d(context_width, context_out, 1), nn.ReLU(inplace=True)]
        self.context = nn.Sequential(*blocks)
        out = context_width if context_out is None else context_out
        self.head = nn.Sequential(
            nn.Conv2d(width + out, head_width, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(head_width, out_channels, 1),
            nn.Tanh(),
        )
        self.multiple = factor
        self.receptive_field = max(1 + 2 * stem_layers, factor * (3 + 4 * context_blocks) + 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ctx = F.avg_pool2d(x, self.factor) if self.factor > 1 else x
        ctx = self.context(self.context_in(ctx))
        # head[0] is a 1x1 convolution of [stem, up(ctx)]. Both it and bilinear upsampling
        # are linear per pixel, so its context half runs before the upsampling, at low
        # resolution, and no full-resolution concatenation is made. Same result, less memory
        # traffic (the cost on CPUs).
        first = self.head[0]
        width = self.stem[-2].out_channels
        y = F.conv2d(ctx, first.weight[:, width:])
        if self.factor > 1:
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = y + F.conv2d(self.stem(x), first.weight[:, :width], first.bias)
        return self.head[1:](y)


class _ContextBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


#: The IF channels of an `UnmixGenerator`, in order, with their roles.
UNMIX_CHANNELS: tuple[tuple[str, str], ...] = (
    ("DAPI", "nuclear"),
    ("marker", "marker"),
    ("DAPI reference", "other"),
    ("marker reference", "other"),
    ("hematoxylin OD", "other"),
    ("DAB OD", "other"),
    ("residual", "other"),
)


class UnmixGenerator(nn.Module):
    """IHC -> IF: a learned nuclear and marker channel plus the image's optical state.

    A `ContextGenerator` (``net``) predicts a DAPI-like nuclear channel and a marker
    channel in ``[0, 1]``. The output also carries what `StainRenderer` needs to translate
    back exactly: copies of both predictions (role ``"other"``, which operations leave alone,
    so the renderer sees what changed) and the colour deconvolution of the input
    (hematoxylin and DAB optical density, and the residual per unit of stain, as in
    `restainaug.stains.OpticalTranslator`). Channels: see `UNMIX_CHANNELS`.

    Args:
        in_channels: must be 3 (RGB).
        out_channels: must be 7 (`UNMIX_CHANNELS`).
        net: config of the `ContextGenerator` that predicts the two channels
            (``in_channels``/``out_channels`` are set here).
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB).
        od_input: also give the network the deconvolved hematoxylin and DAB optical density
            and the residual (6 input channels instead of 3). Stain intensity then varies
            by a scale factor, which is easier to learn to ignore.

    Shape:
        - input: `(B, 3, H, W)` in `[-1, 1]`, H and W multiples of `multiple`
        - output: `(B, 7, H, W)`, the IF values `v` as `2 v - 1` (the network range)

    Examples:
        >>> g = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> g(torch.zeros(1, 3, 16, 16)).shape
        torch.Size([1, 7, 16, 16])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = len(UNMIX_CHANNELS),
        net: dict[str, Any] | None = None,
        nuclear: tuple[float, float, float] | list[float] | None = None,
        marker: tuple[float, float, float] | list[float] | None = None,
        od_input: bool = False,
    ) -> None:
        super().__init__()
        if (in_channels, out_channels) != (3, len(UNMIX_CHANNELS)):
            raise ValueError(
                f"UnmixGenerator maps 3 -> {len(UNMIX_CHANNELS)} channels, got {in_channels} -> "
                f"{out_channels}."
            )
        cfg = {k: v for k, v in (net or {}).items() if k not in ("type", "in_channels")}
        cfg["out_channels"] = 2
        self.od_input = bool(od_input)
        self.net = ContextGenerator(6 if self.od_input else 3, **cfg)
        # Plain deconvolution (absolute residual): the network's extra input.
        self.optical = OpticalTranslator(nuclear or HEMATOXYLIN, marker or DAB, residual="absolute")
        self.multiple = self.net.multiple
        self.receptive_field = self.net.receptive_field

    def _deconvolve(self, x: torch.Tensor) -> torch.Tensor:
        return self.optical.to_if((x + 1.0) * 0.5)

    def _predict(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        inp = torch.cat([x, c], dim=1) if c is not None else x
        return (self.net(inp) + 1.0) * 0.5

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The learned nuclear and marker channels in ``[0, 1]``, ``(B, 2, H, W)``."""
        return self._predict(x, self._deconvolve(x) if self.od_input else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self._deconvolve(x)
        pred = self._predict(x, c if self.od_input else None)
        # The residual per unit of stain, as OpticalTranslator(residual="relative") stores it.
        v = torch.cat([pred, pred, c[:, :2], c[:, 2:] / self.optical._stain_amount(c)], dim=1)
        return v * 2.0 - 1.0


class StainRenderer(nn.Module):
    """IF -> IHC for `UnmixGenerator`: Beer-Lambert recomposition of the edited stains.

    Where the nuclear channel grew (``n > n_ref``), hematoxylin is added in proportion,
    ``h + gain_nuclear (n - n_ref)``; where it shrank, the image's own hematoxylin is scaled
    by ``(n + eps) / (n_ref + eps)``. The marker and DAB likewise. Removing the marker thus
    removes the DAB the network assigned to it and nothing else; moving it onto nuclei adds
    DAB there. The residual of the deconvolution is rescaled with the stain amounts, as in
    `restainaug.stains.OpticalTranslator`. Unchanged channels give back the input exactly.

    Args:
        in_channels: must be 7 (`UNMIX_CHANNELS`).
        out_channels: must be 3 (RGB).
        gain_nuclear: hematoxylin optical density added per unit of the nuclear channel.
        gain_marker: DAB optical density added per unit of the marker channel.
        eps: keeps the ratio finite where a channel is near zero.
        nuclear: absorption vector of the nuclear stain (hematoxylin).
        marker: absorption vector of the marker stain (DAB).

    Shape:
        - input: `(B, 7, H, W)` in the network range
        - output: `(B, 3, H, W)` RGB in `[-1, 1]`

    Examples:
        >>> g = UnmixGenerator(net={"width": 4, "context_width": 4, "context_blocks": 1})
        >>> x = torch.rand(1, 3, 16, 16) * 1.6 - 0.8
        >>> bool((StainRenderer()(g(x)) - x).abs().max() < 1e-4)
        True
    """

    def __init__(
        self,
        in_channels: int = len(UNMIX_CHANNELS),
        out_channels: int = 3,
        gain_nuclear: float = 0.5,
        gain_marker: float = 0.8,
        eps: float = 0.05,
        nuclear: tuple[float, float, float] | list[float] | None = None,
        marker: tuple[float, float, float] | list[float] | None = None,
    ) -> None:
        super().__init__()
        if (in_channels, out_channels) != (len(UNMIX_CHANNELS), 3):
            raise ValueError(
                f"StainRenderer maps {len(UNMIX_CHANNELS)} -> 3 channels, got {in_channels} -> "
                f"{out_channels}."
            )
        for name, value in (("gain_nuclear", gain_nuclear), ("gain_marker", gain_marker)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a positive number, got {value!r}.")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive number, got {eps!r}.")
        self.gains = (float(gain_nuclear), float(gain_marker))
        self.eps = float(eps)
        # Recomposition of (hematoxylin, DAB, residual per unit of stain).
        self.optical = OpticalTranslator(nuclear or HEMATOXYLIN, marker or DAB, residual="relative")
        self.multiple = 1
        self.receptive_field = 1

    def _edit(
        self, c: torch.Tensor, v: torch.Tensor, ref: torch.Tensor, gain: float
    ) -> torch.Tensor:
        v = v.clamp_min(0.0)
        grown = c + gain * (v - ref)
        shrunk = c * ((v + self.eps) / (ref + self.eps))
        return torch.where(v >= ref, grown, shrunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x + 1.0) * 0.5
        h = self._edit(v[:, 4:5], v[:, 0:1], v[:, 2:3], self.gains[0])
        d = self._edit(v[:, 5:6], v[:, 1:2], v[:, 3:4], self.gains[1])
        return self.optical.to_ihc(torch.cat([h, d, v[:, 6:7]], dim=1)) * 2.0 - 1.0


#: Architectures by the ``type`` key of a generator config.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "resnet": ResnetGenerator,
    "context": ContextGenerator,
    "unmix": UnmixGenerator,
    "render": StainRenderer,
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
