"""Every sample in samples/ starts and does what its comments promise."""

from __future__ import annotations

from support.gateway import REPO

SAMPLES = REPO / "samples"


async def test_quickstart_yml_serves_hello(gateway, client):
    gw = await gateway(SAMPLES / "quickstart.yml")
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert resp.status == 200
        assert (await resp.json())["message"] == "Hello from microgw"


async def test_proxy_yml_reaches_the_aliased_service(gateway, client, upstream):
    gw = await gateway(SAMPLES / "proxy.yml", env={"mcgw_aliases_petstore_value": f"{upstream.url}/echo"})
    async with client.get(f"{gw.http}/gateway/petstore/1.0/pets/7?x=1") as resp:
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/pets/7?x=1"
