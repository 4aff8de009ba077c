"""The params format: the parameters of one draw, their keys, drawing, seeds and JSON form.

A draw is a flat dict of tensors with the batch first (the *params*). Its keys follow the
operation tree:

| key                   | what                                                       |
|-----------------------|------------------------------------------------------------|
| ``"apply"``           | the transform's per-sample gate (`RestainTransform`'s p)   |
| ``"ops.apply"``       | the gate of the policy's root operation (its ``p``)        |
| ``"ops.<name>"``      | a parameter of the root operation (``param_space()``)      |
| ``"ops.<i>.apply"``   | the gate of child ``i`` of a container, and so on down     |

This module is the only place that builds or parses these keys and the only place where
restainaug draws random numbers from a transform's generator: `sample_params` walks the tree
once; `restainaug.policy.run` then applies it deterministically, so any draw can be replayed.
Generated data sets store a draw as JSON with `encode_params` and read it back with
`decode_params`; seeds of generated outputs and of DataLoader workers come from `mix_seed`.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .spaces import Bernoulli, Choice, Index, LogUniform, PerObject, Space, Subset, Uniform

if TYPE_CHECKING:
    from .ops import Op

__all__ = [
    "APPLY",
    "ROOT",
    "Params",
    "call_params",
    "check_params",
    "decode_params",
    "draw",
    "draw_call",
    "encode_params",
    "index_params",
    "key",
    "local_view",
    "mix_seed",
    "op_params",
    "owner",
    "sample_params",
    "template",
]

#: Parameters of a draw: a flat dict of tensors with the batch first.
Params = dict[str, torch.Tensor]

#: Name of a per-sample gate: the transform's (``"apply"``) and each operation's.
APPLY = "apply"
#: Key prefix of the policy's parameters (``"ops.apply"``, ``"ops.0.choice"``...).
ROOT = "ops"

_SHORT = 16  # arrays up to this many values are stored as JSON lists


def key(prefix: str, name: str | int) -> str:
    """The key of ``name`` (a parameter, a gate or a child index) under ``prefix``.

    Examples:
        >>> key("ops", 0), key("ops.0", APPLY)
        ('ops.0', 'ops.0.apply')
    """
    return f"{prefix}.{name}"


def owner(name: str) -> str:
    """The prefix of the operation a key belongs to (``""`` for the transform's gate).

    Examples:
        >>> owner("ops.0.3.fraction"), owner("apply")
        ('ops.0.3', '')
    """
    return name.rpartition(".")[0]


def local_view(params: Params, prefix: str) -> Params:
    """The params under ``prefix`` with the prefix removed (an operation's own view).

    Examples:
        >>> sorted(local_view({"ops.apply": 1, "ops.0.keep": 2, "apply": 3}, "ops"))
        ['0.keep', 'apply']
    """
    n = len(prefix) + 1
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def op_params(params: Params) -> Params:
    """The policy's params (the keys under `ROOT`), without the transform's gate."""
    return {k: v for k, v in params.items() if k.startswith(ROOT + ".")}


def call_params(params: Params) -> Params:
    """The transform's gate and the policy's params, without any other key."""
    return {k: v for k, v in params.items() if k == APPLY or k.startswith(ROOT + ".")}


def index_params(params: Params, idx: torch.Tensor | slice) -> Params:
    """The params of the samples ``idx`` (every tensor is indexed on its batch dimension)."""
    return {k: v[idx] for k, v in params.items()}


def draw(space: Space, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``n`` values from ``space`` on the CPU with ``generator``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> draw(Uniform(2.0, 2.0), 3, g).tolist()
        [2.0, 2.0, 2.0]
    """
    if isinstance(space, Uniform):
        return space.low + (space.high - space.low) * torch.rand(n, generator=generator)
    if isinstance(space, LogUniform):
        lo, hi = math.log(space.low), math.log(space.high)
        return torch.exp(lo + (hi - lo) * torch.rand(n, generator=generator))
    if isinstance(space, PerObject):
        return space.low + (space.high - space.low) * torch.rand(n, space.size, generator=generator)
    if isinstance(space, Bernoulli):
        return torch.rand(n, generator=generator) < space.p
    if isinstance(space, (Choice, Index)):
        k = len(space.values) if isinstance(space, Choice) else space.n
        w = (
            torch.ones(k)
            if space.weights is None
            else torch.tensor(space.weights, dtype=torch.float)
        )
        idx = torch.multinomial(w, n, replacement=True, generator=generator)
        return torch.tensor(space.values)[idx] if isinstance(space, Choice) else idx
    if isinstance(space, Subset):
        size = torch.randint(space.low, space.high + 1, (n, 1), generator=generator)
        rank = torch.rand(n, space.n, generator=generator).argsort(1).argsort(1)
        return rank < size
    raise TypeError(f"Cannot draw from {space!r}: not a restainaug.spaces object.")


def sample_params(
    op: Op, batch_size: int, generator: torch.Generator, prefix: str = ROOT
) -> Params:
    """Draw every parameter of the operation tree ``op`` for ``batch_size`` samples.

    Returns:
        A flat dict ``{"<prefix>[.<child>...].<name>": tensor with batch first}``.
    """
    params: Params = {key(prefix, APPLY): draw(Bernoulli(op.p), batch_size, generator)}
    for name, space in op.param_space().items():
        params[key(prefix, name)] = draw(space, batch_size, generator)
    for i, child in enumerate(op.children):
        params.update(sample_params(child, batch_size, generator, key(prefix, i)))
    return params


def draw_call(
    op: Op, batch_size: int, generator: torch.Generator, p: float | None = None
) -> Params:
    """The params of one transform call: its gate `APPLY`, then the policy's under `ROOT`.

    Args:
        op: the policy.
        batch_size: samples drawn.
        generator: the generator to draw from.
        p: probability of the gate, drawn first; ``None`` switches every sample on without
            a draw (a generated data set re-stains every output).
    """
    gate = (
        torch.ones(batch_size, dtype=torch.bool)
        if p is None
        else draw(Bernoulli(p), batch_size, generator)
    )
    return {APPLY: gate, **sample_params(op, batch_size, generator, ROOT)}


def template(op: Op) -> Params:
    """The params of one sample with the right keys, dtypes and shapes (values meaningless)."""
    return draw_call(op, 1, torch.Generator().manual_seed(0))


def check_params(params: Any, keys: Collection[str], batch_size: int) -> Params:
    """Check that ``params`` has exactly ``keys``, each a tensor with ``batch_size`` first.

    Returns:
        The params on the CPU.

    Raises:
        TypeError: if ``params`` is not a dict.
        ValueError: for missing or unexpected keys, or values of another batch size.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params: expected the dict from t.params, got {type(params).__name__}.")
    if set(params) != set(keys):
        missing, extra = sorted(set(keys) - set(params)), sorted(set(params) - set(keys))
        raise ValueError(
            f"params do not belong to this transform's policy: missing {missing}, "
            f"unexpected {extra}."
        )
    for k, v in params.items():
        if not isinstance(v, torch.Tensor) or v.ndim == 0 or v.shape[0] != batch_size:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(
                f"params[{k!r}]: expected a tensor with batch size {batch_size}, got {got}."
            )
    return {k: v.cpu() for k, v in params.items()}


def mix_seed(*values: int | str) -> int:
    """A 63-bit seed that depends on every value and on their order (blake2b of their repr).

    Examples:
        >>> mix_seed(0, "a", 1) == mix_seed(0, "a", 1) != mix_seed(0, "a", 2)
        True
    """
    digest = hashlib.blake2b(repr(values).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


# -- JSON codec of one sample -----------------------------------------------------------------


def _encode(v: torch.Tensor) -> Any:
    v = v[0]
    if v.ndim == 0:
        return v.item()
    if v.numel() <= _SHORT:
        return v.tolist()
    a = v.numpy()
    raw = a.astype(a.dtype.newbyteorder("<")).tobytes()  # little-endian, C order
    return {"dtype": str(a.dtype), "base64": base64.b64encode(raw).decode()}


def encode_params(params: Params, ran: Collection[str]) -> dict[str, Any]:
    """JSON-ready params of one sample: the transform's gate and the operations in ``ran``.

    Parameters of operations that did not run (a ``OneOf`` branch not chosen, a gate that
    said no) are left out: `decode_params` puts them back switched off, which gives the same
    result, because an operation that does not run reads none of its values. Single values
    become JSON numbers or booleans (a float32 value converts to a float and back exactly),
    short arrays lists, and per-object tables base64 of their little-endian bytes.

    Args:
        params: the params of a batch of one: `APPLY` and the policy's.
        ran: key prefixes of the operations that ran (see `restainaug.policy.applied`).

    Returns:
        ``{key: value}`` with JSON numbers, booleans, lists or ``{"dtype", "base64"}`` tables.
    """
    return {k: _encode(v) for k, v in params.items() if k == APPLY or owner(k) in ran}


def _decode(value: Any, like: torch.Tensor, name: str) -> torch.Tensor:
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
            f"params[{name!r}]: cannot read {str(value)[:60]!r} as {like.dtype} "
            f"{tuple(like.shape)}: {e}"
        ) from None


def decode_params(op: Op, data: dict[str, Any]) -> Params:
    """The params of a batch of one from `encode_params` output; left-out operations are off.

    Raises:
        ValueError: if ``data`` has keys the policy does not, or values of the wrong size.
    """
    like = template(op)
    unknown = sorted(set(data) - set(like))
    if unknown:
        raise ValueError(
            f"The recorded parameters do not belong to this policy: unknown keys {unknown[:5]}."
        )
    return {
        k: _decode(data[k], v, k) if k in data else torch.zeros_like(v) for k, v in like.items()
    }
