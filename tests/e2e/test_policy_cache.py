"""serviceResultCache end to end: hits proven by counting at the native service, X-Cache and Age,
keys per application (never shared unless configured), Cache-Control from both sides, lifetime and
size limits, and the vendor's template from an archive."""

from __future__ import annotations

import asyncio
from typing import Any

from support.vendor_archive import action, api_doc, g, routing, v, vendor_archive

APPS = [
    {"id": "alpha", "name": "Alpha", "api_keys": ["key-alpha-123"]},
    {"id": "beta", "name": "Beta", "api_keys": ["key-beta-456"]},
]
ALPHA = {"x-Gateway-APIKey": "key-alpha-123"}
BETA = {"x-Gateway-APIKey": "key-beta-456"}


def api(name: str, upstream_url: str, cache: dict, **policies) -> dict:
    return {"name": name, "version": "1", "endpoint": upstream_url, "policies": {"serviceResultCache": cache, **policies}}


def calls(upstream, name: str) -> int:
    """How many requests for /doc/<name> reached the native service."""
    return sum(1 for r in upstream.received if r["path_qs"].split("?")[0] == f"/doc/{name}")


async def get(client, url: str, headers: dict | None = None) -> tuple[int, Any, bytes]:
    async with client.get(url, headers=headers or {}) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


async def test_hits_are_answered_without_the_native_service(gateway, upstream, client):
    upstream.documents["films"] = ("application/json", b'{"films": ["Totoro"]}', {"ETag": '"v1"'})
    upstream.documents["big"] = ("text/plain", b"x" * 3000)
    upstream.documents.update({n: ("text/plain", n.encode()) for n in ("a", "b", "c")})
    gw = await gateway({"apis": [api("c", upstream.url, {"ttl": "5m", "max_entries": 2, "max_entry_bytes": "2k"})]})
    base = f"{gw.http}/gateway/c/1/doc"
    status, headers, body = await get(client, f"{base}/films?lang=en")
    assert (status, headers["X-Cache"], body) == (200, "MISS", b'{"films": ["Totoro"]}')
    for _ in range(3):
        status, headers, body = await get(client, f"{base}/films?lang=en")
        assert (status, headers["X-Cache"], body) == (200, "HIT", b'{"films": ["Totoro"]}')
        assert int(headers["Age"]) >= 0 and headers["ETag"] == '"v1"' and headers["Content-Type"] == "application/json"
    assert calls(upstream, "films") == 1  # three hits, one call
    status, headers, _ = await get(client, f"{base}/films?lang=fr")  # another query: another answer
    assert headers["X-Cache"] == "MISS" and calls(upstream, "films") == 2
    # a gzip answer is never served to a client that asked for none: Accept-Encoding is in the key
    _, headers, _ = await get(client, f"{base}/films?lang=en", {"Accept-Encoding": "gzip"})
    assert headers["X-Cache"] == "MISS"
    # answers over max_entry_bytes are not kept
    for _ in range(2):
        status, headers, body = await get(client, f"{base}/big")
        assert status == 200 and len(body) == 3000 and headers["X-Cache"] == "MISS"
    assert calls(upstream, "big") == 2
    # POST is never cached
    async with client.post(f"{base}/a") as resp:
        assert resp.status == 200 and "X-Cache" not in resp.headers


async def test_the_least_recently_used_answer_goes_first(gateway, upstream, client):
    upstream.documents.update({n: ("text/plain", n.encode()) for n in ("a", "b", "c")})
    gw = await gateway({"apis": [api("lru", upstream.url, {"max_entries": 2})]})
    base = f"{gw.http}/gateway/lru/1/doc"
    for name in ("a", "b", "a", "c"):  # a is used again, so b is the least recently used when c comes
        await get(client, f"{base}/{name}")
    assert [(await get(client, f"{base}/{n}"))[1]["X-Cache"] for n in ("a", "c", "b")] == ["HIT", "HIT", "MISS"]


