"""A finished request leaves no reference cycles behind: each one would wait for the garbage
collector, whose pauses under load become every in-flight request's tail latency (issue 15)."""

from __future__ import annotations

import gc

import aiohttp

from microgw.context import RequestContext
from microgw.server import Gateway
from microgw.startup import Assembly
from support.gateway import write_config
from support.idp import auth_server


async def test_requests_leave_no_cyclic_garbage(tmp_path, upstream, idp, state_template):
    import shutil

    state = tmp_path / "state"
    shutil.copytree(state_template, state)
    config = write_config(tmp_path, {
        "logging": {"level": "warning"},
        "security_settings": {"auth_servers": [auth_server("idp", idp.issuer, idp.jwks_uri)]},
        "apis": [
            {"name": "open", "version": "1.0", "endpoint": upstream.url + "/echo"},
            {"name": "jwt", "version": "1.0", "endpoint": upstream.url + "/echo", "policies": {"jwt": {"auth_servers": ["idp"]}}},
        ],
    }, "garbage.yml")
    assembly = Assembly([config], environ={"mcgw_state_dir": str(state)}, overrides={"ports": {"http": 0}})
    gateway = Gateway(assembly, assembly.load())
    await gateway.start()
    try:
        base = gateway.listener_urls[0]
        token = idp.token(sub="alice")  # minted by PyJWT
        async with aiohttp.ClientSession() as client:
            async def call_all() -> list[int]:
                statuses = []
                for path, headers in (("open", {}), ("jwt", {"Authorization": f"Bearer {token}"}), ("jwt", {}), ("none", {})):
                    async with client.get(f"{base}/gateway/{path}/1.0/x", headers=headers) as resp:
                        await resp.read()
                        statuses.append(resp.status)
                return statuses

            assert await call_all() == [200, 200, 401, 404]  # warm: caches and pools filled
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(25):
                    assert await call_all() == [200, 200, 401, 404]
                gc.collect()
                left = [obj for obj in gc.garbage if isinstance(obj, (RequestContext, aiohttp.web.Request))]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
        assert left == [], f"{len(left)} request objects were only freed by the garbage collector"
    finally:
        await gateway.stop()
