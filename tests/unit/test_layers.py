"""The layers stay clean (DESIGN §2): the domain imports the standard library and itself alone;
the services import the domain and their own ports, never SQLAlchemy or an adapter."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "autopilot"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module is not None:
                found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_domain_imports_the_standard_library_and_itself_alone(path: Path) -> None:
    outside = {
        name
        for name in imports_of(path)
        if not name.startswith("autopilot.domain")
        and name != "__future__"
        and top(name) not in sys.stdlib_module_names
    }
    assert outside == set(), f"{path.relative_to(PACKAGE)} imports {sorted(outside)}"


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_services_import_the_domain_and_their_ports_but_no_adapter(path: Path) -> None:
    forbidden = {
        name
        for name in imports_of(path)
        if top(name) in {"sqlalchemy", "psycopg", "fastapi", "starlette", "alembic", "typer"}
        or name.startswith(
            (
                "autopilot.storage",
                "autopilot.api",
                "autopilot.engine",
                "autopilot.brokers",
                "autopilot.bootstrap",
                "autopilot.cli",
            )
        )
    }
    assert forbidden == set(), f"{path.relative_to(PACKAGE)} imports {sorted(forbidden)}"


def test_the_layer_checks_see_every_module() -> None:
    # A check over an empty list would pass whatever the code does.
    assert len(modules("domain")) > 20 and len(modules("services")) > 20
    assert "sqlalchemy" in imports_of(PACKAGE / "storage" / "db.py")
