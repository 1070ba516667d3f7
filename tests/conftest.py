"""Fixtures shared by every test: real upstreams, gateway processes, HTTP clients, certificates."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import trustme

from support.gateway import start_gateway, write_config
from support.upstream import Upstream


@pytest.fixture
async def upstream():
    server = await Upstream().start()
    yield server
    await server.stop()


@pytest.fixture
async def client():
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture
async def gateway(tmp_path: Path):
    """``await gateway(config)`` starts microgw on free ports; every one is stopped after the test.

    ``config`` is a dict or YAML text written to a temporary file, or a Path used as it is.
    """
    started = []

    async def start(*configs, **kwargs):
        paths = []
        for index, config in enumerate(configs):
            paths.append(config if isinstance(config, Path) else write_config(tmp_path, config, f"config{index}.yml"))
        process = await start_gateway(*paths, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.stop()
