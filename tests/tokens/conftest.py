"""Fixtures for the tokens room: both JSON engines. The JWKS server is the shared ``jwks_server``
(tests/conftest.py); the kit is tests/keys/jwtkit.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "keys"))  # jwtkit

from microgw.tokens import verify  # noqa: E402

ENGINES = ["stdlib"] + (["orjson"] if verify._orjson_loads is not None else [])


@pytest.fixture(params=ENGINES)
def json_engine(request, monkeypatch):
    """Run a test with each JSON decoder the parser may use; they must refuse the same inputs."""
    monkeypatch.setattr(verify, "_json_loads", verify._orjson_loads if request.param == "orjson" else verify._stdlib_json)
    verify._header.cache_clear()
    yield request.param
    verify._header.cache_clear()
