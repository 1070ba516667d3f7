"""throttle end to end: limits counted exactly under concurrent load (proven at the native service),
429 with Retry-After and RateLimit headers, counters per API / application / client address, the
vendor's throttle template from an archive, and configuration refusals."""

from __future__ import annotations

import asyncio

import aiohttp

from support.gateway import run_microgw, write_config
from support.vendor_archive import action, api_doc, g, routing, v, vendor_archive

APPS = [
    {"id": "alpha", "name": "Alpha", "api_keys": ["key-alpha-123"]},
    {"id": "beta", "name": "Beta", "api_keys": ["key-beta-456"]},
]


def api(name: str, upstream_url: str, throttle: dict, **policies) -> dict:
    return {"name": name, "version": "1", "endpoint": f"{upstream_url}/echo", "policies": {"throttle": throttle, **policies}}


async def _burst(client, url: str, count: int, headers: dict | None = None) -> list[tuple[int, dict, dict]]:
    async def one():
        async with client.get(url, headers=headers or {}) as resp:
            return resp.status, dict(resp.headers), await resp.json()

    return await asyncio.gather(*(one() for _ in range(count)))


def _forwarded(upstream, marker: str) -> int:
    return sum(1 for r in upstream.received if r["path_qs"].startswith(f"/echo/{marker}"))


async def test_a_limit_holds_exactly_under_concurrent_load(gateway, upstream, client):
    gw = await gateway({"apis": [api("shop", upstream.url, {"limits": [{"requests": 7, "per": "1m"}]})]})
    answers = await _burst(client, f"{gw.http}/gateway/shop/1/burst", 40)
    passed = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    assert len(passed) == 7 and len(refused) == 33
    assert _forwarded(upstream, "burst") == 7  # counted at the native service: exactly the limit went through
    assert sorted(int(h["RateLimit-Remaining"]) for _, h, _ in passed) == list(range(7))
    assert all(h["RateLimit-Limit"] == "7" for _, h, _ in passed)
    status, headers, body = refused[0]
    assert body["code"] == "rate_limited" and body["status"] == 429 and "7 per 1m" in body["message"]
    assert body["Exception"].startswith("API Gateway encountered an error")
    assert 1 <= int(headers["Retry-After"]) <= 60 and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == headers["Retry-After"]
    async with client.get(f"{gw.http}/rest/microgateway/metrics") as resp:
        assert 'rate_limited' in await resp.text()


async def test_the_window_reopens_after_its_interval(gateway, upstream, client):
    gw = await gateway({"apis": [api("tick", upstream.url, {"limits": [{"requests": 2, "per": 1}]})]})
    first = await _burst(client, f"{gw.http}/gateway/tick/1/w", 3)
    assert sorted(a[0] for a in first) == [200, 200, 429]
    retry = max(int(a[1]["Retry-After"]) for a in first if a[0] == 429)
    assert retry == 1
    deadline = asyncio.get_running_loop().time() + 5
    while True:  # the window closes within Retry-After: poll for it instead of sleeping a guess
        async with client.get(f"{gw.http}/gateway/tick/1/w") as resp:
            if resp.status == 200:
                break
        assert asyncio.get_running_loop().time() < deadline, "the window never reopened"
        await asyncio.sleep(0.05)


async def test_per_application_and_per_client_counters(gateway, upstream, client):
    config = {
        "applications": APPS,
        "apis": [
            api("apps", upstream.url, {"limits": [{"requests": 3, "per": "1h", "by": "application"}]},
                identify={"rules": ["apiKey"], "lookup": "open"}),
            api("peers", upstream.url, {"limits": [{"requests": 2, "per": "1h", "by": "client"}]}),
            api("only-beta", upstream.url, {"limits": [{"requests": 1, "per": "1h"}], "applications": ["beta"]},
                identify={"rules": ["apiKey"], "lookup": "open"}),
        ],
    }
    gw = await gateway(config)
    alpha = await _burst(client, f"{gw.http}/gateway/apps/1/a", 5, {"x-Gateway-APIKey": "key-alpha-123"})
    beta = await _burst(client, f"{gw.http}/gateway/apps/1/b", 4, {"x-Gateway-APIKey": "key-beta-456"})
    assert sorted(a[0] for a in alpha) == [200] * 3 + [429] * 2
    assert sorted(a[0] for a in beta) == [200] * 3 + [429]  # alpha's requests never used beta's allowance
    # per client address: 127.0.0.1 and 127.0.0.2 are two clients of the loopback
    counts = {}
    for source in ("127.0.0.1", "127.0.0.2"):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as session:
            answers = await _burst(session, f"{gw.http}/gateway/peers/1/p", 3)
            counts[source] = sorted(a[0] for a in answers)
    assert counts == {"127.0.0.1": [200, 200, 429], "127.0.0.2": [200, 200, 429]}
    # only beta's requests are counted on only-beta
    alpha = await _burst(client, f"{gw.http}/gateway/only-beta/1/x", 3, {"x-Gateway-APIKey": "key-alpha-123"})
    beta = await _burst(client, f"{gw.http}/gateway/only-beta/1/x", 2, {"x-Gateway-APIKey": "key-beta-456"})
    assert [a[0] for a in alpha] == [200] * 3 and all("RateLimit-Limit" not in a[1] for a in alpha)
    assert sorted(a[0] for a in beta) == [200, 429]


