"""loadBalancer and conditionalRouting end to end: round robin counted at each native service,
failover when an endpoint dies (and back when it returns), health marking, 502 when all are down,
routing by header / query / path, and the vendor's loadBalancerRouting template from an archive."""

from __future__ import annotations

import asyncio
import socket

from support.gateway import run_microgw, write_config
from support.upstream import Upstream
from support.vendor_archive import action, api_doc, g, v, vendor_archive


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(upstream, marker: str) -> int:
    return sum(1 for r in upstream.received if r["path_qs"].startswith(f"/echo/{marker}"))


async def status_of(client, url: str, method: str = "GET", **kwargs) -> int:
    async with client.request(method, url, **kwargs) as resp:
        await resp.read()
        return resp.status


async def test_round_robin_spreads_requests_and_skips_an_endpoint_that_died(gateway, client):
    a, b = await Upstream().start(), await Upstream().start()
    try:
        config = {"apis": [{"name": "rr", "version": "1", "endpoint": f"{a.url}/echo",
                            "policies": {"loadBalancer": {"endpoints": [f"{b.url}/echo"], "suspend": "1h"}}}]}
        gw = await gateway(config)
        url = f"{gw.http}/gateway/rr/1/spread"
        assert [await status_of(client, url) for _ in range(6)] == [200] * 6
        assert (served(a, "spread"), served(b, "spread")) == (3, 3)
        await b.stop()  # b dies: every request still answered, by a
        statuses = [await status_of(client, f"{gw.http}/gateway/rr/1/after", method) for method in ("GET", "POST", "PUT", "GET", "DELETE", "GET")]
        assert statuses == [200] * 6
        assert served(a, "after") == 6  # POST and PUT too: b never saw them (its connection failed), so they were safe to resend
        await gw.wait_for_log(r"endpoint http://127\.0\.0\.1:\d+ of rr/1 marked down for 1h")
        assert gw.log.count("marked down") == 1  # marked once, then skipped without trying
        await a.stop()
        async with client.get(url) as resp:  # nothing left
            assert resp.status == 502
            assert (await resp.json())["code"] == "upstream_unavailable"
    finally:
        await a.stop()
        await b.stop()


async def test_failover_prefers_the_first_endpoint_and_returns_to_it(gateway, client):
    backup = await Upstream().start()
    port = free_port()
    primary = Upstream()
    try:
        config = {"apis": [{"name": "fo", "version": "1", "endpoint": f"http://127.0.0.1:{port}/echo",
                            "policies": {"loadBalancer": {"endpoints": [f"{backup.url}/echo"], "strategy": "failover", "suspend": 0.2}}}]}
        gw = await gateway(config)
        url = f"{gw.http}/gateway/fo/1/x"
        assert [await status_of(client, url) for _ in range(3)] == [200] * 3
        assert served(backup, "x") == 3  # the primary refuses: the backup answers
        await primary.start(port=port)  # the primary comes back: once its suspension ends, it is used again
        deadline = asyncio.get_running_loop().time() + 10
        while served(primary, "x") == 0:
            assert await status_of(client, url) == 200
            assert asyncio.get_running_loop().time() < deadline, "the primary was never tried again"
            await asyncio.sleep(0.05)
        before = served(backup, "x")
        assert [await status_of(client, url) for _ in range(3)] == [200] * 3
        assert served(backup, "x") == before and served(primary, "x") == 4  # failover: all to the primary while it is up
    finally:
        await primary.stop()
        await backup.stop()


