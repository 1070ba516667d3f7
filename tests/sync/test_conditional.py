"""A parent microgw serves its children cheaply: strong ETags, 304, gzip, one tag over everything,
so an unchanged poll is one small request on one connection; a change still reaches the child.
Real parent processes, real children (the download client and a sidecar), a counting relay between."""

from __future__ import annotations

import asyncio
import gzip
import time

import yaml

from microgw.sync.client import ParentClient, ParentSettings
from support import basic_auth
from support.relay import CountingRelay

ADMIN = basic_auth("Administrator", "manage")
PLAIN = {**ADMIN, "Accept-Encoding": "identity"}  # aiohttp asks for gzip unless told otherwise


def parent_config(apps: int = 20) -> dict:
    return {
        "ports": {"http": 0},
        "admin": {"user": "Administrator", "password": "{encoded}bWFuYWdl"},
        "issuer": {"issuer": "conditional-parent", "https_only": False},
        "applications": [{"id": f"app-{i}", "name": f"App {i}", "api_keys": [f"key-{i:04d}"], "apis": ["orders/1.0"]} for i in range(apps)],
        "apis": [
            {"name": "hello", "version": "1.0", "mock": {"json": {"message": "hi"}}, "policies": {"jwt": {}}},
            {"name": "orders", "version": "1.0", "mock": {"echo": True}, "policies": {"identify": {"rules": ["apiKey"], "lookup": "strict"}}},
        ],
    }


async def start_parent(gateway, tmp_path, config: dict):
    path = tmp_path / "parent.yml"
    path.write_text(yaml.safe_dump(config))
    return await gateway(path), path


async def reload_parent(client, parent, path, config: dict) -> None:
    path.write_text(yaml.safe_dump(config))
    async with client.post(f"{parent.http}/rest/microgateway/reload", headers=ADMIN) as resp:
        assert resp.status == 200, await resp.text()


async def test_answers_have_strong_etags_304_and_gzip(gateway, client, tmp_path):
    parent, _ = await start_parent(gateway, tmp_path, parent_config())
    tags = set()
    for name in ("alias", "applications", "strategies", "apis", "archive?apis=*"):
        url = f"{parent.http}/rest/apigateway/{name}"
        async with client.get(url, headers=PLAIN) as resp:
            body = await resp.read()
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
            etag = resp.headers["ETag"]
            assert etag.startswith('"') and etag.endswith('"')  # strong
            tags.add(resp.headers["X-Microgw-Settings"])
        async with client.get(url, headers={**PLAIN, "If-None-Match": etag}) as resp:
            assert resp.status == 304 and await resp.read() == b""
            assert resp.headers["ETag"] == etag
        async with client.get(url, headers={**PLAIN, "If-None-Match": '"something-else"'}) as resp:
            assert resp.status == 200 and await resp.read() == body
    assert len(tags) == 1  # one tag over everything served

    url = f"{parent.http}/rest/apigateway/applications"
    async with client.get(url, headers=PLAIN) as resp:
        plain, plain_etag = await resp.read(), resp.headers["ETag"]
    async with client.get(url, headers={**ADMIN, "Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Vary"] == "Accept-Encoding"
        packed, gzip_etag = await resp.read(), resp.headers["ETag"]
    assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 3
    assert gzip_etag != plain_etag  # another representation, another strong ETag
    async with client.get(url, headers={**ADMIN, "Accept-Encoding": "gzip;q=0"}) as resp:
        assert "Content-Encoding" not in resp.headers and await resp.read() == plain
    async with client.get(url, headers={**ADMIN, "Accept-Encoding": "gzip", "If-None-Match": gzip_etag}) as resp:
        assert resp.status == 304
    # still nothing without the admin's credentials, ETag or not
    async with client.get(url, headers={"If-None-Match": plain_etag}) as resp:
        assert resp.status == 401


async def test_unchanged_poll_is_one_small_request_and_a_change_still_arrives(gateway, client, tmp_path):
    config = parent_config()
    parent, path = await start_parent(gateway, tmp_path, config)
    relay = await CountingRelay(int(parent.http.rsplit(":", 1)[1])).start()
    try:
        child = ParentClient(ParentSettings(f"http://127.0.0.1:{relay.port}", "Administrator", "manage", None))
        first = await child.download()
        assert not child.unchanged and relay.connections == 1  # the whole download on one keep-alive connection
        first_bytes = relay.down
        assert {a["id"] for a in first["applications"]} == {f"app-{i}" for i in range(20)}

        relay.reset()
        again = await child.download()
        assert child.unchanged and again == first
        assert relay.requests == ["GET /rest/apigateway/apis HTTP/1.1"] and relay.connections == 1
        assert relay.up + relay.down <= 2048, (relay.up, relay.down)

        config["applications"].append({"id": "new-app", "api_keys": ["new-key"], "apis": ["orders/1.0"]})
        await reload_parent(client, parent, path, config)
        relay.reset()
        changed = await child.download()
        assert not child.unchanged and "new-app" in {a["id"] for a in changed["applications"]}
        assert changed["apis"] == first["apis"]
        assert relay.down < first_bytes  # the unchanged answers came back as 304s
        relay.reset()
        await child.download()
        assert child.unchanged and len(relay.requests) == 1
    finally:
        await relay.stop()


async def test_a_vendor_parent_without_etags_is_downloaded_whole_each_time(parent):
    parent.answers["applications"] = {"applications": [{"id": "a", "name": "A", "identifiers": [{"key": "apiKey", "value": ["k"]}]}]}
    child = ParentClient(ParentSettings(parent.url, "u", "p", None))
    first = await child.download()
    again = await child.download()
    assert again == first and not child.unchanged
    assert parent.hits["applications"] == 2 and parent.hits["apis"] == 2


async def test_a_sidecar_polls_with_one_request_and_gets_changes(gateway, client, tmp_path):
    config = parent_config(apps=2)
    parent, path = await start_parent(gateway, tmp_path, config)
    relay = await CountingRelay(int(parent.http.rsplit(":", 1)[1])).start()
    try:
        sidecar = await gateway(
            {"ports": {"http": 0}, "api_gateway": {"url": f"http://127.0.0.1:{relay.port}", "user": "Administrator", "password": "manage", "download_settings": True}},
            env={"mcgw_polling_interval_secs": "0.2"},
        )
        key = {"x-Gateway-APIKey": "key-0001"}
        async with client.get(f"{sidecar.http}/gateway/orders/1.0/", headers=key) as resp:
            assert resp.status == 200
        await wait_for(lambda: len(relay.requests) >= 12)  # the first download and a few polls
        relay.reset()
        await wait_for(lambda: len(relay.requests) >= 3)
        assert set(relay.requests) == {"GET /rest/apigateway/apis HTTP/1.1"}  # unchanged polls: one request each

        config["applications"].append({"id": "new-app", "api_keys": ["new-key"], "apis": ["orders/1.0"]})
        await reload_parent(client, parent, path, config)

        async def new_key_works() -> bool:
            async with client.get(f"{sidecar.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "new-key"}) as resp:
                return resp.status == 200

        deadline = time.monotonic() + 15
        while not await new_key_works():
            assert time.monotonic() < deadline, "the new application never reached the sidecar"
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()


async def wait_for(check, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)
