"""What the documentation tells users to run or believe matches the library."""

from __future__ import annotations

import re
from pathlib import Path

from restainaug import DEFAULT_MODEL, list_models

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.md"))


def _calls(text: str, name: str) -> list[str]:
    """The argument lists of every ``name(...)`` call in ``text`` (balanced parentheses)."""
    calls = []
    for match in re.finditer(rf"\b{name}\(", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                calls.append(text[start:i])
                break
    return calls


def test_every_stardist_config_turns_tensorboard_off() -> None:
    # StarDist's default train_tensorboard=True raises TBNotInstalledError with tensorflow-cpu.
    found = {
        path.relative_to(ROOT).as_posix(): _calls(path.read_text(), "Config2D")
        for path in DOCS + EXAMPLES
    }
    calls = [(path, args) for path, all_args in found.items() for args in all_args]
    assert {path for path, _ in calls} >= {
        "docs/integrations.md",
        "examples/stardist/train_stardist.py",
    }
    assert [
        path for path, args in calls if not re.search(r"train_tensorboard\s*=\s*False", args)
    ] == []


def test_docs_call_only_the_default_model_the_default() -> None:
    # "the default model is `X`", "the default (`X`)", "the `X` default", ...
    claim = re.compile(
        r"[Dd]efault(?:\s+model)?(?:\s+is(?:\s+now)?(?:\s+the\s+\w+)?)?\s+\(?`([\w-]+)`"
        r"|`([\w-]+)`\s+default\b"
    )
    models = set(list_models())
    wrong = [
        f"{path.relative_to(ROOT).as_posix()}: {m.group(0)}"
        for path in DOCS
        for m in claim.finditer(path.read_text())
        if (m.group(1) or m.group(2)) in models - {DEFAULT_MODEL}
    ]
    assert wrong == []
