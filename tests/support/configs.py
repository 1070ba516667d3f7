"""Small helpers for configuration tests: write a file, load it as the gateway does, list problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from microgw.config import loader
from microgw.config.loader import Loaded
from microgw.policies.registry import CATALOG


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo) -> list[str]:
    return [str(p) for p in exc.value.problems]


def load_settings(paths: list, **kwargs) -> Loaded:
    """The configuration loader with microgw's policy catalog, as the gateway itself calls it."""
    return loader.load_settings(paths, policies=CATALOG, **kwargs)
