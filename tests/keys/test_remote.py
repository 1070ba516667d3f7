"""keys.remote against a real JWKS server on loopback: readiness, failures, limits, rate limiting."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time

import pytest
import trustme
from support.idp import JwksServer
from jwtkit import ec_key, eventually, jwk_of, jwks, rsa_key

from microgw.keys.remote import RemoteJwksSource

FAST = dict(refresh_interval=60, unknown_kid_cooldown=30, timeout=2, retry_initial=0.02, retry_max=0.05)


@pytest.fixture
async def sources():
    """Every source made through this fixture is closed after the test."""
    made: list[RemoteJwksSource] = []

    async def make(url: str, start: bool = True, **kw) -> RemoteJwksSource:
        source = RemoteJwksSource(url, **{**FAST, **kw})
        made.append(source)
        if start:
            await source.start()
        return source

    yield make
    for source in made:
        await source.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_keys_are_fetched_in_the_background(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"), jwk_of(ec_key(), "e1"))
    source = await sources(jwks_server.url)
    assert await source.wait_ready(5)
    assert [k.kid for k in source.candidates("r1", "RS256")] == ["r1"]
    assert [k.kid for k in source.candidates(None, "ES256")] == ["e1"]
    assert source.candidates("r1", "ES256") == []
    status = source.status()
    assert status["ready"] and status["kids"] == ["e1", "r1"] and status["fetch_success"] == 1
    assert status["last_error"] is None and status["last_success"] <= time.time()


async def test_start_does_not_wait_for_a_slow_idp(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    jwks_server.delay = 0.3
    started = time.monotonic()
    source = await sources(jwks_server.url)
    assert time.monotonic() - started < 0.2
    assert not source.ready and source.candidates("r1", "RS256") == []
    assert await source.wait_ready(5)


async def test_idp_down_at_start_then_up(sources):
    port = free_port()
    source = await sources(f"http://127.0.0.1:{port}/jwks.json")
    await eventually(lambda: source.fetch_failure >= 2)
    assert not source.ready
    assert source.last_error.startswith("cannot connect")
    server = JwksServer(document=jwks(jwk_of(rsa_key(), "r1")))
    await server.start(port=port)
    try:
        assert await source.wait_ready(5)
        assert source.last_error is None and source.candidates("r1", "RS256")
    finally:
        await server.stop()


async def test_http_errors_then_recovery(jwks_server, sources):
    jwks_server.status = 503
    source = await sources(jwks_server.url)
    await eventually(lambda: source.fetch_failure >= 1)
    assert source.last_error == "HTTP 503" and not source.ready
    jwks_server.status = 200
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    assert await source.wait_ready(5)


@pytest.mark.parametrize(
    "change, error",
    [
        ({"status": 500}, "HTTP 500"),
        ({"document": b"<html>oops</html>"}, "invalid JWKS: not valid JSON"),
        ({"document": {"no": "keys"}}, 'invalid JWKS: not a JWK Set (expected an object with a "keys" list)'),
        ({"document": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}}, "the JWKS has no usable signing key"),
    ],
)
async def test_failure_later_keeps_the_last_good_keys(jwks_server, sources, change, error):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url)
    assert await source.wait_ready(5)
    for name, value in change.items():
        setattr(jwks_server, name, value)
    assert await source.refresh() is False
    assert source.last_error == error and source.fetch_failure == 1
    assert source.ready and [k.kid for k in source.candidates("r1", "RS256")] == ["r1"]


async def test_server_gone_later_keeps_keys(sources):
    server = await JwksServer(document=jwks(jwk_of(rsa_key(), "r1"))).start()
    source = await sources(server.url)
    assert await source.wait_ready(5)
    await server.stop()
    assert await source.refresh() is False
    assert source.last_error.startswith("cannot connect") or source.last_error.startswith("fetch failed")
    assert source.candidates("r1", "RS256")


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversize_jwks_is_refused(jwks_server, sources, chunked):
    big = jwks(*[jwk_of(rsa_key(), f"r{i}") for i in range(40)])
    jwks_server.document = big
    jwks_server.chunked = chunked
    source = await sources(jwks_server.url, max_bytes=4096)
    await eventually(lambda: source.fetch_failure >= 1)
    assert source.last_error == "response larger than 4096 bytes" and not source.ready
    assert len(json.dumps(big)) > 4096


async def test_slow_server_times_out(jwks_server, sources):
    jwks_server.delay = 3
    started = time.monotonic()
    source = await sources(jwks_server.url, timeout=0.2, start=False)
    await source.start()
    await eventually(lambda: source.fetch_failure >= 1, timeout=2)
    assert source.last_error == "timed out after 0.2 s"
    assert time.monotonic() - started < 1.5


async def test_periodic_refresh_picks_up_changes(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url, refresh_interval=0.05)
    assert await source.wait_ready(5)
    jwks_server.document = jwks(jwk_of(rsa_key("b"), "r2"))
    await eventually(lambda: bool(source.candidates("r2", "RS256")))
    assert source.candidates("r1", "RS256") == []
    assert jwks_server.hits >= 2


async def test_unknown_kid_refresh_is_rate_limited(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url, unknown_kid_cooldown=30)
    assert await source.wait_ready(5)
    assert jwks_server.hits == 1
    results = [await source.refresh_for_unknown_kid(f"random-{i}") for i in range(50)]
    assert results == [False] * 50
    assert jwks_server.hits == 2 and source.unknown_kid_fetches == 1
    assert await source.refresh_for_unknown_kid("r1") is True  # known kids need no fetch
    assert jwks_server.hits == 2


async def test_concurrent_unknown_kids_share_one_fetch(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url, unknown_kid_cooldown=30)
    assert await source.wait_ready(5)
    jwks_server.delay = 0.2
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"), jwk_of(rsa_key("b"), "r2"))
    results = await asyncio.gather(*(source.refresh_for_unknown_kid("r2" if i % 2 else f"x{i}") for i in range(40)))
    assert jwks_server.hits == 2
    assert results == [bool(i % 2) for i in range(40)]


async def test_cooldown_window_reopens(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url, unknown_kid_cooldown=0.1)
    assert await source.wait_ready(5)
    await source.refresh_for_unknown_kid("a")
    await source.refresh_for_unknown_kid("b")
    assert jwks_server.hits == 2
    await eventually(lambda: time.monotonic() - source._last_on_demand >= 0.1)
    await source.refresh_for_unknown_kid("c")
    assert jwks_server.hits == 3


async def test_not_started_source_never_fetches(jwks_server, sources):
    source = await sources(jwks_server.url, start=False)
    assert await source.refresh_for_unknown_kid("x") is False
    assert await source.refresh() is False
    assert jwks_server.hits == 0 and not source.ready


async def test_close_stops_fetching_and_keeps_keys(jwks_server, sources):
    jwks_server.document = jwks(jwk_of(rsa_key(), "r1"))
    source = await sources(jwks_server.url, refresh_interval=0.02)
    await eventually(lambda: jwks_server.hits >= 2)
    await source.close()
    await source.close()  # twice is fine
    hits = jwks_server.hits
    await asyncio.sleep(0.1)  # long enough for several refresh intervals: none may happen
    assert jwks_server.hits == hits
    assert source.candidates("r1", "RS256")


async def test_redirects_are_followed_within_http(jwks_server, sources):
    target = await JwksServer(document=jwks(jwk_of(rsa_key(), "r1"))).start()
    try:
        jwks_server.redirect_to = target.url
        source = await sources(jwks_server.url)
        assert await source.wait_ready(5)
    finally:
        await target.stop()


async def test_redirect_to_another_host_is_refused(jwks_server, sources):
    evil = await JwksServer(document=jwks(jwk_of(rsa_key("b"), "evil"))).start()
    try:
        jwks_server.redirect_to = evil.url.replace("127.0.0.1", "localhost")  # another host, same machine
        source = await sources(jwks_server.url)
        assert await source.refresh() is False
        assert source.last_error == "redirect to another host refused"
        assert evil.hits == 0 and source.candidates("evil", "RS256") == []
    finally:
        await evil.stop()


async def test_redirect_from_https_to_http_is_refused(sources, jwks_server):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    secure = await JwksServer(document=jwks(jwk_of(rsa_key(), "r1")), ssl_context=server_ctx).start()
    try:
        source = await sources(secure.url, ssl_context=client_ctx)
        assert await source.wait_ready(5)  # https itself works with the configured trust
        jwks_server.document = jwks(jwk_of(rsa_key("b"), "evil"))
        secure.redirect_to = jwks_server.url
        assert await source.refresh() is False
        assert source.last_error == "redirect from https to http refused"
        assert jwks_server.hits == 0 and source.candidates("evil", "RS256") == []
    finally:
        await secure.stop()


async def test_untrusted_https_certificate_fails(sources):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    secure = await JwksServer(document=jwks(jwk_of(rsa_key(), "r1")), ssl_context=server_ctx).start()
    try:
        source = await sources(secure.url)  # default trust: the test CA is unknown
        await eventually(lambda: source.fetch_failure >= 1)
        assert not source.ready and source.last_error.startswith(("cannot connect", "fetch failed"))
    finally:
        await secure.stop()


async def test_status_and_errors_never_show_credentials(sources):
    port = free_port()
    source = await sources(f"http://user:s3cret@127.0.0.1:{port}/jwks.json?api_key=s3cret")
    await eventually(lambda: source.fetch_failure >= 1)
    text = json.dumps(source.status()) + repr(source)
    assert "s3cret" not in text and f"127.0.0.1:{port}/jwks.json" in text


@pytest.mark.parametrize("url", ["ftp://x/jwks", "/relative/jwks.json", "http:///nohost"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError, match="JWKS URL"):
        RemoteJwksSource(url)


def test_allowed_algs_apply_to_fetched_keys():
    from microgw.keys.jwks import parse_jwks

    keys = parse_jwks(json.dumps(jwks(jwk_of(rsa_key(), "r1"))), allowed_algs={"PS256"})
    assert keys[0].algs == frozenset({"PS256"})
