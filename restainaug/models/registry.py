"""Named models, found offline.

`load_model` resolves a name in this fixed order and stops at the first match:

1. ``"default"`` is replaced by `DEFAULT_MODEL`;
2. built-in analytic translators (``"optical"``);
3. model cards (``*.json``) shipped inside the package (``restainaug/pretrained``, installed
   from the repository's ``pretrained/`` folder; that folder itself when restainaug is
   imported from a source checkout that was not installed);
4. model cards in the folders listed in the environment variable ``RESTAINAUG_MODEL_PATH``
   (separated by ``os.pathsep``), in order;
5. a path to a model card (``.json``), a weights file (``.safetensors`` with its card next
   to it) or a folder holding exactly one card.

Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from ..stains import OpticalTranslator
from ..translator import Translator
from .io import ModelCard, load_card, load_translator

__all__ = ["DEFAULT_MODEL", "list_models", "load_model", "model_card"]

#: What ``model="default"`` means: the learned translator shipped in ``restainaug/pretrained``
#: (model card: ``docs/model-card.md``). ``"optical"`` stays available under its own name.
DEFAULT_MODEL = "restain-unmix"

_BUILTIN: dict[str, Callable[[], Translator]] = {"optical": OpticalTranslator}


def _package_dir() -> Path | None:
    try:
        path = Path(str(resources.files("restainaug.pretrained")))
    except ModuleNotFoundError:
        # Imported from a source checkout without installing: use its pretrained/ folder.
        path = Path(__file__).resolve().parents[2] / "pretrained"
    return path if path.is_dir() else None


def _search_dirs() -> list[Path]:
    dirs = []
    pkg = _package_dir()
    if pkg is not None:
        dirs.append(pkg)
    for entry in os.environ.get("RESTAINAUG_MODEL_PATH", "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry).expanduser())
    return dirs


def _cards() -> Iterator[tuple[str, Path]]:
    """(name, card path) for every card in the search folders, first occurrence wins."""
    seen: set[str] = set()
    for d in _search_dirs():
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.json")):
            try:
                name = load_card(path).name
            except ValueError:
                continue  # not a model card (e.g. an index or notes); skipped silently
            if name not in seen:
                seen.add(name)
                yield name, path


def list_models() -> list[str]:
    """Names that `load_model` accepts (besides paths and ``"default"``).

    Examples:
        >>> "optical" in list_models()
        True
    """
    return sorted({*_BUILTIN, *(name for name, _ in _cards())})


def _card_path_from_path(path: Path) -> Path:
    if path.is_dir():
        cards = sorted(path.glob("*.json"))
        if len(cards) != 1:
            raise ValueError(
                f"Model folder {path} holds {len(cards)} .json cards; pass the card's path instead."
            )
        return cards[0]
    if path.suffix == ".safetensors":
        card = path.with_suffix(".json")
        if not card.is_file():
            raise ValueError(
                f"Weights {path} have no model card {card.name} next to them; the card holds the "
                "checksum. Export models with restainaug.models.save_model."
            )
        return card
    if path.suffix == ".json":
        return path
    raise ValueError(f"Model path {path}: expected a .json card, a .safetensors file or a folder.")


def _resolve(name: str) -> str | Path:
    if name == "default":
        name = DEFAULT_MODEL
    if name in _BUILTIN:
        return name
    for card_name, path in _cards():
        if card_name == name:
            return path
    path = Path(name).expanduser()
    if path.exists():
        return _card_path_from_path(path)
    raise ValueError(
        f"No model named {name!r}. Available models: {list_models()}. Pass one of these names, "
        "a path to a model card (.json), or add a folder of models to RESTAINAUG_MODEL_PATH."
    )


def load_model(name: str | os.PathLike[str] = "default", *, verify: bool = True) -> Translator:
    """Load a translator by registry name or path, offline, frozen and on the CPU.

    Args:
        name: ``"default"``, a name from `list_models`, or a path (see the module
            docstring for the order in which names are resolved).
        verify: check the weights' sha256 against the model card.

    Returns:
        The translator, in inference mode with gradients disabled.

    Raises:
        TypeError: if ``name`` is not a string or path.
        ValueError: for an unknown name, a damaged or tampered weights file, or a card that
            does not describe the weights.

    Examples:
        >>> load_model("optical").name
        'optical'
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"model: expected a name or path, got {type(name).__name__}.")
    target = _resolve(os.fspath(name))
    if isinstance(target, str):
        translator = _BUILTIN[target]()
    else:
        translator = load_translator(target, verify=verify)
    return translator.requires_grad_(False).eval()


def model_card(name: str | os.PathLike[str]) -> ModelCard | None:
    """The model card of a named or saved model; ``None`` for built-in analytic translators.

    Raises:
        ValueError: for an unknown name.

    Examples:
        >>> model_card("optical") is None
        True
    """
    target = _resolve(os.fspath(name))
    return None if isinstance(target, str) else load_card(target)
