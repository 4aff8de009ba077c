"""The generators of learned IHC <-> IF translators (CycleGAN-style image-to-image networks).

Both map ``(B, C_in, H, W)`` in ``[-1, 1]`` to ``(B, C_out, H, W)`` in ``[-1, 1]`` (``tanh``):

* `ResnetGenerator`, the CycleGAN generator (Zhu et al., 2017; Johnson et al., 2016):
  ``c7s1-k, d2k, d4k, R4k x n, u2k, uk, c7s1-out``. High capacity, slow on CPU.
* `ContextGenerator`, built for data loaders on CPU: one 3x3 layer and per-pixel 1x1
  layers at full resolution, plus a context branch that runs its 3x3 convolutions at a quarter
  of the resolution and is upsampled back. Few FLOPs per pixel and no normalisation layer, so
  its output on a tile equals its output on the whole image away from the tile border.

Each has the attributes ``multiple`` (inputs must be a multiple of it) and
``receptive_field`` (pixels; used to choose the tile overlap). `build_generator` in
`restainaug.models.architectures` builds them from the config stored with the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ContextGenerator", "ResnetGenerator"]


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
        if x.device.type == "cpu":
            # oneDNN's convolutions and bilinear upsampling of these few channels run about
            # a fifth faster channels-last on CPUs (a 256x256 tile: 16.0 -> 13.0 ms on one
            # thread); the values are the same up to float rounding (5e-7).
            x = x.contiguous(memory_format=torch.channels_last)
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
        return self.head[1:](y).contiguous()


class _ContextBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))
