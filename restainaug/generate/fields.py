"""The fields of a data set and the outputs planned from them, with their seeds and settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Pair
from ..ops import Op
from ..params import mix_seed
from ..presets import policy_preset
from ..translator import Translator
from .manifest import sha256_of

__all__ = ["Field", "Output", "model_info", "output_seed", "read_field", "resolve_policy"]


def output_seed(seed: int, stem: str, variant: int) -> int:
    """The seed of variant ``variant`` of the field ``stem`` in a data set drawn with ``seed``.

    Examples:
        >>> output_seed(0, "a", 1) == output_seed(0, "a", 1) != output_seed(0, "a", 2)
        True
    """
    return mix_seed(int(seed), stem, int(variant))


@dataclass(frozen=True)
class Output:
    """Output ``variant`` of the field ``pair``: its place in the data set and its seed."""

    index: int
    pair: Pair
    variant: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.pair.image.stem}_v{self.variant}"


@dataclass
class Field:
    """A field read from disk: 8-bit RGB image, labels, and where they came from."""

    image: np.ndarray
    labels: np.ndarray
    source: dict[str, str]


def read_field(pair: Pair) -> Field:
    """Read an image and its labels as 8-bit RGB (an alpha channel is dropped).

    Raises:
        ValueError: for an image that is not 8-bit RGB.
    """
    image, labels = pair.read()
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{pair.image}: expected an 8-bit RGB image, got dtype {image.dtype} and shape "
            f"{image.shape}; convert it to 8-bit RGB first."
        )
    source = {
        "image": str(pair.image.resolve()),
        "labels": str(pair.labels.resolve()),
        "image_sha256": sha256_of(pair.image),
        "labels_sha256": sha256_of(pair.labels),
    }
    return Field(np.ascontiguousarray(image), labels, source)


def resolve_policy(policy: str | Op, translator: Translator) -> tuple[Op, dict[str, str]]:
    """The operation tree of a preset name or an Op, and how the manifest records it.

    Raises:
        TypeError: for anything else.
    """
    if isinstance(policy, Op):
        ops, name = policy, "custom"
    elif isinstance(policy, str):
        ops, name = policy_preset(policy, translator.marker_index is not None), policy
    else:
        raise TypeError(f"policy: expected a name or an Op, got {type(policy).__name__}.")
    return ops, {"name": name, "description": repr(ops)}


def model_info(model: Any, translator: Translator) -> dict[str, Any]:
    """How the manifest records the model: name, source path or name, weights' sha256."""
    source = None
    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        if Path(source).exists():
            source = str(Path(source).resolve())
    card = getattr(translator, "card", None)
    return {"name": translator.name, "source": source, "sha256": getattr(card, "sha256", None)}
