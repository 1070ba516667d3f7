"""The hub is inverted: endpoints and the parent sync never reach the server, and the loader has one
production caller (startup), so a change to how settings are assembled is made in one place. And every
test asserts something: a test that only runs code proves nothing a user would see."""

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


TESTS = Path(__file__).resolve().parent


def asserts_something(test: ast.AST) -> bool:
    """An ``assert`` or ``pytest.raises``/``pytest.fail`` in the test's own body: "it did not raise" is
    not a check, and a helper's assert may sit on a path the test never takes."""
    for node in ast.walk(test):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("raises", "fail") and isinstance(node.value, ast.Name) and node.value.id == "pytest":
            return True
    return False


def test_every_test_asserts_something():
    silent = [
        f"{path.relative_to(TESTS)}::{node.name}"
        for path in sorted(TESTS.rglob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test") and not asserts_something(node)
    ]
    assert silent == []
