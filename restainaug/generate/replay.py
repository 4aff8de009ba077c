"""``regenerate``: rebuild one output of a generated data set from its record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .._validate import resolve_device
from ..data import Pair
from ..models.registry import load_model
from ..ops import Op
from ..params import decode_params
from ..transform import RestainTransform
from ..translator import Translator
from .fields import read_field, resolve_policy

__all__ = ["regenerate"]


def regenerate(
    manifest: str | os.PathLike[str],
    name: str,
    *,
    model: str | os.PathLike[str] | Translator | None = None,
    policy: Op | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Rebuild one output of a generated data set from its record.

    The source files must be unchanged (their sha256 is checked). The result equals the
    written image bit for bit when computed on the same kind of device (for the ``optical``
    translator on any device up to float rounding of the GPU).

    Args:
        manifest: the data set's ``manifest.json`` or its folder.
        name: the output's name, e.g. ``"img01_v3"``.
        model: the translator, when the record names none that loads (a `Translator` object
            was given to `generate`); its weights' sha256 must match the record.
        policy: the operation tree, for data sets made with a custom policy.
        device: where to run (``"cpu"`` when ``None``).

    Returns:
        The output image, uint8 ``(H, W, 3)``.

    Raises:
        ValueError: for an unknown name, changed source files, or a model or policy that
            differs from the record.
    """
    root = Path(manifest)
    root = root.parent if root.is_file() else root
    path = root / "records" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"No output named {name!r} in {root} (no {path}).")
    record = json.loads(path.read_text())
    src = record["source"]
    field = read_field(Pair(Path(src["image"]), Path(src["labels"])))
    for key in ("image_sha256", "labels_sha256"):
        if field.source[key] != src[key]:
            raise ValueError(
                f"{src['image']} or its labels changed since {name} was generated (their sha256 "
                "differs from the record)."
            )
    if record["params"] is None:
        return field.image
    info = record["model"]
    if model is None:
        if info["source"] is None:
            raise ValueError(f"{name} was made with a Translator object; pass it as model=.")
        model = info["source"]
    translator = model if isinstance(model, Translator) else load_model(model)
    sha = getattr(getattr(translator, "card", None), "sha256", None)
    if translator.name != info["name"] or sha != info["sha256"]:
        raise ValueError(
            f"model {translator.name!r} (sha256 {sha}) is not the one {name} was made with: "
            f"{info['name']!r} (sha256 {info['sha256']})."
        )
    if policy is None and record["policy"]["name"] == "custom":
        raise ValueError(f"{name} was made with a custom policy; pass it as policy=.")
    ops = policy if policy is not None else resolve_policy(record["policy"]["name"], translator)[0]
    if repr(ops) != record["policy"]["description"]:
        raise ValueError(f"policy {ops!r} differs from the one recorded for {name}.")
    transform = RestainTransform(translator, ops, p=1.0, seed=0, device=resolve_device(device))
    params = decode_params(ops, record["params"])
    return transform(field.image[None], field.labels[None], params=params)[0]
