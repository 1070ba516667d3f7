"""Attack: requests that a native service may read differently from the gateway — dot segments in
every encoding, method-override headers, a forged X-Forwarded-Host, token look-alikes."""

from __future__ import annotations

import base64

from yarl import URL

from support import basic_auth
from support.raw import raw_request


async def test_dot_segments_in_any_encoding_are_refused(gateway, upstream, client):
    gw = await gateway({"apis": [{"name": "p", "version": "1.0", "endpoint": f"{upstream.url}/echo/public"}]})
    for path in ("..%00/admin", "..%20/admin", "%c0%ae%c0%ae/admin", "%u002e%u002e/admin", "%ef%bc%8e%ef%bc%8e/admin",
                 "%25252e%25252e/admin", "%e0%80%ae%e0%80%ae/admin", ".%09/admin", "a/%U002E%U002E/admin"):
        async with client.get(URL(f"{gw.http}/gateway/p/1.0/{path}", encoded=True)) as resp:
            assert resp.status == 400, path
            assert (await resp.json())["code"] == "invalid_path"
    assert upstream.received == []
    async with client.get(URL(f"{gw.http}/gateway/p/1.0/v1.2/a..b/%2e%2e%2e", encoded=True)) as resp:  # the bystander
        assert resp.status == 200
    assert [r["path_qs"] for r in upstream.received] == ["/echo/public/v1.2/a..b/%2e%2e%2e"]


async def test_method_override_headers_cannot_pass_a_methods_restriction(gateway, upstream, client):
    gw = await gateway({"apis": [{"name": "r", "version": "1.0", "endpoint": f"{upstream.url}/echo", "methods": ["GET", "POST"]}]})
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        async with client.post(f"{gw.http}/gateway/r/1.0/", headers={header: "DELETE"}) as resp:
            assert resp.status == 405, header
            assert resp.headers["Allow"] == "GET, POST" and (await resp.json())["code"] == "method_not_allowed"
    assert upstream.received == []
    async with client.post(f"{gw.http}/gateway/r/1.0/", headers={"X-HTTP-Method-Override": "get"}) as resp:
        assert resp.status == 200  # an allowed method is fine


async def test_x_forwarded_host_is_never_passed_unchecked(gateway, upstream):
    gw = await gateway({"apis": [{"name": "h", "version": "1.0", "endpoint": f"{upstream.url}/echo"}]})
    port = gw.ports["http"]
    for host in (b"evil.example, api.example", b"api.example/../admin", b"api.example@evil"):
        answer = await raw_request(port, b"GET /gateway/h/1.0/ HTTP/1.1\r\nHost: " + host + b"\r\nX-Forwarded-Host: forged\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        assert b"x-forwarded-host" not in answer.lower()
    answer = await raw_request(port, b"GET /gateway/h/1.0/ HTTP/1.1\r\nHost: api.example:8443\r\nConnection: close\r\n\r\n")
    assert b'"x-forwarded-host":"api.example:8443"' in answer.replace(b" ", b"")


async def test_token_look_alikes_never_reach_the_native_service(gateway, upstream, client):
    plain = "{encoded}" + base64.b64encode(b"alice-pw").decode()
    gw = await gateway({
        "extended_settings": {"pg_JWT_isHTTPS": False},
        "issuer": {"issuer": "tricks"},
        "users": [{"name": "alice", "password": plain}],
        "apis": [
            {"name": "q", "version": "1.0", "endpoint": f"{upstream.url}/echo", "policies": {"jwt": {"token_from": {"query": "access_token"}}}},
            {"name": "c", "version": "1.0", "endpoint": f"{upstream.url}/echo", "policies": {"jwt": {"token_from": {"cookie": "access_token"}}}},
        ],
    })
    async with client.get(f"{gw.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=basic_auth("alice", "alice-pw")) as resp:
        token = (await resp.json())["jwt"]
    query = f"access_token={token}&access.token=FORGED1&access_token%5B%5D=FORGED2&ACCESS_TOKEN=FORGED3&access-token=FORGED4&keep=1"
    async with client.get(URL(f"{gw.http}/gateway/q/1.0/x?{query}", encoded=True)) as resp:
        assert resp.status == 200
        seen = await resp.json()
    assert seen["path_qs"] == "/echo/x?keep=1"
    cookies = f"access_token={token}; access.token=FORGED5; access_token[]=FORGED6; theme=dark"
    async with client.get(f"{gw.http}/gateway/c/1.0/", headers={"Cookie": cookies}) as resp:
        assert resp.status == 200
        seen = await resp.json()
    assert seen["headers"]["cookie"] == "theme=dark"
    assert not any("FORGED" in str(r) for r in upstream.received)


async def test_method_override_cannot_pick_a_weaker_scope(gateway, upstream, client):
    scopes = [
        {"name": "open", "resources": ["/public/**"], "policies": {"jwt": {"required": False}}},
        {"name": "write", "resources": ["/public/{id}"], "methods": ["DELETE"], "policies": {"jwt": {"required": True}}},
    ]
    gw = await gateway({"apis": [{"name": "films", "version": "1", "endpoint": f"{upstream.url}/echo",
                                  "policies": {"jwt": {}, "scopes": scopes}}]})
    base = f"{gw.http}/gateway/films/1/public/1"
    async with client.delete(base) as resp:
        assert resp.status == 401  # the strong scope
    async with client.get(base, headers={"X-HTTP-Method-Override": "DELETE"}) as resp:  # the open scope, posing as DELETE
        assert resp.status == 400
        assert (await resp.json())["code"] == "method_override_not_allowed"
    assert upstream.received == []
    async with client.get(base, headers={"X-HTTP-Method-Override": "GET"}) as resp:  # the bystander
        assert resp.status == 200