async def test_the_vendor_throttle_template_from_an_archive(gateway, upstream, client, tmp_path):
    throttle = action(
        "throttle",
        g("throttleRule", v("throttleRuleName", "requestCount"), v("monitorRuleOperator", "GT"), v("value", "4")),
        v("consumerIds", "AllConsumers"), v("consumerSpecificCounter", "false"),
        v("alertInterval", "1"), v("alertIntervalUnit", "minutes"), v("alertFrequency", "once"), v("alertMessage", "limit"),
        g("destination", v("destinationType", "GATEWAY")),
        name="Traffic Optimization",
    )
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Limited", "1.0"), [routing(), throttle])))
    gw = await gateway({"endpoint_rewrites": {"https://prod.example.com": f"{upstream.url}/echo"}}, args=("-a", str(tmp_path / "a.zip")))
    answers = await _burst(client, f"{gw.http}/gateway/Limited/1.0/v", 9)
    assert sorted(a[0] for a in answers) == [200] * 4 + [429] * 5
    assert all(a[1]["RateLimit-Limit"] == "4" for a in answers if a[0] == 200)
    assert "alerts (destination, alertMessage, alertFrequency) are not sent" in gw.log


async def test_check_refuses_what_cannot_be_counted(tmp_path):
    def one(throttle: dict):
        return write_config(tmp_path, {"apis": [{"name": "a", "version": "1", "endpoint": "http://127.0.0.1:9/x", "policies": {"throttle": throttle}}]})

    code, _, err = await run_microgw("check", "-c", str(one({"limits": [{"requests": 0, "per": "soon"}]})))
    assert code == 2
    assert "apis[0].policies.throttle.limits[0].requests" in err
    assert "apis[0].policies.throttle.limits[0].per: 'soon' is not seconds, or a number with a unit: 30s, 5m, 2h, 1d" in err
    code, _, err = await run_microgw("check", "-c", str(one({"limits": [{"requests": 3, "per": "1m", "by": "application"}]})))
    assert code == 2
    assert "apis[0].policies.throttle.limits" in err and "needs the identify policy" in err


async def test_unsupported_vendor_rules_are_refused_or_skipped(upstream, tmp_path):
    throttle = action("throttle", g("throttleRule", v("throttleRuleName", "averageResponseTime"), v("monitorRuleOperator", "GT"), v("value", "4")))
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Slow", "1.0"), [routing(), throttle])))
    config = write_config(tmp_path, {"ports": {"http": 0}})
    code, _, err = await run_microgw("check", "-c", str(config), "-a", str(tmp_path / "a.zip"))
    assert code == 2 and "throttleRuleName 'averageResponseTime'" in err
    code, _, err = await run_microgw("check", "-c", str(config), "-a", str(tmp_path / "a.zip"), "--skip-unsupported-policies")
    assert code == 0 and "dropped throttleRuleName 'averageResponseTime'" in err


async def test_with_two_workers_the_group_never_exceeds_the_limit(gateway, upstream):
    """Each worker allows floor(5 / 2) = 2: one connection held to each worker, 5 requests on each,
    and the group lets 4 through — never more than the limit of 5."""
    gw = await gateway({"apis": [api("group", upstream.url, {"limits": [{"requests": 5, "per": "1h"}]})]}, args=("--workers", "2"))
    held: dict[int, aiohttp.ClientSession] = {}
    try:
        for _ in range(200):  # new connections until each worker holds one (the kernel spreads them)
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
            async with session.get(f"{gw.http}/rest/microgateway/status") as resp:
                status, body = resp.status, await resp.json()
            if status == 503:  # that worker listens but is still starting (it listens before assembling its settings)
                await session.close()
                await asyncio.sleep(0.05)
                continue
            index = body["worker"]["index"]
            if index in held:
                await session.close()
            else:
                held[index] = session
            if len(held) == 2:
                break
        assert sorted(held) == [0, 1]
        statuses = {}
        for index, session in held.items():
            statuses[index] = []
            for _ in range(5):
                async with session.get(f"{gw.http}/gateway/group/1/grp") as resp:
                    statuses[index].append(resp.status)
                    if resp.status == 200:
                        assert resp.headers["RateLimit-Limit"] == "2"
    finally:
        for session in held.values():
            await session.close()
    assert statuses == {0: [200, 200, 429, 429, 429], 1: [200, 200, 429, 429, 429]}
    assert _forwarded(upstream, "grp") == 4
