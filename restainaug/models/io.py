"""Model files: safetensors weights plus a JSON model card with a sha256 checksum.

A model ``NAME`` is two files side by side:

* ``NAME.safetensors``: the tensors of both generators (``ihc_to_if.*``, ``if_to_ihc.*``);
  its header metadata holds the model card too, so the weights alone still say what they are;
* ``NAME.json``: the model card (`ModelCard`): architecture of both generators,
  channel names and roles, value ranges, tiling, provenance, licence, metrics and the sha256
  of the weights file, checked on every load.

No pickle is involved anywhere: loading a model never executes code from the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._files import atomic_write, atomic_write_text
from ..translator import Channel
from .architectures import build_generator
from .learned import GeneratorTranslator

__all__ = [
    "FORMAT_VERSION",
    "ModelCard",
    "load_card",
    "load_translator",
    "save_model",
    "sha256_file",
]

#: Version of the model file format written by this release.
FORMAT_VERSION = 1
_CARD_KEY = "restainaug.card"


@dataclass
class ModelCard:
    """Everything needed to rebuild, verify and cite a learned translator.

    Attributes:
        name: registry name of the model.
        channels: the IF channels, in order, with their roles.
        ihc_to_if: generator config of the IHC -> IF network (see
            `restainaug.models.architectures.build_generator`).
        if_to_ihc: generator config of the IF -> IHC network.
        weights: file name of the safetensors weights, relative to the card.
        sha256: checksum of the weights file.
        version: version of the model (not of the library).
        description: one paragraph for the model list and docs.
        licence: licence of the weights (mind the licences of the training data).
        tile_size: images larger than this run in overlapping tiles.
        tile_overlap: overlap of tiles in pixels; ``None`` uses twice the receptive field.
        value_range: IHC and IF value ranges seen by the user, and the networks' range.
        provenance: how the model was trained (data, command, steps, date, code version).
        metrics: evaluation results.
        format_version: version of this file format.
    """

    name: str
    channels: list[Channel]
    ihc_to_if: dict[str, Any]
    if_to_ihc: dict[str, Any]
    weights: str = ""
    sha256: str = ""
    version: str = "0.0.0"
    description: str = ""
    licence: str = "unspecified"
    tile_size: int = 512
    tile_overlap: int | None = None
    value_range: dict[str, list[float]] = field(
        default_factory=lambda: {"ihc": [0.0, 1.0], "if": [0.0, 1.0], "network": [-1.0, 1.0]}
    )
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The card as plain JSON-ready data."""
        d = dataclasses.asdict(self)
        d["channels"] = [{"name": c.name, "role": c.role} for c in self.channels]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model card") -> ModelCard:
        """Build a card from parsed JSON, with errors that name the file and the field.

        Raises:
            ValueError: for missing or unknown fields, or a newer format version.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in data
        )
        if unknown or missing:
            raise ValueError(f"{source}: missing fields {missing}, unknown fields {unknown}.")
        if int(data.get("format_version", 1)) > FORMAT_VERSION:
            raise ValueError(
                f"{source}: format version {data['format_version']} is newer than this "
                f"restainaug understands ({FORMAT_VERSION}); upgrade restainaug."
            )
        try:
            channels = [Channel(str(c["name"]), c["role"]) for c in data["channels"]]
        except (KeyError, TypeError) as e:
            raise ValueError(
                f"{source}: 'channels' must be a list of {{'name': ..., 'role': ...}}: {e}"
            ) from None
        return cls(**{**data, "channels": channels})


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(
    translator: GeneratorTranslator, path: str | os.PathLike[str], card: ModelCard
) -> Path:
    """Write ``translator``'s weights and ``card`` as ``<path>.safetensors`` + ``<path>.json``.

    Both files are written atomically (temporary file, then rename). The card's ``weights``,
    ``sha256`` and ``channels`` fields are filled in from what is written.

    Args:
        translator: the generator pair to save.
        path: the destination without suffix (a ``.json`` or ``.safetensors`` suffix is dropped).
        card: the model card; ``ihc_to_if``/``if_to_ihc`` must describe the networks.

    Returns:
        The path of the written JSON card.
    """
    stem = Path(path)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    card = dataclasses.replace(
        card, channels=list(translator.channels), weights=weights.name, sha256=""
    )
    tensors = {
        f"{part}.{k}": v.detach().cpu().contiguous()
        for part in ("ihc_to_if", "if_to_ihc")
        for k, v in getattr(translator, part).state_dict().items()
    }
    header = {_CARD_KEY: json.dumps(card.to_dict(), sort_keys=True)}
    atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata=header))
    card.sha256 = sha256_file(weights)
    card_path = stem.with_suffix(".json")
    text = json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_text(card_path, text)
    return card_path


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate a JSON model card.

    Raises:
        ValueError: if the file is not valid JSON or not a model card.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"Cannot read model card {p}: {e}") from None
    return ModelCard.from_dict(data, source=str(p))


def load_translator(card_path: str | os.PathLike[str], verify: bool = True) -> GeneratorTranslator:
    """Load a learned translator from its JSON card (and the weights file it names).

    Args:
        card_path: path of the ``.json`` card.
        verify: check the weights' sha256 against the card (leave on; it costs milliseconds).

    Raises:
        ValueError: unreadable card, missing or damaged weights, checksum mismatch, or
            tensors that do not fit the architecture in the card.
    """
    card_path = Path(card_path)
    card = load_card(card_path)
    weights = card_path.parent / card.weights
    if not weights.is_file():
        raise ValueError(
            f"Model {card.name!r}: weights file {weights} named by {card_path} is missing."
        )
    if verify:
        actual = sha256_file(weights)
        if actual != card.sha256:
            raise ValueError(
                f"Model {card.name!r}: checksum mismatch for {weights}: sha256 is {actual}, "
                f"the card "
                f"{card_path.name} expects {card.sha256}. The file is damaged or was modified; "
                "reinstall restainaug or export the model again."
            )
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"Model {card.name!r}: cannot read weights {weights}: {e}") from None
    n_if = len(card.channels)
    for part, cin, cout in (("ihc_to_if", 3, n_if), ("if_to_ihc", n_if, 3)):
        cfg = getattr(card, part)
        if (cfg.get("in_channels"), cfg.get("out_channels")) != (cin, cout):
            raise ValueError(
                f"Model {card.name!r}: {part} maps {cfg.get('in_channels')} -> "
                f"{cfg.get('out_channels')} channels, expected {cin} -> {cout}."
            )
    nets = {}
    for part in ("ihc_to_if", "if_to_ihc"):
        net = build_generator(getattr(card, part))
        state = {k[len(part) + 1 :]: v for k, v in tensors.items() if k.startswith(part + ".")}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(
                f"Model {card.name!r}: weights in {weights} do not fit the {part} architecture "
                f"{getattr(card, part)}: {e}"
            ) from None
        nets[part] = net
    translator = GeneratorTranslator(
        nets["ihc_to_if"],
        nets["if_to_ihc"],
        channels=card.channels,
        name=card.name,
        tile_size=card.tile_size,
        tile_overlap=card.tile_overlap,
    )
    translator.card = card
    return translator
