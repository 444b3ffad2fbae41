"""The layout states the design: which package may import which, and no module grown past
what a reader takes in at once. Read from the source with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400

# Each package and the project packages it must never import (prefixes of module names).
FORBIDDEN = {
    "domain": ("projections", "service", "flask", "sqlalchemy", "psycopg", "sqlite3"),
    "projections": ("service", "flask"),
    "service.infrastructure": ("service.api", "service.console", "service.cli"),
    "service.api": ("service.console", "service.cli"),
    "service.cli": ("service.api", "service.console"),
}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("domain", "projections", "service"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((name.removesuffix(".__init__"), path))
    return found


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v))
def test_imports_point_towards_the_domain(name: str, path: Path) -> None:
    for package, forbidden in FORBIDDEN.items():
        if name == package or name.startswith(package + "."):
            wrong = sorted(
                i for i in imported(path) for f in forbidden if i == f or i.startswith(f + ".")
            )
            assert not wrong, f"{name} imports {wrong}"


def test_the_console_uses_no_api_route() -> None:
    """The console shares the API's schemas, errors and representations, never its routes:
    a module that defines a blueprint is the API's own."""
    routes = {
        name
        for name, path in modules()
        if name.startswith("service.api.") and " = Blueprint(" in path.read_text()
    }
    assert "service.api.initiatives" in routes
    for name, path in modules():
        if name.startswith("service.console"):
            wrong = sorted(i for i in imported(path) if i in routes)
            assert not wrong, f"{name} imports the routes of {wrong}"


@pytest.mark.parametrize(
    ("name", "path"),
    [(n, p) for n, p in modules() if n.startswith(("service", "projections"))],
    ids=lambda v: str(v),
)
def test_no_module_outgrows_a_reading(name: str, path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by what it does"
