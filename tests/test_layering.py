"""The package's layers, read from the imports themselves (ast), so a wrong import fails here.

core (every module directly under dlpipe/) -> stages (ingest/, train/, evaluate/, serving/) -> commands/ + cli.
Core never imports a stage or a command; a stage imports core and itself only; only the command layer
imports argparse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dlpipe"
STAGES = ("ingest", "train", "evaluate", "serving")
COMMAND_LAYER = ("commands", "cli", "__main__")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (function-local imports included), absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))  # relative: refused below, so none escapes the rules
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> str | None:
    """``dlpipe.train.stage`` -> ``train``; ``dlpipe.layout`` -> ``core``; not dlpipe -> None."""
    parts = module.split(".")
    if parts[0] != "dlpipe":
        return None
    if len(parts) > 1 and parts[1] in (*STAGES, *COMMAND_LAYER):
        return parts[1]
    return "core"


def violations(path: Path, module: str) -> list[str]:
    own = layer_of(module)
    problems = []
    for imported in sorted(imported_modules(path)):
        if imported.startswith("."):
            problems.append(f"{module} imports {imported} relatively (write dlpipe.… so the layers can be read)")
        if imported == "argparse" and own not in COMMAND_LAYER:
            problems.append(f"{module} imports argparse (only commands/ and cli may)")
        target = layer_of(imported)
        if target not in (None, "core", own) and own not in COMMAND_LAYER:
            problems.append(f"{module} ({own}) imports {imported} ({target})")
    return problems


def modules() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)))
    return found


@pytest.mark.parametrize(("path", "module"), modules(), ids=[m for _p, m in modules()])
def test_module_keeps_its_layer(path: Path, module: str) -> None:
    assert violations(path, module) == []


def test_the_rule_catches_a_stage_importing_another(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from dlpipe.train.export import write_export\nimport argparse\n")
    assert violations(bad, "dlpipe.evaluate.bad") == [
        "dlpipe.evaluate.bad imports argparse (only commands/ and cli may)",
        "dlpipe.evaluate.bad (evaluate) imports dlpipe.train.export (train)",
        "dlpipe.evaluate.bad (evaluate) imports dlpipe.train.export.write_export (train)",
    ]
    relative = tmp_path / "relative.py"
    relative.write_text("from ..train import export\n")
    assert violations(relative, "dlpipe.evaluate.relative") == [
        "dlpipe.evaluate.relative imports ..train relatively (write dlpipe.… so the layers can be read)"
    ]
    core = tmp_path / "core.py"
    core.write_text("def f():\n    from dlpipe.commands import run\n")
    assert violations(core, "dlpipe.layout") == [
        "dlpipe.layout (core) imports dlpipe.commands (commands)",
        "dlpipe.layout (core) imports dlpipe.commands.run (commands)",
    ]
