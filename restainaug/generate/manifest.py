"""Records and manifest of a generated data set (see `restainaug.generate`).

Each output's record holds its parameters, stored with `restainaug.params.encode_params`;
``manifest.json`` holds the settings and every record without its parameters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .._files import atomic_write_text

__all__ = [
    "MANIFEST_VERSION",
    "finish_manifest",
    "remove_stale_temporaries",
    "sha256_of",
    "start_manifest",
]

MANIFEST_VERSION = 1


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_manifest(root: Path, settings: dict[str, Any]) -> Path:
    """Write an incomplete manifest with ``settings``, or check those of an existing one.

    Raises:
        ValueError: if ``root`` holds a data set made with other settings.
    """
    path = root / "manifest.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if {k: old.get(k) for k in settings} != json.loads(json.dumps(settings)):
            changed = sorted(
                k for k in settings if old.get(k) != json.loads(json.dumps(settings[k]))
            )
            raise ValueError(
                f"{root} holds a data set made with other settings ({', '.join(changed)} differ; "
                f"see {path}); choose another folder or delete it."
            )
    else:
        manifest = {"version": MANIFEST_VERSION, **settings, "complete": False, "outputs": []}
        atomic_write_text(path, json.dumps(manifest, indent=1))
    return path


def finish_manifest(root: Path, settings: dict[str, Any], names: list[str]) -> bool:
    """Rebuild ``manifest.json`` from the records of ``names`` when all exist.

    The content depends only on the records, so processes that do this at the same time
    write the same file.

    Returns:
        Whether the manifest is complete.
    """
    records = [root / "records" / f"{name}.json" for name in names]
    if not all(r.is_file() for r in records):
        return False
    entries = []
    for r in records:
        record = json.loads(r.read_text())
        entries.append({k: v for k, v in record.items() if k not in ("params", "model", "policy")})
        entries[-1]["record"] = r.relative_to(root).as_posix()
    manifest = {"version": MANIFEST_VERSION, **settings, "complete": True, "outputs": entries}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1))
    return True


def remove_stale_temporaries(root: Path) -> None:
    """Delete temporary files an interrupted writer left (only safe with one process)."""
    for folder in (root, root / "images", root / "labels", root / "records"):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
