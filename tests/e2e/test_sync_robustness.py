"""End to end: a child gateway against a parent that answers nonsense, downloads that are refused
(by the loader or by the runtime build), saved copies of another parent, YAML edited while running,
endpoint rewrites, archives with unsupported policies, and warnings of applied downloads."""

from __future__ import annotations

import asyncio
import json
import signal
import time

from support.gateway import write_config
from support.parent import FakeParent
from support.vendor_archive import action, api_doc, routing, v, vendor_archive

API = {"name": "orders", "version": "1.0", "mock": {"json": {"ok": True}}, "policies": {"identify": {"rules": ["apiKey"], "lookup": "open"}}}
GOOD_APP = {"id": "a", "name": "A", "identifiers": [{"key": "apiKey", "value": ["key-a"]}]}


def child_config(parent: FakeParent, **more) -> dict:
    return {"api_gateway": {"url": parent.url, "download_settings": True}, "polling_interval_secs": 0.3, "apis": [API], **more}


async def eventually(check, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.1)


async def status(client, url: str, headers: dict | None = None) -> int:
    async with client.get(url, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


async def parent_state(client, gw) -> dict:
    async with client.get(f"{gw.http}/rest/microgateway/ready") as resp:
        return (await resp.json())["parent"]


def with_key(key: str) -> dict:
    return {"x-Gateway-APIKey": key}


async def test_malformed_answers_neither_stop_the_start_nor_the_polling(gateway, client, parent):
    parent.answers["alias"] = {"alias": [1]}
    gw = await gateway(child_config(parent))  # starts on its YAML
    assert "malformed" in (await parent_state(client, gw))["last_error"]
    await gw.wait_for_log("polling the parent failed: the parent's answer is malformed")
    parent.answers["alias"] = {"alias": []}
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    await eventually(lambda: _is(status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")), 200))
    parent.answers["applications"] = {}  # 200 without the list: not "no applications"
    await gw.wait_for_log("the answer has no 'applications'")
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")) == 200
    assert "Traceback" not in gw.log


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_refused_download_is_not_kept_and_is_retried(gateway, client, parent, tmp_path):
    # the child's own application holds the parent's API key: every download is refused
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    state = tmp_path / "child-state"
    path = write_config(tmp_path, child_config(parent, applications=[{"id": "mine", "api_keys": ["key-a"]}]), "child.yml")
    gw = await gateway(path, env={"mcgw_state_dir": str(state)})
    ready = await parent_state(client, gw)
    assert ready["last_error"].startswith("the downloaded settings were refused: ")
    assert "serving the YAML settings alone" in ready["state"]
    assert not (state / "downloaded-settings.json").exists()
    # fixed on the child: after the reload, the next poll applies the same download
    path.write_text(json.dumps(child_config(parent)))
    gw.proc.send_signal(signal.SIGHUP)
    await eventually(lambda: _is(status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")), 200))
    await eventually(lambda: _state_is(client, gw, "downloaded"))
    assert (state / "downloaded-settings.json").exists()


async def _state_is(client, gw, state: str) -> bool:
    return (await parent_state(client, gw))["state"] == state


BUILD_REFUSES = {"alias": [{"id": "x", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "https://x", "jwksuri": "ftp://x/jwks"}}]}


async def test_download_refused_by_the_runtime_build_falls_back_to_the_saved_copy(gateway, client, parent, tmp_path):
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    env = {"mcgw_state_dir": str(tmp_path / "child-state")}
    first = await gateway(child_config(parent), env=env)
    assert await status(client, f"{first.http}/gateway/orders/1.0/", with_key("key-a")) == 200
    await first.stop()
    parent.answers["alias"] = BUILD_REFUSES  # the loader accepts it; building the key sources does not
    again = await gateway(child_config(parent), env=env)
    await again.wait_for_log("the settings downloaded from the parent were refused")
    ready = await parent_state(client, again)
    assert ready["state"].startswith("downloaded settings refused; serving the copy downloaded at"), ready
    assert "refused" in ready["last_error"] and "jwksuri" in ready["last_error"]
    assert await status(client, f"{again.http}/gateway/orders/1.0/", with_key("key-a")) == 200
    # without a saved copy: the YAML alone
    alone = await gateway(child_config(parent))
    assert "serving the YAML settings alone" in (await parent_state(client, alone))["state"]


async def test_saved_copy_of_another_parent_is_not_used(gateway, client, parent, tmp_path):
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    env = {"mcgw_state_dir": str(tmp_path / "shared-state")}
    first = await gateway(child_config(parent), env=env)
    await first.stop()
    other = child_config(parent)
    other["api_gateway"]["url"] = "127.0.0.1:1"  # another parent, down
    gw = await gateway(other, env=env)
    assert "came from another parent" in gw.log
    assert "no usable saved copy" in (await parent_state(client, gw))["state"]
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")) == 401


async def test_downloads_apply_over_the_yaml_of_the_last_reload_only(gateway, client, parent, tmp_path):
    path = write_config(tmp_path, child_config(parent), "child.yml")
    gw = await gateway(path)
    path.write_text("ports: {http: 0\n")  # someone is still editing; no reload asked for
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    await eventually(lambda: _is(status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")), 200))
    gw.proc.send_signal(signal.SIGHUP)
    await gw.wait_for_log("reload refused, keeping the current settings")
    assert await status(client, f"{gw.http}/gateway/orders/1.0/", with_key("key-a")) == 200


async def test_endpoint_rewrites_take_effect_with_the_reload_that_changes_them(gateway, client, parent, upstream, tmp_path):
    parent.archives["svc-id"] = vendor_archive((api_doc("svc", "1.0", id="svc-id"), [routing("https://prod.example.com/${sys:resource_path}")]))
    parent.answers["apis"] = {"apiResponse": [{"api": {"apiName": "svc", "apiVersion": "1.0", "id": "svc-id"}}]}
    config = child_config(parent, endpoint_rewrites={"https://prod.example.com": f"{upstream.url}/echo/one"})
    path = write_config(tmp_path, config, "child.yml")
    gw = await gateway(path)
    async with client.get(f"{gw.http}/gateway/svc/1.0/x") as resp:
        assert (await resp.json())["path_qs"] == "/echo/one/x"
    config["endpoint_rewrites"] = {"https://prod.example.com": f"{upstream.url}/echo/two"}
    path.write_text(json.dumps(config))
    gw.proc.send_signal(signal.SIGHUP)
    await gw.wait_for_log("settings applied")
    async with client.get(f"{gw.http}/gateway/svc/1.0/x") as resp:
        assert (await resp.json())["path_qs"] == "/echo/two/x"


async def test_archive_skip_unsupported_applies_to_the_parents_archives(gateway, client, parent):
    logged = action("monitorPerformance", v("alertInterval", "1"))
    parent.archives["api-1"] = vendor_archive((api_doc("Logged", "1.0", id="api-1"), [routing("http://127.0.0.1:9/${sys:resource_path}"), logged]))
    parent.answers["apis"] = {"apiResponse": [{"api": {"apiName": "Logged", "apiVersion": "1.0", "id": "api-1"}}]}
    gw = await gateway(child_config(parent), args=("--skip-unsupported-policies",))
    assert (await parent_state(client, gw))["state"] == "downloaded"
    assert await status(client, f"{gw.http}/gateway/Logged/1.0/") == 502  # served; its native service is down
    await gw.wait_for_log("API Logged from the parent: .*monitorPerformance")


async def test_what_an_applied_download_replaces_is_logged(gateway, client, parent):
    parent.answers["applications"] = {"applications": [GOOD_APP]}
    gw = await gateway(child_config(parent, applications=[{"id": "a", "api_keys": ["yaml-a"]}, {"id": "b", "api_keys": ["yaml-b"]}]))
    await gw.wait_for_log("overrides applications item a$")
    parent.answers["applications"] = {"applications": [GOOD_APP, {"id": "b", "name": "B", "identifiers": [{"key": "apiKey", "value": ["key-b"]}]}]}
    await gw.wait_for_log("overrides applications item b$")
    assert sum("overrides applications item a" in line for line in gw.lines) == 1  # logged once, not at every swap
