"""Small helpers for configuration tests: write a file, list the problems of a ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo) -> list[str]:
    return [str(p) for p in exc.value.problems]