async def test_answers_are_never_shared_across_applications_unless_configured(gateway, upstream, client):
    upstream.documents["me"] = ("application/json", b'{"private": true}')
    config = {
        "applications": APPS,
        "apis": [
            api("apps", upstream.url, {}, identify={"rules": ["apiKey"], "lookup": "open"}),
            api("open", upstream.url, {}),
            api("public", upstream.url, {"shared": True}, identify={"rules": ["apiKey"], "lookup": "open"}),
        ],
    }
    gw = await gateway(config)
    url = f"{gw.http}/gateway/apps/1/doc/me"
    assert [(await get(client, url, h))[1]["X-Cache"] for h in (ALPHA, ALPHA, BETA, BETA, ALPHA)] == ["MISS", "HIT", "MISS", "HIT", "HIT"]
    assert calls(upstream, "me") == 2  # one per application
    # credentials the gateway did not turn into an application: never cached
    before = calls(upstream, "me")
    for headers in ({"Authorization": "Bearer abc.def.ghi"}, {"Cookie": "session=s3cr3t"}, {"x-Gateway-APIKey": "k"}) * 2:
        _, answer, _ = await get(client, f"{gw.http}/gateway/open/1/doc/me", headers)
        assert answer["X-Cache"] == "BYPASS"
    assert calls(upstream, "me") == before + 6
    # anonymous callers share one entry
    assert [(await get(client, f"{gw.http}/gateway/open/1/doc/me"))[1]["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    # shared: true — one entry for every application
    url = f"{gw.http}/gateway/public/1/doc/me"
    assert [(await get(client, url, h))[1]["X-Cache"] for h in (ALPHA, BETA)] == ["MISS", "HIT"]


async def test_cache_control_of_client_and_native_service(gateway, upstream, client):
    upstream.documents["plain"] = ("text/plain", b"plain")
    upstream.documents["private"] = ("text/plain", b"mine", {"Cache-Control": "private, max-age=60"})
    upstream.documents["nostore"] = ("text/plain", b"never", {"Cache-Control": "no-store"})
    upstream.documents["cookie"] = ("text/plain", b"c", {"Set-Cookie": "s=1"})
    upstream.documents["vary"] = ("text/plain", b"v", {"Vary": "X-Tenant"})
    upstream.documents["short"] = ("text/plain", b"s", {"Cache-Control": "max-age=1"})
    gw = await gateway({"apis": [api("cc", upstream.url, {"ttl": "1h"})]})
    base = f"{gw.http}/gateway/cc/1/doc"
    for name in ("private", "nostore", "cookie", "vary"):
        assert [(await get(client, f"{base}/{name}"))[1]["X-Cache"] for _ in range(2)] == ["MISS", "MISS"], name
        assert calls(upstream, name) == 2
    assert (await get(client, f"{base}/plain", {"Cache-Control": "no-store"}))[1]["X-Cache"] == "BYPASS"
    assert (await get(client, f"{base}/plain"))[1]["X-Cache"] == "MISS"
    assert (await get(client, f"{base}/plain"))[1]["X-Cache"] == "HIT"
    assert (await get(client, f"{base}/plain", {"Cache-Control": "no-cache"}))[1]["X-Cache"] == "MISS"  # fetched afresh
    assert calls(upstream, "plain") == 3
    # max-age=1 from the native service shortens the hour: the answer expires within about a second
    assert (await get(client, f"{base}/short"))[1]["X-Cache"] == "MISS"
    deadline = asyncio.get_running_loop().time() + 5
    while (await get(client, f"{base}/short"))[1]["X-Cache"] == "HIT":
        assert asyncio.get_running_loop().time() < deadline, "max-age=1 was not honoured"
        await asyncio.sleep(0.1)
    assert calls(upstream, "short") == 2


async def test_the_vendor_template_from_an_archive(gateway, upstream, client, tmp_path):
    upstream.documents["tier"] = ("text/plain", b"t")
    cache = action(
        "serviceResultCache",
        v("ttl", "5m"), v("max-payload-size", "1024"),
        g("cacheCriteria", g("httpHeader", v("httpHeaderName", "X-Tier"), v("whiteList", "gold", "silver")), g("queryParam", v("queryParamName", "fmt"), v("whiteList", "json"))),
        name="Service Result Cache",
    )
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Cached", "1.0"), [routing("https://prod.example.com/${sys:resource_path}"), cache])))
    gw = await gateway({"endpoint_rewrites": {"https://prod.example.com": upstream.url}}, args=("-a", str(tmp_path / "a.zip")))
    url = f"{gw.http}/gateway/Cached/1.0/doc/tier?fmt=json"
    seen = [(await get(client, url, {"X-Tier": tier}))[1]["X-Cache"] for tier in ("gold", "gold", "silver", "silver", "bronze", "bronze")]
    assert seen == ["MISS", "HIT", "MISS", "HIT", "BYPASS", "BYPASS"]  # the tier is in the key; bronze is not whitelisted
    assert (await get(client, url.replace("json", "xml"), {"X-Tier": "gold"}))[1]["X-Cache"] == "BYPASS"
    assert calls(upstream, "tier") == 5


async def test_concurrent_misses_of_one_key_make_one_call(gateway, upstream, client):
    gw = await gateway({"apis": [api("herd", upstream.url, {"ttl": "1h"})]})
    url = f"{gw.http}/gateway/herd/1/slow?delay=0.3"

    async def one():
        async with client.get(url) as resp:
            return resp.status, resp.headers["X-Cache"], await resp.json()

    answers = await asyncio.gather(*(one() for _ in range(8)))
    assert all(status == 200 and body == {"slept": True} for status, _, body in answers)
    assert sorted(cache for _, cache, _ in answers) == ["HIT"] * 7 + ["MISS"]
    assert sum(1 for r in upstream.received if r["path_qs"].startswith("/slow")) == 1
