"""OAuth 2 end to end: opaque tokens introspected at a real RFC 7662 server on loopback, JWTs
validated locally (minted by PyJWT), scopes, oAuth2Token identification, and what a client sees when
the introspection endpoint is slow, down or refuses microgw."""

from __future__ import annotations

import asyncio
import time

import pytest

from microgw.config.errors import ConfigError
from support.configs import load_settings, problems, write
from support.idp import auth_server


def introspecting(server, **tuning) -> dict:
    item = {
        "id": "kc",
        "name": "Keycloak",
        "remoteIntrospectionConfig": {
            "introspectionEndpoint": server.url,
            "clientId": server.client_id,
            "clientSecret": server.client_secret,
        },
    }
    if tuning:
        item["introspection"] = tuning
    return item


def api(upstream, **oauth2) -> dict:
    return {"name": "orders", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"oauth2": oauth2}}


def config(servers: list, apis: list, **extra) -> dict:
    return {"security_settings": {"auth_servers": servers}, "apis": apis, **extra}


def active(**claims) -> dict:
    return {"active": True, "exp": int(time.time()) + 300, "client_id": "shop", "sub": "alice", **claims}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_active_opaque_token_is_introspected_once_then_cached(gateway, upstream, client, introspection_server):
    introspection_server.tokens["opaque-1"] = active(scope="orders.read")
    gw = await gateway(config([introspecting(introspection_server)], [api(upstream)]))
    for _ in range(5):
        async with client.get(f"{gw.http}/gateway/orders/1/items", headers=bearer("opaque-1")) as resp:
            assert resp.status == 200, await resp.text()
            seen = (await resp.json())["headers"]
            assert "authorization" not in seen  # the token never reaches the native service
    assert introspection_server.hits == 1  # four cache hits
    request = introspection_server.seen[0]
    assert request["form"] == {"token": "opaque-1", "token_type_hint": "access_token"}
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert "opaque-1" not in gw.log and introspection_server.client_secret not in gw.log


async def test_inactive_and_expired_tokens_get_401_and_inactive_answers_are_cached(gateway, upstream, client, introspection_server):
    introspection_server.tokens["old"] = active(exp=int(time.time()) - 120)
    gw = await gateway(config([introspecting(introspection_server)], [api(upstream)]))
    for _ in range(3):
        async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("revoked")) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == "invalid_token"
            assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="microgw", error="invalid_token"')
    assert introspection_server.hits == 1  # the inactive answer is reused for a while
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("old")) as resp:
        assert resp.status == 401
        assert "expired" in (await resp.json())["message"]
    async with client.get(f"{gw.http}/gateway/orders/1/") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="microgw"'


async def test_wrong_client_secret_is_503_not_the_clients_fault(gateway, upstream, client, introspection_server):
    server = introspecting(introspection_server)
    server["remoteIntrospectionConfig"]["clientSecret"] = "not-the-secret"
    introspection_server.tokens["t"] = active()
    gw = await gateway(config([server], [api(upstream)]))
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("t")) as resp:
        assert resp.status == 503
        body = await resp.json()
        assert body["code"] == "introspection_unavailable"
        assert "WWW-Authenticate" not in resp.headers and "Retry-After" in resp.headers
    line = await gw.wait_for_log("refused microgw's client credentials")
    assert "HTTP 401" in line and "not-the-secret" not in gw.log


async def test_slow_server_times_out_and_the_breaker_stops_asking(gateway, upstream, client, introspection_server):
    introspection_server.delay = 5
    tuning = {"timeout": 0.3, "failure_threshold": 2, "open_seconds": 60}
    gw = await gateway(config([introspecting(introspection_server, **tuning)], [api(upstream)]))
    for n in range(2):
        started = time.monotonic()
        async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(f"slow-{n}")) as resp:
            assert resp.status == 503
            assert time.monotonic() - started < 3  # the timeout, not the server's 5 s
    await gw.wait_for_log("circuit breaker open for 60 s")
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("slow-3")) as resp:
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) > 30
    assert introspection_server.hits == 2  # the open breaker answered the third without asking


async def test_down_server_is_503(gateway, upstream, client, introspection_server):
    item = introspecting(introspection_server)
    await introspection_server.stop()  # nothing listens on its port any more
    gw = await gateway(config([item], [api(upstream)]))
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("t")) as resp:
        assert resp.status == 503
        assert (await resp.json())["message"].startswith("The token cannot be checked now")
    assert "cannot connect" in await gw.wait_for_log("introspection http://127.0.0.1")


async def test_one_request_in_flight_per_token(gateway, upstream, client, introspection_server):
    introspection_server.tokens["busy"] = active()
    introspection_server.delay = 0.3
    gw = await gateway(config([introspecting(introspection_server)], [api(upstream)]))

    async def call() -> int:
        async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("busy")) as resp:
            return resp.status

    assert await asyncio.gather(*(call() for _ in range(10))) == [200] * 10
    assert introspection_server.hits == 1


