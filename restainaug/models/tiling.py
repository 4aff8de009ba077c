"""Run a fully convolutional network on images of any size.

Networks with strided layers need sizes that are multiples of their total stride, and large
fields do not fit in memory at once. `run_tiled` pads to the multiple, runs overlapping
tiles whose origins lie on the network's stride grid, discards the outer quarter of every
overlap (where the tile's own border padding reaches), blends the middle half with linear
ramps, and crops back, so the result has no seams.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple", "run_tiled", "tile_starts"]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the last two dimensions up to a multiple, mirroring the border.

    Reflection needs the pad to be smaller than the image; tiny images are replicated instead.

    Shape:
        - x: `(B, C, H, W)`
        - output: `(B, C, H', W')` with H' and W' rounded up to multiples of ``multiple``

    Examples:
        >>> pad_to_multiple(torch.zeros(1, 3, 5, 8), 4).shape
        torch.Size([1, 3, 8, 8])
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Origins of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared.

    Examples:
        >>> tile_starts(1000, 512, 64)
        [0, 448, 488]
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, overlap: int, first: bool, last: bool, device: torch.device) -> torch.Tensor:
    # Weights across an overlap: ~0 on its outer quarter (where the tile border's padding
    # reaches), a linear ramp over its middle half, 1 beyond. Two neighbours sum to 1.
    w = torch.ones(size, device=device)
    if overlap > 0:
        margin = overlap // 4
        i = torch.arange(overlap, device=device, dtype=torch.float32) + 0.5
        r = ((i - margin) / max(overlap - 2 * margin, 1)).clamp(1e-3, 1.0)
        if not first:
            w[:overlap] = r
        if not last:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    out_channels: int,
    multiple: int = 1,
    tile: int = 512,
    overlap: int = 64,
) -> torch.Tensor:
    """Apply ``fn`` to ``x`` padded to ``multiple``, in overlapping tiles when larger than ``tile``.

    Args:
        fn: a function of a ``(B, C_in, h, w)`` batch with ``h, w`` multiples of ``multiple``
            that returns ``(B, out_channels, h, w)``.
        x: the input batch.
        out_channels: channels of ``fn``'s output.
        multiple: the network's total stride; tile origins stay on this grid.
        tile: tile size in pixels (rounded up to ``multiple``).
        overlap: pixels shared by neighbouring tiles (rounded up to ``multiple``). The outer
            quarter of each overlap is discarded and the middle half blended with linear
            ramps, so choose about twice the network's receptive field.

    Returns:
        ``fn``'s output for the whole image, cropped to ``x``'s height and width.

    Shape:
        - x: `(B, C_{in}, H, W)`
        - output: `(B, C_{out}, H, W)`

    Examples:
        >>> y = run_tiled(lambda t: t * 2, torch.ones(1, 1, 300, 40), out_channels=1, tile=128)
        >>> y.shape, bool((y == 2).all())
        (torch.Size([1, 1, 300, 40]), True)
    """
    h, w = x.shape[-2:]
    xp = pad_to_multiple(x, multiple)
    hp, wp = xp.shape[-2:]
    tile = -(-tile // multiple) * multiple
    overlap = min(-(-overlap // multiple) * multiple, tile // 2)
    if hp <= tile and wp <= tile:
        return fn(xp)[..., :h, :w]
    out = xp.new_zeros(xp.shape[0], out_channels, hp, wp)
    weight = xp.new_zeros(1, 1, hp, wp)
    ys, xs = tile_starts(hp, tile, overlap), tile_starts(wp, tile, overlap)
    for i, y0 in enumerate(ys):
        th = min(tile, hp - y0)
        wy = _ramp(th, overlap, i == 0, i == len(ys) - 1, xp.device)
        for j, x0 in enumerate(xs):
            tw = min(tile, wp - x0)
            wx = _ramp(tw, overlap, j == 0, j == len(xs) - 1, xp.device)
            win = (wy[:, None] * wx[None, :]).to(xp.dtype)
            out[..., y0 : y0 + th, x0 : x0 + tw] += fn(xp[..., y0 : y0 + th, x0 : x0 + tw]) * win
            weight[..., y0 : y0 + th, x0 : x0 + tw] += win
    return (out / weight)[..., :h, :w]
