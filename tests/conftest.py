"""Fixtures shared by every test: one per server kind, each a real server on loopback.

- ``gateway``: microgw processes (tests/support/gateway.py); a parent microgw is a gateway too;
- ``upstream``: the native service (tests/support/upstream.py);
- ``idp`` / ``jwks_server``: the identity provider and its JWKS (tests/support/idp.py): ``idp`` holds keys
  and mints tokens, ``jwks_server`` serves whatever document, status or delay a test sets;
- ``introspection_server``: an RFC 7662 introspection endpoint (tests/support/introspection.py);
- ``parent``: a fake vendor parent answering the REST subset a child downloads (tests/support/parent.py);
- and ``client`` (an aiohttp session), ``ca`` (a trustme CA).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import trustme

from support.gateway import start_gateway, write_config
from support.idp import IdentityProvider, JwksServer
from support.introspection import IntrospectionServer
from support.parent import FakeParent
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


@pytest.fixture(scope="session")
def state_template(tmp_path_factory) -> Path:
    """A state directory with one managed RS256 key, made once: generating RSA-3072 per test is slow."""
    from microgw.keys.signing import KeyStateDir

    folder = tmp_path_factory.mktemp("state-template")
    KeyStateDir(folder / "keys", rsa_bits=2048).load_or_create("RS256")
    return folder


@pytest.fixture
async def gateway(tmp_path: Path, state_template: Path):
    """``await gateway(config)`` starts microgw on free ports; every one is stopped after the test.

    ``config`` is a dict or YAML text written to a temporary file, or a Path used as it is. Each
    gateway gets its own copy of a state directory (``mcgw_state_dir``) unless the test sets one.
    """
    import shutil

    started = []

    async def start(*configs, env=None, **kwargs):
        paths = []
        for index, config in enumerate(configs):
            paths.append(config if isinstance(config, Path) else write_config(tmp_path, config, f"config{len(started)}-{index}.yml"))
        env = dict(env or {})
        if "mcgw_state_dir" not in env:
            state = tmp_path / f"state{len(started)}"
            shutil.copytree(state_template, state)
            env["mcgw_state_dir"] = str(state)
        process = await start_gateway(*paths, env=env, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.stop()


@pytest.fixture
async def idp():
    """A third-party IdP with one RS256 key ``k1``; its JWKS at ``idp.jwks_uri``."""
    provider = IdentityProvider()
    provider.add_key("k1", "RS256")
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture
async def jwks_server():
    """A JWKS endpoint (``jwks_server.url``) serving an empty key set until the test sets ``document``."""
    server = await JwksServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def parent():
    """A fake vendor parent with empty answers; a test fills ``answers``, ``archives``, ``extra``."""
    fake = await FakeParent().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def introspection_server():
    """An RFC 7662 endpoint (``introspection_server.url``); a test fills ``tokens``."""
    server = await IntrospectionServer().start()
    yield server
    await server.stop()
