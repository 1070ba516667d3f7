"""The hub is inverted: endpoints and the parent sync never reach the server, and the loader has one
production caller (startup), so a change to how settings are assembled is made in one place."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microgw"


def imports(path: Path) -> set[str]:
    """Every microgw module a file imports, also inside functions and TYPE_CHECKING blocks."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("microgw"):
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_endpoints_and_sync_do_not_import_the_server():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(name for name in imports(path) if name == "microgw.server" or name.startswith("microgw.server."))
        for room in ("endpoints", "sync")
        for path in (PACKAGE / room).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_only_startup_calls_the_loader():
    callers = sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "loader.py" and any(name.endswith("load_settings") for name in imports(path))
    )
    assert callers == ["microgw/startup.py"]
