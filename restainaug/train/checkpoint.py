"""Checkpoints that hold everything needed to continue a run exactly, written atomically.

A run's ``checkpoints/`` folder holds numbered files ``step-000500.pt`` and an index
``latest.json`` (``{"file": ..., "step": ..., "sha256": ...}``). A checkpoint file is
written under a temporary name and renamed; only then is the index replaced (atomically
too), so a crash at any moment leaves the index pointing at a complete, verified file.

Files are read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and
dicts only; loading a checkpoint never runs code from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch

from .._files import atomic_write, atomic_write_text
from .config import TrainConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "latest_checkpoint",
    "load_checkpoint",
    "resume_config",
    "save_checkpoint",
]

#: Version of the checkpoint layout written by this release.
CHECKPOINT_FORMAT = 1
_INDEX = "latest.json"


def save_checkpoint(folder: str | os.PathLike[str], state: dict[str, Any], keep: int = 0) -> Path:
    """Write ``state`` as ``folder/step-NNNNNN.pt`` and point ``latest.json`` at it.

    Args:
        folder: the checkpoint folder (created if needed).
        state: the checkpoint; must hold an int ``"step"``.
        keep: older numbered checkpoints to keep besides the new one (older ones are removed
            after the index points at the new file).

    Returns:
        The path of the written checkpoint.
    """
    folder = Path(folder)
    step = int(state["step"])
    buffer = io.BytesIO()
    torch.save({**state, "format": CHECKPOINT_FORMAT}, buffer)
    payload = buffer.getvalue()
    path = folder / f"step-{step:06d}.pt"
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))
    index = {"file": path.name, "step": step, "sha256": hashlib.sha256(payload).hexdigest()}
    atomic_write_text(folder / _INDEX, json.dumps(index, indent=2) + "\n")
    old = sorted(p for p in folder.glob("step-*.pt") if p != path)
    for p in old[: max(0, len(old) - keep)]:
        p.unlink(missing_ok=True)
    return path


def latest_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The checkpoint ``latest.json`` points at, or ``None`` when the folder has none."""
    index = Path(folder) / _INDEX
    if not index.is_file():
        return None
    try:
        name = json.loads(index.read_text(encoding="utf-8"))["file"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"Checkpoint index {index} is damaged ({e}); delete it to restart."
        ) from None
    return Path(folder) / name


def _expected_sha(path: Path) -> str | None:
    index = path.parent / _INDEX
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("sha256") if data.get("file") == path.name else None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint (a ``.pt`` file, or a run / checkpoint folder for its latest one).

    The file's sha256 is checked against the index when the index names it.

    Raises:
        FileNotFoundError: if there is no checkpoint at ``path``.
        ValueError: if the checkpoint is damaged, truncated, not a restainaug checkpoint, or
            from a newer release.
    """
    p = Path(path)
    if p.is_dir():
        folder = p / "checkpoints" if (p / "checkpoints").is_dir() else p
        found = latest_checkpoint(folder)
        if found is None:
            raise FileNotFoundError(f"No checkpoint in {folder} (no {_INDEX}).")
        p = found
    if not p.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {p}")
    payload = p.read_bytes()
    expected = _expected_sha(p)
    if expected is not None and hashlib.sha256(payload).hexdigest() != expected:
        raise ValueError(
            f"Checkpoint {p} is damaged: its sha256 does not match {p.parent / _INDEX}. Resume "
            "from an older step-*.pt file (pass its path) or start the run again."
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise ValueError(
            f"Checkpoint {p} is damaged or not a restainaug checkpoint ({type(e).__name__}: "
            f"{e}). Resume from an older step-*.pt file or start the run again."
        ) from None
    if not isinstance(state, dict) or "format" not in state or "step" not in state:
        raise ValueError(f"{p} is not a restainaug training checkpoint.")
    if int(state["format"]) > CHECKPOINT_FORMAT:
        raise ValueError(
            f"Checkpoint {p} has format {state['format']}, newer than this restainaug "
            f"understands ({CHECKPOINT_FORMAT}); upgrade restainaug."
        )
    return state


def resume_config(source: str | os.PathLike[str]) -> TrainConfig:
    """The config that continues a run, from its folder or one of its checkpoint files alone.

    The checkpoint holds the run's config; ``run.out`` becomes the run folder the checkpoint
    lies in, so a run that was moved continues where it is now.

    Args:
        source: a run folder, its ``checkpoints/`` folder (the latest checkpoint) or a
            checkpoint file ``RUN/checkpoints/step-*.pt``.

    Raises:
        FileNotFoundError: if there is no checkpoint at ``source``.
        ValueError: if the checkpoint is damaged or its config invalid.
    """
    saved = load_checkpoint(source)["config"]
    config = TrainConfig.from_dict(saved, source=f"checkpoint in {source}")
    run = Path(source)
    run = run.parent.parent if run.is_file() else run
    run = run.parent if run.name == "checkpoints" else run
    return dataclasses.replace(config, run=dataclasses.replace(config.run, out=str(run)))
