"""Old module paths that keep working after their module moved, with a DeprecationWarning.

A module that moved leaves a stub at its old path whose module-level ``__getattr__`` (PEP 562)
comes from `moved_module`: every public name of the new module is served from the old path,
and each use says where the name lives now. Importing the stub alone warns about nothing, so
tools that walk the package (doctest collection, API docs) stay quiet.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_module"]


def moved_module(old: str, new: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a stub left at ``old`` for the module ``new``.

    Args:
        old: the old module path, e.g. ``"restainaug.metrics"``.
        new: the module that holds the names now, e.g. ``"restainaug.evaluation.metrics"``.

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level in the stub.

    Examples:
        >>> import warnings
        >>> getattr_, dir_ = moved_module("old.path", "restainaug.evaluation.metrics")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     auc = getattr_("auc")
        >>> auc.__module__, caught[0].category.__name__
        ('restainaug.evaluation.metrics', 'DeprecationWarning')
        >>> "auc" in dir_()
        True
    """

    def public() -> list[str]:
        target = importlib.import_module(new)
        names = getattr(target, "__all__", None)
        return list(names) if names is not None else [n for n in vars(target) if n[0] != "_"]

    def __getattr__(name: str) -> Any:
        if name == "__all__" or (name[:1] != "_" and name in public()):
            warnings.warn(
                f"{old} is deprecated: {old}.{name} moved to {new}; import it from there.",
                DeprecationWarning,
                stacklevel=2,
            )
            return public() if name == "__all__" else getattr(importlib.import_module(new), name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(public())

    return __getattr__, __dir__
