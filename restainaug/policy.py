"""Composing operations: containers, applying a drawn policy, role checks, descriptions.

A policy is a tree of operations (`restainaug.ops`) and containers (`Sequential`, `OneOf`,
`SomeOf`). `restainaug.params.sample_params` walks the tree once and returns a flat dict of
per-sample tensors (the *params*, see `restainaug.params`): ``"ops.apply"``,
``"ops.0.choice"``, ``"ops.0.3.1.fraction"``... `run` applies the tree deterministically from
those params, computing each operation only on the samples it applies to; `applied` lists the
operations that ran for one sample, `describe` says what they did.

The named policies, the default included, live in `restainaug.presets`. ``default_policy``
(from `restainaug.presets`) and ``draw``, ``index_params``, ``sample_params`` and ``Params``
(from `restainaug.params`) can also be imported from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from .context import IFContext
from .ops import Op
from .params import APPLY, ROOT, Params, index_params, key, local_view
from .params import draw as draw
from .params import sample_params as sample_params
from .spaces import Index, PerObject, Space, Subset, Uniform

if TYPE_CHECKING:
    from .translator import Translator

__all__ = [
    "OneOf",
    "Sequential",
    "SomeOf",
    "applied",
    "check_policy",
    "describe",
    "roles_needed",
    "run",
]


def run(
    op: Op, x: torch.Tensor, params: Params, ctx: IFContext, prefix: str = ROOT
) -> torch.Tensor:
    """Apply ``op`` to the samples whose ``<prefix>.apply`` gate is set; others are untouched.

    Shape:
        - x: `(B, C, H, W)`
        - output: `(B, C, H, W)`
    """
    local = local_view(params, prefix)
    active = local[APPLY]
    if not bool(active.any()):
        return x
    if bool(active.all()):
        return op.apply(x, local, ctx)
    idx = active.nonzero()[:, 0]
    dev_idx = idx.to(x.device)
    out = x.clone()
    out[dev_idx] = op.apply(x[dev_idx], index_params(local, idx), ctx.subset(dev_idx))
    return out


def _check_ops(ops: Sequence[Op], what: str) -> tuple[Op, ...]:
    ops = tuple(ops)
    if not ops:
        raise ValueError(f"{what}: needs at least one operation.")
    for o in ops:
        if not isinstance(o, Op):
            raise TypeError(f"{what}: expected restainaug operations, got {type(o).__name__}.")
    return ops


class Sequential(Op):
    """Apply operations one after the other.

    Args:
        *ops: the operations.
        p: probability per sample of applying the whole sequence.

    Examples:
        >>> from restainaug.ops import MarkerToNuclei, RemoveMarker
        >>> Sequential(RemoveMarker(), MarkerToNuclei(), p=0.5).p
        0.5
    """

    def __init__(self, *ops: Op, p: float = 1.0) -> None:
        self.children = _check_ops(ops, "Sequential")
        self._set_p(p)

    def _gate(self, params: Params, i: int) -> torch.Tensor:
        """The gate of child ``i``: its own draw (subclasses add their choice)."""
        return params[key(str(i), APPLY)]

    def gated(self, params: Params) -> Params:
        """``params`` with every child's ``apply`` gate combined with this container's choice."""
        params = dict(params)
        for i in range(len(self.children)):
            params[key(str(i), APPLY)] = self._gate(params, i)
        return params

    def apply(self, x: torch.Tensor, params: Params, ctx: IFContext) -> torch.Tensor:
        params = self.gated(params)
        for i, child in enumerate(self.children):
            x = run(child, x, params, ctx, str(i))
        return x

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.children))
        return f"{type(self).__name__}({inner}, p={self.p})"


class OneOf(Sequential):
    """Apply exactly one of the operations per sample, chosen with ``weights``.

    Args:
        *ops: the candidate operations.
        weights: relative probabilities (uniform by default).
        p: probability per sample of applying any.
    """

    def __init__(self, *ops: Op, weights: Sequence[float] | None = None, p: float = 1.0) -> None:
        super().__init__(*ops, p=p)
        self.choice = Index(len(self.children), None if weights is None else tuple(weights))

    def param_space(self) -> dict[str, Space]:
        return {"choice": self.choice}

    def _gate(self, params: Params, i: int) -> torch.Tensor:
        return params[key(str(i), APPLY)] & (params["choice"] == i)

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.children))
        return f"OneOf({inner}, weights={self.choice.weights}, p={self.p})"


class SomeOf(Sequential):
    """Apply a random subset of the operations per sample, in the order given.

    Args:
        *ops: the candidate operations.
        n: how many to apply: a number or a ``(low, high)`` range (default: 1 to all).
        p: probability per sample of applying any.
    """

    def __init__(self, *ops: Op, n: int | tuple[int, int] | None = None, p: float = 1.0) -> None:
        super().__init__(*ops, p=p)
        k = len(self.children)
        lo, hi = (1, k) if n is None else (n, n) if isinstance(n, int) else n
        self.pick = Subset(k, int(lo), int(hi))

    def param_space(self) -> dict[str, Space]:
        return {"pick": self.pick}

    def _gate(self, params: Params, i: int) -> torch.Tensor:
        return params[key(str(i), APPLY)] & params["pick"][:, i]

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.children))
        return f"SomeOf({inner}, n=({self.pick.low}, {self.pick.high}), p={self.p})"


def roles_needed(op: Op) -> frozenset[str]:
    """Channel roles an operation tree needs (``"nuclear"``, ``"marker"``)."""
    return frozenset(op.roles).union(*(roles_needed(c) for c in op.children))


def check_policy(ops: Op, translator: Translator) -> None:
    """Check that ``ops`` is an operation tree that ``translator``'s channels can serve.

    Raises:
        TypeError: if ``ops`` is not a `restainaug.ops.Op`.
        ValueError: if the tree needs a channel role the translator lacks, or addresses a
            channel index beyond its channels.
    """
    if not isinstance(ops, Op):
        raise TypeError(
            f"ops: expected a restainaug operation or policy (restainaug.ops / restainaug.policy), "
            f"got {type(ops).__name__}."
        )
    missing = roles_needed(ops) - {c.role for c in translator.channels}
    if missing:
        raise ValueError(
            f"ops need channel roles {sorted(missing)} that translator {translator.name!r} lacks "
            f"(its channels: {[(c.name, c.role) for c in translator.channels]})."
        )
    stack = [ops]
    while stack:
        op = stack.pop()
        channel = getattr(op, "channel", None)
        if isinstance(channel, int) and channel >= translator.num_channels:
            raise ValueError(
                f"{type(op).__name__}: channel index {channel} is out of range for translator "
                f"{translator.name!r} with {translator.num_channels} channels."
            )
        stack.extend(op.children)


def applied(
    op: Op, params: Params, sample: int = 0, prefix: str = ROOT
) -> Iterator[tuple[str, Op, Params]]:
    """The operations that ran for one sample, as `run` decides, containers included.

    Args:
        op: the policy the params were drawn for.
        params: params from `restainaug.params.sample_params` (or ``RestainTransform.params``).
        sample: which sample of the batch.
        prefix: the key prefix of ``op`` in ``params``.

    Yields:
        ``(prefix, operation, its local params)`` in the order they run; a container's
        children see their gates combined with its choice.

    Examples:
        >>> from restainaug.ops import RemoveMarker
        >>> g = torch.Generator().manual_seed(0)
        >>> op = Sequential(RemoveMarker())
        >>> [name for name, _, _ in applied(op, sample_params(op, 1, g))]
        ['ops', 'ops.0']
    """
    yield from _applied(op, local_view(params, prefix), sample, prefix)


def _applied(op: Op, local: Params, sample: int, name: str) -> Iterator[tuple[str, Op, Params]]:
    if not bool(local[APPLY][sample]):
        return
    yield name, op, local
    if isinstance(op, Sequential):
        gates = op.gated(local)
        for i, child in enumerate(op.children):
            yield from _applied(child, local_view(gates, str(i)), sample, key(name, i))


def describe(op: Op, params: Params, sample: int = 0, prefix: str = ROOT) -> list[str]:
    """Human-readable list of the operations applied to one sample, with their values.

    Args:
        op: the policy the params were drawn for.
        params: params from `sample_params` (or ``RestainTransform.params``).
        sample: which sample of the batch.
        prefix: the key prefix of ``op`` in ``params``.

    Returns:
        e.g. ``["RemoveMarker(keep=0)", "MarkerToNuclei(fraction=0.42, intensity=0.6)"]``.

    Examples:
        >>> from restainaug.ops import RemoveMarker
        >>> g = torch.Generator().manual_seed(0)
        >>> op = Sequential(RemoveMarker())
        >>> describe(op, sample_params(op, 1, g))
        ['RemoveMarker(keep=0)']
    """
    return [
        _describe_one(o, local, sample)
        for _, o, local in applied(op, params, sample, prefix)
        if not isinstance(o, Sequential)
    ]


def _describe_one(op: Op, local: Params, sample: int) -> str:
    space = op.param_space()
    shown = [k for k in space if not isinstance(space[k], PerObject)]
    varying = [k for k in shown if not _is_fixed(space[k])]
    items = [f"{k}={float(local[k][sample]):.3g}" for k in (varying or shown)]
    channel = getattr(op, "channel", None)
    if channel is not None:
        items.insert(0, str(channel))
    return f"{type(op).__name__}({', '.join(items)})"


def _is_fixed(space: Space) -> bool:
    return isinstance(space, Uniform) and space.low == space.high


def __getattr__(name: str) -> Any:
    # default_policy lives in restainaug.presets, which builds on this module: import it late.
    if name == "default_policy":
        from .presets import default_policy

        return default_policy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
