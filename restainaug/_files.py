"""Atomic file writes: a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text"]

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a sibling temporary name, then rename it to ``path``.

    Parent folders are created. The file gets the usual permissions (``0o666`` minus the
    umask), even when the writer creates it private (``safetensors`` does). On error the
    temporary file is removed and ``path`` is left as it was.

    Returns:
        ``path`` as a ``Path``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp"))
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
