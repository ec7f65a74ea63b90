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


# The HTTP edge (handlers, the endpoint layer) and the one-machine tools may import the HTTP layer;
# a domain package must not, so its services and schemas stay usable from timers and the CLI.
HTTP_SIDE = ("api", "http", "local")


def _module_files(*, outside: tuple[str, ...]) -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in outside
        and not (path.parent == PACKAGE and path.name in ENTRY_POINTS)
    ]


def _imports_package(path: Path, package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in _imports(path))


def test_domain_modules_do_not_import_the_http_layer() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in _module_files(outside=HTTP_SIDE)
        if _imports_package(p, "trackly.http")
    ]
    assert offenders == [], (
        f"these domain modules import trackly.http (use trackly.schemas / trackly.etag): {offenders}"
    )


def test_handlers_reach_the_orm_only_through_services() -> None:
    handlers = sorted((PACKAGE / "api").glob("*.py"))
    assert handlers, "no handler modules found"
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in handlers
        if _imports_package(p, "trackly.models") or _imports_package(p, "sqlalchemy")
    ]
    assert offenders == [], f"these handlers import the ORM (call a service instead): {offenders}"


def test_only_the_entry_points_import_the_local_stand_ins() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in _module_files(outside=("local",))
        if _imports_package(p, "trackly.local")
    ]
    assert offenders == [], f"these modules import trackly.local (only cli.py may): {offenders}"
    app = (PACKAGE.parent / "function_app.py").read_text()
    assert "trackly.local" not in app