async def test_scopes_all_any_and_per_resource(gateway, upstream, client, introspection_server):
    introspection_server.tokens.update({
        "reader": active(scope="orders.read profile"),
        "writer": active(scope="orders.read orders.write"),
        "admin": active(scp=["orders.read", "orders.admin"]),
    })
    policy = {
        "scopes": ["orders.read"],
        "resources": [
            {"resources": ["/orders/**"], "methods": ["POST", "DELETE"], "scopes": ["orders.write", "orders.admin"], "match": "any"},
            {"resources": ["/admin/**"], "scopes": ["orders.admin", "orders.read"]},
        ],
    }
    gw = await gateway(config([introspecting(introspection_server)], [api(upstream, **policy)]))
    expected = [
        ("reader", "GET", "/orders/1", 200),
        ("reader", "POST", "/orders", 403),
        ("writer", "POST", "/orders", 200),
        ("admin", "DELETE", "/orders/1", 200),
        ("writer", "GET", "/admin/users", 403),
        ("admin", "GET", "/admin/users", 200),
    ]
    for token, method, path, status in expected:
        async with client.request(method, f"{gw.http}/gateway/orders/1{path}", headers=bearer(token)) as resp:
            assert resp.status == status, (token, method, path, await resp.text())
            if status == 403:
                body = await resp.json()
                assert body["code"] == "insufficient_scope"
                www = resp.headers["WWW-Authenticate"]
                assert www.startswith('Bearer realm="microgw", error="insufficient_scope"')
                wanted = "orders.write orders.admin" if method == "POST" else "orders.admin orders.read"
                assert www.endswith(f'scope="{wanted}"')
    introspection_server.tokens["none"] = active()
    async with client.get(f"{gw.http}/gateway/orders/1/x", headers=bearer("none")) as resp:
        assert resp.status == 403
        assert resp.headers["WWW-Authenticate"].endswith('scope="orders.read"')


async def test_jwts_are_validated_locally_and_scoped(gateway, upstream, client, idp, introspection_server):
    servers = [auth_server("idp", idp.issuer, idp.jwks_uri), introspecting(introspection_server)]
    gw = await gateway(config(servers, [api(upstream, scopes=["a", "b"], match="any")]))
    await gw.wait_ready(client)
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(idp.token(scope="b c"))) as resp:
        assert resp.status == 200, await resp.text()
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(idp.token(scp=["c"]))) as resp:
        assert resp.status == 403
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(idp.token(scope="a", lifetime=-200))) as resp:
        assert resp.status == 401  # expired, refused locally
    assert introspection_server.hits == 0  # JWTs never went to the introspection endpoint


async def test_introspect_every_token_of_an_issuer(gateway, upstream, client, idp, introspection_server):
    """introspection.tokens: all — a JWT of that server's issuer is introspected (it may be revoked)."""
    jwt_token = idp.token(scope="a")
    item = {**introspecting(introspection_server, tokens="all"), "localIntrospectionConfig": {"issuer": idp.issuer}}
    gw = await gateway(config([item], [api(upstream, scopes=["a"])]))
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(jwt_token)) as resp:
        assert resp.status == 401  # the server does not know it: inactive, though its signature is fine
    introspection_server.tokens[jwt_token + "x"] = active(scope="a", iss=idp.issuer)
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer(jwt_token + "x")) as resp:
        assert resp.status == 200
    assert introspection_server.hits == 2


async def test_oauth2_token_identification_by_client_id(gateway, upstream, client, introspection_server):
    introspection_server.tokens.update({"shop": active(client_id="shop-client"), "stranger": active(client_id="who")})
    apis = [{
        "name": "orders", "version": "1", "endpoint": f"{upstream.url}/echo",
        "policies": {
            "identify": {"rules": ["oAuth2Token"]},
            "outbound": {"identity_headers": {"application_id": "X-App", "claims": {"X-Client": "client_id"}}},
        },
    }]
    applications = [{"id": "shop-app", "name": "Shop", "client_ids": ["shop-client"], "apis": ["orders/1"]}]
    gw = await gateway(config([introspecting(introspection_server)], apis, applications=applications))
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("shop")) as resp:
        assert resp.status == 200, await resp.text()
        seen = (await resp.json())["headers"]
        assert seen["x-app"] == "shop-app" and seen["x-client"] == "shop-client"
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("stranger")) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == "unauthorized_application"
    async with client.get(f"{gw.http}/gateway/orders/1/") as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ({"introspectionEndpoint": "ftp://x/i", "clientId": "c", "clientSecret": "s"}, "introspectionEndpoint: the introspection endpoint must be an absolute http:// or https:// URL"),
        ({"introspectionEndpoint": "http://127.0.0.1:1/i", "clientSecret": "s"}, "clientId: the introspection endpoint needs client credentials"),
        ({"introspectionEndpoint": "http://127.0.0.1:1/i", "clientId": "c", "clientSecret": "********"}, "clientSecret: the client secret was masked by the export"),
    ],
)
def test_introspection_settings_are_checked(tmp_path, remote, expected):
    import yaml

    text = yaml.safe_dump({"security_settings": {"auth_servers": [{"id": "kc", "remoteIntrospectionConfig": remote}]}, "apis": []})
    path = write(tmp_path, "c.yml", text)
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert any(expected in p for p in problems(exc)), problems(exc)


async def test_the_breaker_closes_again_once_the_server_answers(gateway, upstream, client, introspection_server):
    """After open_seconds one request tries again; its success lets every request through again."""
    introspection_server.tokens["t"] = active()
    introspection_server.status = 500
    tuning = {"failure_threshold": 1, "open_seconds": 0.5}
    gw = await gateway(config([introspecting(introspection_server, **tuning)], [api(upstream)]))
    async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("t")) as resp:
        assert resp.status == 503
    await gw.wait_for_log("the server answered HTTP 500; circuit breaker open")
    introspection_server.status = 200
    deadline = time.monotonic() + 10
    while True:  # 503 from the open breaker until its half second is over, then the trial request passes
        async with client.get(f"{gw.http}/gateway/orders/1/", headers=bearer("t")) as resp:
            if resp.status == 200:
                break
            assert resp.status == 503 and time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert introspection_server.hits == 2  # the failure and the trial; the breaker asked nobody in between
