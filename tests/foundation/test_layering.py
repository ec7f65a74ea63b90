"""Dependency direction inside the package: the local tool depends on the domains, not back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "trackly"
ENTRY_POINTS = {"cli.py", "__main__.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_below_the_entry_points_imports_the_local_tool() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if not (path.parent == PACKAGE and path.name in ENTRY_POINTS) and "trackly.cli" in _imports(path)
    ]
    assert offenders == [], (
        f"these modules import trackly.cli (register commands from cli.py instead): {offenders}"
    )
