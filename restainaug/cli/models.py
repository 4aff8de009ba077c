"""``restainaug models``: list the models the registry finds (offline, `restainaug.models`)."""

from __future__ import annotations

import argparse

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "list the available models"
DESCRIPTION = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``restainaug models`` has no options."""


def run(args: argparse.Namespace) -> int:
    """Print one line per model: its name and description; returns the exit status."""
    from ..models.registry import DEFAULT_MODEL, list_models, model_card

    for name in list_models():
        card = model_card(name)
        tag = " (default)" if name == DEFAULT_MODEL else ""
        desc = "analytic colour deconvolution (built in)" if card is None else card.description
        print(f"{name}{tag}: {desc}")
    return 0
