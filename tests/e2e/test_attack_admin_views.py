"""Attack: reading credentials out of the admin views. Secrets are masked by meaning (any key that
names a password/secret/key/token, user info in any URL), and without admin credentials the settings
and assets are shown to loopback clients only."""

from __future__ import annotations

import base64
import socket

import aiohttp
import pytest

SECRETS = ("S3cr3t-A", "S3cr3t-B", "S3cr3t-C", "S3cr3t-D", "S3cr3t-E", "S3cr3t-F")


def config(upstream_url: str) -> dict:
    return {
        "extended_settings": {
            "dbPassword": "S3cr3t-A",
            "myServiceToken": "S3cr3t-B",
            "callbackUrl": "https://bob:S3cr3t-C@example.com/cb?api_key=S3cr3t-D&page=2",
            "signing-key": "S3cr3t-E",
            "apiKeyHeader": "X-Key",
        },
        "aliases": {"backend": {"type": "simple", "value": "http://svc:S3cr3t-F@127.0.0.1:9/"}},
        "apis": [{"name": "pets", "version": "1.0", "endpoint": f"{upstream_url}/echo"}],
    }


def outside_address() -> str | None:
    """An address of this host that is not loopback (the gateway listens on 0.0.0.0)."""
    candidates = []
    for target in ("198.51.100.1", "10.255.255.254"):  # no packet is sent: connect() only picks a source
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))
                candidates.append(probe.getsockname()[0])
            except OSError:
                pass
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    for address in candidates:
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


async def test_settings_mask_secrets_by_meaning(gateway, upstream, client):
    gw = await gateway(config(upstream.url))
    async with client.get(f"{gw.http}/rest/microgateway/settings") as resp:
        assert resp.status == 200
        text = await resp.text()
    for secret in SECRETS:
        assert secret not in text, secret
    settings = await resp.json()
    extended = settings["extended_settings"]
    assert extended["dbPassword"] == extended["myServiceToken"] == extended["signing-key"] == "********"
    assert extended["callbackUrl"] == "https://********@example.com/cb?api_key=********&page=2"
    assert extended["apiKeyHeader"] == "X-Key"  # a header name is no secret
    async with client.get(f"{gw.http}/rest/microgateway/assets") as resp:
        assert resp.status == 200 and "S3cr3t" not in await resp.text()
    for secret in SECRETS:
        assert secret not in gw.log


async def test_without_admin_settings_and_assets_stay_on_this_host(gateway, upstream):
    address = outside_address()
    if address is None:
        pytest.skip("this host has no address but loopback")
    gw = await gateway(config(upstream.url))
    port = gw.ports["http"]
    async with aiohttp.ClientSession() as outsider:
        for view in ("settings", "assets"):
            async with outsider.get(f"http://{address}:{port}/rest/microgateway/{view}") as resp:
                assert resp.status == 403, view
                body = await resp.json()
                assert body["code"] == "admin_required" and "loopback" in body["message"]
        async with outsider.get(f"http://{address}:{port}/rest/microgateway/health") as resp:
            assert resp.status == 200  # probes stay open
        async with outsider.get(f"http://{address}:{port}/gateway/pets/1.0/") as resp:
            assert resp.status == 200  # the APIs are served to everyone as before
    async with aiohttp.ClientSession() as local:  # the operator on the host still sees them
        async with local.get(f"http://127.0.0.1:{port}/rest/microgateway/settings") as resp:
            assert resp.status == 200


async def test_with_admin_credentials_anyone_with_them_may_read(gateway, upstream):
    address = outside_address()
    if address is None:
        pytest.skip("this host has no address but loopback")
    gw = await gateway({**config(upstream.url), "admin": {"user": "ops", "password": "{encoded}b3BzLXBhc3M="}})
    url = f"http://{address}:{gw.ports['http']}/rest/microgateway/settings"
    async with aiohttp.ClientSession() as outsider:
        async with outsider.get(url) as resp:
            assert resp.status == 401
        async with outsider.get(url, headers={"Authorization": "Basic " + base64.b64encode(b"ops:ops-pass").decode()}) as resp:
            assert resp.status == 200
            text = await resp.text()
    assert "ops-pass" not in text and "S3cr3t" not in text
