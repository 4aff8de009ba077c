"""The package layout: every subpackage is installed; imports point down the re-staining chain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_installation() -> None:
    # pyproject.toml lists the packages explicitly; a subpackage missing there is left out of
    # the wheel (an editable install would still find it, so nothing else would notice).
    tomllib = pytest.importorskip("tomllib")
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "restainaug").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set()


#: What is built on the re-staining chain: applications, framework adapters, data sources.
ON_TOP = ("adapters", "cli", "data", "demo", "evaluation", "generate", "synth", "train")
ON_TOP_MODULES = ("__main__", "eval_fields", "eval_report", "metrics", "realism")


def _imports(path: Path) -> list[tuple[int, str]]:
    # Absolute names of every module that ``path`` imports, at any depth (lazy imports too).
    package = list(path.relative_to(ROOT).parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            if node.module:
                out.append((node.lineno, ".".join([*base, node.module])))
            else:  # from . import x
                out += [(node.lineno, ".".join([*base, a.name])) for a in node.names]
    return out


def test_the_chain_imports_nothing_built_on_it() -> None:
    # The chain (transform, params, policy, presets, ops, context, spaces, nuclei, stains,
    # translator, models, threads, _validate) never imports what is built on it. The package's
    # __init__ is the public face, which also offers the MONAI twin on demand.
    top = tuple(f"restainaug.{m}" for m in (*ON_TOP, *ON_TOP_MODULES))
    wrong = []
    for path in sorted((ROOT / "restainaug").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module == "restainaug.__init__" or _within(module, top):
            continue
        wrong += [
            f"{module}:{line} -> {name}" for line, name in _imports(path) if _within(name, top)
        ]
    assert wrong == []


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)
