"""``restainaug demo``: re-stain one image and write a PNG grid of what happens.

Top row: the original IHC, its IF channels as a false-colour composite (nuclear blue, marker
yellow), the nuclear channel and the marker channel. Below: re-stained variants, each captioned
with the operations that made it. Needs Pillow and, for the embedded default image,
scikit-image (``pip install "restainaug[demo]"``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._validate import resolve_device
from .policy import describe
from .transform import RestainTransform

__all__ = ["default_image", "render_demo", "run_demo"]


def _require(module: str, extra: str = "demo") -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(
            f'The demo needs {module.split(".")[0]}: pip install "restainaug[{extra}]"'
        ) from None


def default_image() -> np.ndarray:
    """The embedded default image: ``skimage.data.immunohistochemistry()`` (512x512 uint8 RGB,
    DAB + hematoxylin, colon; no known copyright restrictions)."""
    return _require("skimage.data").immunohistochemistry()


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an RGB image file as uint8 ``(H, W, 3)``."""
    image_mod = _require("PIL.Image")
    try:
        with image_mod.open(path) as im:
            return np.array(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise ValueError(f"Cannot read image {path}: {e}") from None


def _display(channel: torch.Tensor) -> np.ndarray:
    hi = float(torch.quantile(channel.flatten()[::7], 0.995).clamp_min(1e-3))
    return (channel / hi).clamp(0, 1).numpy()


def render_demo(
    image: np.ndarray, transform: RestainTransform, n: int = 8, columns: int = 4, tile: int = 256
) -> tuple[np.ndarray, list[str]]:
    """Build the demo grid as a uint8 array, and the caption of each variant.

    Args:
        image: uint8 RGB ``(H, W, 3)``.
        transform: the transform to sample variants from (``p`` is ignored: all are re-stained).
        n: number of variants.
        columns: tiles per row.
        tile: tile size in pixels (images are resized to it).

    Returns:
        ``(grid, captions)``.
    """
    pil = _require("PIL.Image")
    draw_mod = _require("PIL.ImageDraw")
    font_mod = _require("PIL.ImageFont")
    tr = transform.translator
    x = torch.tensor(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        if_ = tr.to_if(x.to(tr.device))[0].cpu()
    nuc = _display(if_[tr.nuclear_index])
    mi = tr.marker_index
    mk = _display(if_[mi]) if mi is not None else np.zeros_like(nuc)
    composite = np.stack([mk, 0.8 * mk, nuc], axis=-1)
    panels = [
        (image, "original IHC"),
        ((composite * 255).astype(np.uint8), f"IF ({tr.name}): nuclear + marker"),
        (
            (np.repeat(nuc[..., None], 3, -1) * 255).astype(np.uint8),
            tr.channels[tr.nuclear_index].name,
        ),
        (
            (np.repeat(mk[..., None], 3, -1) * 255).astype(np.uint8),
            tr.channels[mi].name if mi is not None else "(no marker)",
        ),
    ]
    batch = np.repeat(image[None], n, axis=0)
    saved_p = transform.p
    transform.p = 1.0
    try:
        variants = transform(batch)
    finally:
        transform.p = saved_p
    captions = []
    for i in range(n):
        ops = describe(transform.ops, transform.params, i)
        captions.append("; ".join(ops) if ops else "(round trip only)")
        panels.append((variants[i], f"variant {i + 1}"))
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    text_h = 34
    font = font_mod.load_default()
    canvas = pil.new("RGB", (columns * tile, rows * (tile + text_h)), "white")
    pen = draw_mod.Draw(canvas)
    for k, (arr, title) in enumerate(panels):
        r, c = divmod(k, columns)
        im = pil.fromarray(arr).resize((tile, tile), pil.Resampling.BILINEAR)
        canvas.paste(im, (c * tile, r * (tile + text_h)))
        y = r * (tile + text_h) + tile + 2
        pen.text((c * tile + 4, y), title, fill="black", font=font)
        if k >= 4:
            cap = captions[k - 4]
            pen.text((c * tile + 4, y + 14), cap[: tile // 6], fill="dimgray", font=font)
    return np.asarray(canvas), captions


def run_demo(
    out: str | os.PathLike[str] = "restainaug-demo.png",
    image: str | os.PathLike[str] | None = None,
    model: str = "default",
    n: int = 8,
    seed: int = 0,
    device: str | None = None,
) -> Path:
    """Re-stain ``image`` (the embedded default when ``None``) and write the demo grid PNG.

    Returns:
        The path written.

    Raises:
        ValueError: for ``n < 1``, an unknown model, an unreadable image, or a CUDA device
            where CUDA is not available.
    """
    if n < 1:
        raise ValueError(f"n: expected at least 1 variant, got {n}.")
    device = None if device is None else resolve_device(device)
    arr = default_image() if image is None else read_rgb(image)
    t = RestainTransform(model=model, p=1.0, seed=seed, device=device)
    start = time.perf_counter()
    grid, captions = render_demo(arr, t, n=n)
    elapsed = time.perf_counter() - start
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _require("PIL.Image").fromarray(grid).save(out_path)
    source = "skimage.data.immunohistochemistry()" if image is None else str(image)
    print(f"restainaug demo: {source} ({arr.shape[1]}x{arr.shape[0]}), model {t.translator.name!r}")
    for i, cap in enumerate(captions, 1):
        print(f"  variant {i}: {cap}")
    print(f"  {n} variants in {elapsed:.2f} s; wrote {out_path}")
    return out_path
