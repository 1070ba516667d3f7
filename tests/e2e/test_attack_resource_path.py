"""Attack: a resource that moves the native address when ${sys:resource_path} stands in the
endpoint's host or port (user info '@', a longer port, another host name)."""

from __future__ import annotations

from yarl import URL

from support.gateway import run_microgw, write_config
from support.upstream import Upstream


async def test_the_resource_never_changes_scheme_host_or_port(gateway, upstream, client, tmp_path):
    other = await Upstream().start()  # a service the attacker would like to reach through the gateway
    try:
        endpoint = f"http://127.0.0.1:{upstream.port}${{sys:resource_path}}/echo"
        config = write_config(tmp_path, {"apis": [{"name": "p", "version": "1.0", "endpoint": endpoint}]})
        gw = await gateway(config)
        assert "should follow a '/'" in gw.log  # start warns as check does
        for resource in (f"@127.0.0.1:{other.port}", f"@127.0.0.1:{other.port}%2f", "0", ":1", ".localhost", "x"):
            async with client.get(URL(f"{gw.http}/gateway/p/1.0/{resource}", encoded=True)) as resp:
                assert resp.status == 400, resource
                assert (await resp.json())["code"] == "invalid_path"
        assert other.received == []  # nothing reached the other service
        assert upstream.received == []
        async with client.get(f"{gw.http}/gateway/p/1.0") as resp:  # the bystander, called as configured
            assert resp.status == 200
            assert (await resp.json())["path_qs"] == "/echo"
    finally:
        await other.stop()
    code, out, err = await run_microgw("check", "-c", str(config))
    assert code == 0
    assert "${sys:resource_path} should follow a '/'" in out + err
