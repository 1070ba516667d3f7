"""Fixtures for the keys room: a live JWKS server per test (see jwtkit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # jwtkit, shared with tests/tokens

from jwtkit import JwksServer  # noqa: E402


@pytest.fixture
async def jwks_server():
    server = await JwksServer().start()
    yield server
    await server.stop()
