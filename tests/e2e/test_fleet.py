"""End to end: a parent microgw and sidecars that download from it, polling, swaps under load,
the parent going away, refused downloads, SIGHUP reloads, and the vendor's archives."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time

import yaml

from support import basic_auth
from support.gateway import REPO, run_microgw, write_config
from support.vendor_archive import action, api_doc, identify, routing, v, vendor_archive

FLEET = REPO / "samples" / "fleet"


async def eventually(check, timeout: float = 15, every: float = 0.1):
    """Poll ``check`` (async, returns truthy when done) until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(every)


async def parent_token(client, parent) -> str:
    async with client.get(f"{parent.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=basic_auth("Administrator", "manage")) as resp:
        assert resp.status == 200
        return (await resp.json())["jwt"]


async def status(client, url: str, headers: dict | None = None) -> int:
    async with client.get(url, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


def sidecar_env(parent, interval: float = 0.5, state: str | None = None) -> dict:
    env = {"mcgw_api_gateway_url": parent.http, "mcgw_polling_interval_secs": str(interval)}
    if state:
        env["mcgw_state_dir"] = state
    return env


async def test_fleet_samples_token_from_parent_valid_on_two_sidecars(gateway, client):
    parent = await gateway(FLEET / "parent.yml")
    sidecars = [await gateway(FLEET / "sidecar.yml", env=sidecar_env(parent)) for _ in range(2)]
    token = await parent_token(client, parent)
    for sidecar in sidecars:
        assert await status(client, f"{sidecar.http}/gateway/hello/1.0/", {"Authorization": f"Bearer {token}"}) == 200
        assert await status(client, f"{sidecar.http}/gateway/hello/1.0/") == 401
        assert await status(client, f"{sidecar.http}/gateway/orders/1.0/", {"x-Gateway-APIKey": "orders-demo-key"}) == 200
        async with client.get(f"{sidecar.http}/rest/microgateway/ready") as resp:
            ready = await resp.json()
        assert ready["parent"]["state"] == "downloaded"
    # the parent's settings are not served without its admin credentials
    assert await status(client, f"{parent.http}/rest/apigateway/applications") == 401


async def test_application_added_on_parent_reaches_sidecars_under_load(gateway, client, tmp_path):
    parent_yml = tmp_path / "parent.yml"
    shutil.copy(FLEET / "parent.yml", parent_yml)
    parent = await gateway(parent_yml)
    sidecars = [await gateway(FLEET / "sidecar.yml", env=sidecar_env(parent)) for _ in range(2)]
    token = await parent_token(client, parent)
    bearer = {"Authorization": f"Bearer {token}"}
    new_key = {"x-Gateway-APIKey": "new-key"}
    for sidecar in sidecars:
        assert await status(client, f"{sidecar.http}/gateway/orders/1.0/", new_key) == 401

    results: list[int] = []
    stop = asyncio.Event()

    async def load(sidecar):
        while not stop.is_set():
            results.append(await status(client, f"{sidecar.http}/gateway/hello/1.0/", bearer))

    loaders = [asyncio.create_task(load(s)) for s in sidecars for _ in range(4)]
    config = yaml.safe_load(parent_yml.read_text())
    config["applications"].append({"id": "new-app", "name": "New", "api_keys": ["new-key"], "apis": ["orders/1.0"]})
    parent_yml.write_text(yaml.safe_dump(config))
    async with client.post(f"{parent.http}/rest/microgateway/reload", headers=basic_auth("Administrator", "manage")) as resp:
        assert resp.status == 200
    started = time.monotonic()
    for sidecar in sidecars:
        await eventually(lambda s=sidecar: _is(client, f"{s.http}/gateway/orders/1.0/", new_key, 200))
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)  # keep the load on past the swap
    stop.set()
    await asyncio.gather(*loaders)
    assert elapsed < 5  # within a few polling intervals of 0.5 s
    assert len(results) > 50 and set(results) == {200}, f"{len(results)} requests, statuses {set(results)}"
    for sidecar in sidecars:
        await sidecar.wait_for_log("settings applied")


async def _is(client, url, headers, expected) -> bool:
    return await status(client, url, headers) == expected


async def test_parent_gone_sidecars_keep_serving_and_restart_from_disk(gateway, client, tmp_path):
    parent = await gateway(FLEET / "parent.yml")
    state = tmp_path / "sidecar-state"
    sidecar = await gateway(FLEET / "sidecar.yml", env=sidecar_env(parent, state=str(state)))
    token = await parent_token(client, parent)
    bearer = {"Authorization": f"Bearer {token}"}
    key = {"x-Gateway-APIKey": "orders-demo-key"}
    saved = state / "downloaded-settings.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    await sidecar.wait_for_log(rf"downloaded the settings of the parent {parent.http}/: \d+ APIs \(.*orders/1.0")
    await parent.stop()
    assert await status(client, f"{sidecar.http}/gateway/hello/1.0/", bearer) == 200
    await sidecar.wait_for_log("polling the parent failed")
    assert await status(client, f"{sidecar.http}/gateway/orders/1.0/", key) == 200
    await sidecar.stop()
    again = await gateway(FLEET / "sidecar.yml", env=sidecar_env(parent, state=str(state)))
    assert "serving the copy downloaded at" in again.log
    assert await status(client, f"{again.http}/gateway/hello/1.0/", bearer) == 200  # the parent's keys came with the copy
    assert await status(client, f"{again.http}/gateway/orders/1.0/", key) == 200
    async with client.get(f"{again.http}/rest/microgateway/ready") as resp:
        body = await resp.json()
        # serving from the saved copy works: a probe must not take this pod out of service
        assert resp.status == 200 and body["ready"] is True and body["degraded"] is True, body
        assert "parent unreachable" in body["parent"]["state"]
        assert any("validating with the keys saved with the download" in r for r in body["reasons"]), body
        assert any(r.startswith("parent: parent unreachable") for r in body["reasons"]), body
    async with client.get(f"{again.http}/rest/microgateway/metrics") as resp:  # alerting sees it too
        assert "\nmicrogw_degraded 1\n" in await resp.text()


async def test_invalid_download_is_refused_and_old_settings_stay(gateway, client, parent):
    good = [{"id": "a", "name": "A", "api_keys": ["key-a"], "apis": ["orders"]}]
    parent.answers["applications"] = {"applications": good}
    config = {
        "api_gateway": {"url": f"127.0.0.1:{parent.port}", "download_settings": True},
        "polling_interval_secs": 0.3,
        "apis": [{"name": "orders", "version": "1.0", "mock": {"echo": True}, "policies": {"identify": {"rules": ["apiKey"]}}}],
    }
    gw = await gateway(config)
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", {"x-Gateway-APIKey": "key-a"}) == 200
    # the same API key held by two applications: the whole download must be refused
    parent.answers["applications"] = {"applications": good + [{"id": "b", "name": "B", "api_keys": ["key-a"]}, {"id": "c", "name": "C", "api_keys": ["key-c"], "apis": ["orders"]}]}
    await gw.wait_for_log("refused the settings downloaded from the parent")
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", {"x-Gateway-APIKey": "key-a"}) == 200
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", {"x-Gateway-APIKey": "key-c"}) == 401
    # a good one is applied again
    parent.answers["applications"] = {"applications": good + [{"id": "c", "name": "C", "api_keys": ["key-c"], "apis": ["orders"]}]}
    await eventually(lambda: _is(client, f"{gw.http}/gateway/orders/1.0/", {"x-Gateway-APIKey": "key-c"}, 200))


async def test_sighup_with_broken_yaml_keeps_serving(gateway, client, tmp_path):
    path = write_config(tmp_path, {"apis": [{"name": "a", "version": "1", "mock": {"json": {"v": 1}}}]}, "live.yml")
    gw = await gateway(path)
    path.write_text("apis: [{name: a, version: '1', mock: {json: {v: 2}}}\n")  # broken YAML
    gw.proc.send_signal(signal.SIGHUP)
    await gw.wait_for_log("reload refused, keeping the current settings")
    async with client.get(f"{gw.http}/gateway/a/1/") as resp:
        assert await resp.json() == {"v": 1}
    path.write_text("apis: [{name: a, version: '1', mock: {json: {v: 2}}}]\n")
    gw.proc.send_signal(signal.SIGHUP)
    await gw.wait_for_log("settings applied")
    async with client.get(f"{gw.http}/gateway/a/1/") as resp:
        assert await resp.json() == {"v": 2}


async def test_vendor_archive_loads_routes_and_identifies(gateway, client, upstream, tmp_path):
    doc = api_doc("Petstore", "1.0", id="petstore-api-id")
    archive = vendor_archive((doc, [routing(), identify(("apiKey", "strict"))]))
    (tmp_path / "petstore.zip").write_bytes(archive)
    config = {
        "endpoint_rewrites": {"https://prod.example.com": f"{upstream.url}/echo"},
        "applications": [{"id": "shop", "name": "Shop", "isSuspended": False, "identifiers": [{"key": "apiKey", "value": ["k1"]}], "apiIDs": ["petstore-api-id"]}],
    }
    gw = await gateway(config, args=("-a", str(tmp_path / "petstore.zip")))
    async with client.get(f"{gw.http}/gateway/Petstore/1.0/pets/1?x=2", headers={"x-Gateway-APIKey": "k1"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/petstore/pets/1?x=2"
    assert await status(client, f"{gw.http}/gateway/Petstore/1.0/pets/1") == 401


async def test_archive_with_unsupported_policy_is_refused_clearly(tmp_path):
    sla = action("monitorSLA", v("alertInterval", "10"), name="Monitor SLA")
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Petstore", "1.0"), [routing(), sla])))
    config = write_config(tmp_path, {"ports": {"http": 0}})
    for command in ("check", "start"):
        code, _, err = await run_microgw(command, "-c", str(config), "-a", str(tmp_path / "a.zip"))
        assert code == 2, command
        assert "Petstore" in err and "monitorSLA" in err, err
    code, _, err = await run_microgw("check", "-c", str(config), "-a", str(tmp_path / "a.zip"), "--skip-unsupported-policies")
    assert code == 0, err
    assert "configuration OK: 1 APIs" in err


async def test_child_with_its_own_issuer_validates_its_tokens_and_the_parents(gateway, client, tmp_path):
    """The parent's `local` auth server is kept as `parent-local` on the child, so the child's own
    `local` (its issuer) is untouched; an API the parent restricts to `local` follows the rename."""
    config = yaml.safe_load((FLEET / "parent.yml").read_text())
    config["apis"].append({"name": "parent-only", "version": "1.0", "mock": {"json": {}}, "policies": {"jwt": {"auth_servers": ["local"]}}})
    parent = await gateway(write_config(tmp_path, config, "parent.yml"))
    users = [{"name": "Administrator", "password": "{encoded}bWFuYWdl"}]
    trusting_by_hand = {"auth_servers": [{"id": "central", "localIntrospectionConfig": {"issuer": "microgw-fleet-parent", "jwksuri": f"{parent.http}/rest/pub/apigateway/jwt/certs"}}]}
    children = {
        "named issuer": {"issuer": {"issuer": "child-iss", "https_only": False}, "users": users},
        "default issuer": {"issuer": {"https_only": False}, "users": users},
        "trusts the parent by hand": {"security_settings": trusting_by_hand, "apis": [{"name": "mine", "version": "1", "mock": {"json": {}}, "policies": {"jwt": {"auth_servers": ["central"]}}}]},
    }
    parent_bearer = {"Authorization": f"Bearer {await parent_token(client, parent)}"}
    for name, own in children.items():
        child = await gateway(FLEET / "sidecar.yml", write_config(tmp_path, own, "child.yml"), env=sidecar_env(parent))
        async with client.get(f"{child.http}/rest/microgateway/ready") as resp:
            assert (await resp.json())["parent"]["state"] == "downloaded", name
        assert await status(client, f"{child.http}/gateway/hello/1.0/", parent_bearer) == 200, name
        assert await status(client, f"{child.http}/gateway/parent-only/1.0/", parent_bearer) == 200, name
        if "issuer" in own:
            own_token = await parent_token(client, child)
            assert await status(client, f"{child.http}/gateway/hello/1.0/", {"Authorization": f"Bearer {own_token}"}) == 200, name
            assert await status(client, f"{child.http}/gateway/parent-only/1.0/", {"Authorization": f"Bearer {own_token}"}) == 401, name
        else:
            assert await status(client, f"{child.http}/gateway/mine/1/", parent_bearer) == 200, name
            await child.wait_for_log("overrides security_settings.auth_servers item central with parent-local")


async def test_parent_with_a_certificate_only_auth_server_serves_children(gateway, client, tmp_path):
    text = (REPO / "samples" / "claim-sets.yml").read_text().replace("keys/demo-idp.crt", str(REPO / "samples" / "keys" / "demo-idp.crt"))
    parent = await gateway(write_config(tmp_path, text + "\nadmin: {user: Administrator, password: '{encoded}bWFuYWdl'}\n", "parent.yml"))
    child = await gateway(FLEET / "sidecar.yml", env=sidecar_env(parent))
    async with client.get(f"{child.http}/rest/microgateway/ready") as resp:
        assert (await resp.json())["parent"]["state"] == "downloaded"
    assert await status(client, f"{child.http}/gateway/claims/1.0/") == 401  # downloaded; no token
    await parent.wait_for_log("auth server 'demo-idp' is not served to child gateways: it has a certificate but no JWKS URI")
    await child.wait_for_log(r"no auth server with id 'demo-idp' \(it may come from the parent gateway")