async def test_conditional_routing_by_header_query_and_path(gateway, upstream, client):
    eu = await Upstream().start()
    try:
        rules = [
            {"name": "eu", "when": {"header": "X-Region", "equals": ["eu", "EU"]}, "endpoint": f"{eu.url}/echo"},
            {"when": {"query": "v", "matches": "^2"}, "endpoint": f"{eu.url}/echo"},
            {"when": [{"path": True, "matches": "^/admin/"}, {"method": True, "equals": "DELETE"}], "endpoint": f"{eu.url}/echo"},
        ]
        gw = await gateway({"apis": [{"name": "cr", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"conditionalRouting": {"rules": rules}}}]})
        base = f"{gw.http}/gateway/cr/1"
        for path, kwargs, expected in (
            ("/r/1", {"headers": {"X-Region": "eu"}}, "eu"),
            ("/r/2", {"headers": {"X-Region": "us"}}, "default"),
            ("/r/3?v=2.1", {}, "eu"),
            ("/r/4?v=1", {}, "default"),
            ("/admin/users", {"method": "DELETE"}, "eu"),
            ("/admin/users", {}, "default"),
        ):
            method = kwargs.pop("method", "GET")
            async with client.request(method, base + path, **kwargs) as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["path_qs"] == "/echo" + path
            took = "eu" if any(r["path_qs"] == "/echo" + path and r["method"] == method for r in eu.received[-1:]) else "default"
            assert took == expected, (path, method)
    finally:
        await eu.stop()


async def test_the_vendor_load_balancer_template_from_an_archive(gateway, client, tmp_path):
    a, b = await Upstream().start(), await Upstream().start()
    try:
        lb = action(
            "loadBalancerRouting",
            g("endpoints", v("endpointUri", f"{a.url}/echo/${{sys:resource_path}}")),
            g("endpoints", v("endpointUri", f"{b.url}/echo/${{sys:resource_path}}")),
            v("suspendInterval", "60"),
            name="Load Balancer Routing", stage="routing",
        )
        (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Balanced", "1.0"), [lb])))
        gw = await gateway({"ports": {"http": 0}}, args=("-a", str(tmp_path / "a.zip")))
        assert [await status_of(client, f"{gw.http}/gateway/Balanced/1.0/lb") for _ in range(4)] == [200] * 4
        assert (served(a, "lb"), served(b, "lb")) == (2, 2)
    finally:
        await a.stop()
        await b.stop()


async def test_check_names_bad_rules_and_endpoints(tmp_path):
    config = write_config(tmp_path, {"apis": [
        {"name": "a", "version": "1", "endpoint": "http://127.0.0.1:9/x",
         "policies": {"conditionalRouting": {"rules": [{"when": {"header": "X", "matches": "(unclosed"}, "endpoint": "http://127.0.0.1:9/y"}]}}},
        {"name": "b", "version": "1", "endpoint": "http://127.0.0.1:9/x",
         "policies": {"loadBalancer": {"endpoints": ["ftp://elsewhere"], "strategy": "random"}}},
    ]})
    code, _, err = await run_microgw("check", "-c", str(config))
    assert code == 2
    assert "apis[1].policies.loadBalancer.endpoints[0]" in err and "apis[1].policies.loadBalancer.strategy" in err
    config = write_config(tmp_path, {"apis": [
        {"name": "a", "version": "1", "endpoint": "http://127.0.0.1:9/x",
         "policies": {"conditionalRouting": {"rules": [{"when": {"header": "X", "matches": "(unclosed"}, "endpoint": "http://127.0.0.1:9/y"}]}}},
    ]}, "two.yml")
    code, _, err = await run_microgw("check", "-c", str(config))
    assert code == 2 and "apis[0].policies.conditionalRouting" in err and "rules[0]: '(unclosed' is not a regular expression" in err


async def test_an_https_endpoint_of_the_pool_is_verified_with_the_trust_store(gateway, client, ca, tmp_path):
    """The API's endpoint is plain HTTP (and down); the pool's HTTPS endpoint is trusted through the
    gateway's trust_store, as the API's own endpoint would be — and refused when its certificate is
    for another name."""
    import ssl

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    secure = await Upstream().start(server_context)
    try:
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        config = {
            "trust_store": {"type": "PEM", "location": str(tmp_path / "ca.pem")},
            "apis": [{"name": "tls", "version": "1", "endpoint": f"http://127.0.0.1:{free_port()}/echo",
                      "policies": {"loadBalancer": {"endpoints": [f"{secure.url}/echo"], "strategy": "failover"}}}],
        }
        gw = await gateway(config)
        assert [await status_of(client, f"{gw.http}/gateway/tls/1/t") for _ in range(2)] == [200, 200]
        assert served(secure, "t") == 2
    finally:
        await secure.stop()
