"""What the sub-command modules share: passing options on to the library."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["options"]


def options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options ``names`` of ``args`` as keyword arguments of the same names.

    For library functions whose parameters the options are named after.

    Examples:
        >>> options(argparse.Namespace(out="a.png", n=3, quiet=False), "out", "n")
        {'out': 'a.png', 'n': 3}
    """
    return {name: getattr(args, name) for name in names}
