"""Records and manifest of a generated data set (see `restainaug.generate`).

Parameters of one draw become JSON with `encode_params`, which keeps only what shaped the
output: the parameters of operations that ran. Operations that did not run (a ``OneOf``
branch not chosen, a gate that said no) are left out; `decode_params` puts them back
switched off, which gives the same result because an operation that does not run reads none
of its values. Single values become JSON numbers or booleans (a float32 value converts to a
float and back exactly), short arrays lists, and per-object tables (1024 values) base64 of
their little-endian bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._files import atomic_write_text
from .ops import Op
from .policy import Params, Sequential, sample_params

__all__ = [
    "MANIFEST_VERSION",
    "decode_params",
    "encode_params",
    "finish_manifest",
    "remove_stale_temporaries",
    "sha256_of",
    "start_manifest",
    "template",
]

MANIFEST_VERSION = 1

_SHORT = 16  # arrays up to this many values are stored as JSON lists


def _local(params: Params, prefix: str) -> Params:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def _ran(op: Op, local: Params, name: str, found: set[str]) -> None:
    # Mirrors policy.run: an operation runs when its (container-gated) apply is set.
    if not bool(local["apply"][0]):
        return
    found.add(name)
    if isinstance(op, Sequential):
        gates = op.gated(local)
        for i, child in enumerate(op.children):
            _ran(child, _local(gates, str(i)), f"{name}.{i}", found)


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


def template(ops: Op) -> Params:
    """Parameters of one sample with the right keys, dtypes and shapes (values meaningless)."""
    return {
        "apply": torch.ones(1, dtype=torch.bool),
        **sample_params(ops, 1, torch.Generator().manual_seed(0), prefix="ops"),
    }


def _encode(v: torch.Tensor) -> Any:
    v = v[0]
    if v.ndim == 0:
        return v.item()
    if v.numel() <= _SHORT:
        return v.tolist()
    a = v.numpy()
    raw = a.astype(a.dtype.newbyteorder("<")).tobytes()  # little-endian, C order
    return {"dtype": str(a.dtype), "base64": base64.b64encode(raw).decode()}


def encode_params(ops: Op, params: Params) -> dict[str, Any]:
    """JSON-ready parameters of one sample, without those of operations that did not run.

    Args:
        ops: the policy the parameters were drawn for (prefix ``"ops"``).
        params: parameters of a batch of one: ``"apply"`` and ``"ops.*"``.

    Returns:
        ``{key: value}`` with JSON numbers, booleans, lists or ``{"dtype", "base64"}`` tables.
    """
    ran: set[str] = set()
    _ran(ops, _local(params, "ops"), "ops", ran)
    return {k: _encode(v) for k, v in params.items() if k == "apply" or _owner(k) in ran}


def _decode(value: Any, like: torch.Tensor, key: str) -> torch.Tensor:
    try:
        if isinstance(value, dict):
            raw = base64.b64decode(value["base64"], validate=True)
            dtype = np.dtype(value["dtype"]).newbyteorder("<")
            t = torch.from_numpy(np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")))
        else:
            t = torch.tensor(value)
        return t.to(like.dtype).reshape(like.shape)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(
            f"params[{key!r}]: cannot read {str(value)[:60]!r} as {like.dtype} {tuple(like.shape)}"
            f": {e}"
        ) from None


def decode_params(ops: Op, data: dict[str, Any]) -> Params:
    """Parameters of a batch of one from `encode_params` output; left-out operations are off.

    Raises:
        ValueError: if ``data`` has keys the policy does not, or values of the wrong size.
    """
    like = template(ops)
    unknown = sorted(set(data) - set(like))
    if unknown:
        raise ValueError(
            f"The recorded parameters do not belong to this policy: unknown keys {unknown[:5]}."
        )
    return {
        k: _decode(data[k], v, k) if k in data else torch.zeros_like(v) for k, v in like.items()
    }


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
