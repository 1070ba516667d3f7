"""End to end: applications identified by claims, API keys, Basic users and addresses; lookups,
connectors, anonymous access, ambiguity, suspension, HMAC strategies and what reaches the upstream."""

from __future__ import annotations

import base64
import time

import jwt as pyjwt

from support import basic_auth
from support.gateway import REPO
from support.idp import auth_server

DEMO_KEY = (REPO / "samples" / "keys" / "demo-idp.key").read_bytes()
DEMO_ISSUER = "https://idp.example.com"


def demo_token(**claims) -> str:
    now = int(time.time())
    return pyjwt.encode({"iss": DEMO_ISSUER, "iat": now, "exp": now + 300, **claims}, DEMO_KEY, algorithm="RS256")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_claim_sets_sample(gateway, client):
    gw = await gateway(REPO / "samples" / "claim-sets.yml")
    url = f"{gw.http}/gateway/claims/1.0/hello"
    for claims in ({"sub": "Administrator", "name": "srna"}, {"sub": "Developer", "name": "lnar"}):
        async with client.get(url, headers=bearer(demo_token(**claims))) as resp:
            assert resp.status == 200, claims
            body = await resp.json()
            assert body["application"] == "tutorial-app"
            assert "authorization" not in body["headers"]
    for claims in ({"sub": "Administrator", "name": "lnar"}, {"sub": "Developer", "name": "srna"}, {"sub": "Administrator"}):
        async with client.get(url, headers=bearer(demo_token(**claims))) as resp:
            assert resp.status == 403, claims
            body = await resp.json()
            assert body["code"] == "unauthorized_application"
            assert "Unauthorized application request" in body["Exception"]
    async with client.get(url) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="microgw"'
    await gw.wait_for_log(r"/gateway/claims/1.0/hello\" 200 .* app=tutorial-app")  # the access log names the application


def apps_config(upstream_url: str, *apis, applications, **extra) -> dict:
    return {
        "trust_store": {"type": "PEM", "location": str(REPO / "samples" / "keys" / "demo-idp.crt")},
        "security_settings": {"auth_servers": [auth_server("demo", DEMO_ISSUER, None, certificateAlias="demo-idp")]},
        "applications": applications,
        "apis": list(apis),
        **extra,
    }


def api(name: str, upstream_url: str, **policies) -> dict:
    return {"name": name, "version": "1.0", "endpoint": f"{upstream_url}/echo", "policies": policies}


APPS = [
    {"id": "registered", "name": "Registered", "claim_sets": [{"sub": "reg"}], "api_keys": ["key-reg"], "apis": ["shop/1.0"]},
    {"id": "global", "name": "Global", "claim_sets": [{"sub": "glob"}], "api_keys": ["key-glob"], "basic_users": ["alice"]},
    {"id": "twin-a", "name": "Twin A", "claim_sets": [{"team": "twins"}], "apis": ["shop"]},
    {"id": "twin-b", "name": "Twin B", "claim_sets": [{"team": "twins", "sub": "t"}], "apis": ["shop"]},
    {"id": "sleepy", "name": "Suspended", "suspended": True, "api_keys": ["key-sleepy"], "apis": ["shop"]},
    {"id": "local", "name": "Loopback", "ip_ranges": ["127.0.0.1-127.0.0.9"], "apis": ["net"]},
]


async def test_lookups_and_outcomes(gateway, client, upstream):
    gw = await gateway(
        apps_config(
            upstream.url,
            api("shop", upstream.url, identify={"rules": ["jwtClaims", "apiKey"], "lookup": "strict"}),
            api("open", upstream.url, identify={"rules": ["jwtClaims", "apiKey"], "lookup": "open"}),
            api("relax", upstream.url, identify={"rules": ["apiKey"], "lookup": "relax", "default_application": "registered"}),
            api("anon", upstream.url, identify={"rules": ["apiKey"], "allow_anonymous": True, "lookup": "open"}),
            api("net", upstream.url, identify={"rules": ["ipAddressRange"]}),
            applications=APPS,
        )
    )

    async def call(name: str, headers: dict | None = None) -> tuple[int, dict]:
        async with client.get(f"{gw.http}/gateway/{name}/1.0/x", headers=headers or {}) as resp:
            return resp.status, await resp.json()

    # strict: registered applications only
    status, body = await call("shop", {"x-Gateway-APIKey": "key-reg"})
    assert status == 200 and "x-gateway-apikey" not in body["headers"]  # the consumed key never reaches upstream
    assert (await call("shop", bearer(demo_token(sub="reg"))))[0] == 200
    status, body = await call("shop", {"x-Gateway-APIKey": "key-glob"})
    assert status == 403 and "not registered" in body["message"]
    # open: any application
    assert (await call("open", {"x-Gateway-APIKey": "key-glob"}))[0] == 200
    assert (await call("open", bearer(demo_token(sub="glob"))))[0] == 200
    # invalid credentials -> 401, none -> 401, valid but nobody -> 403
    status, body = await call("open", {"x-Gateway-APIKey": "nope"})
    assert status == 401 and body["code"] == "invalid_credentials"
    assert (await call("open"))[0] == 401
    assert (await call("open", bearer(demo_token(sub="nobody"))))[0] == 403
    # ambiguity is refused, never resolved at random
    status, body = await call("shop", bearer(demo_token(sub="t", team="twins")))
    assert status == 403 and "more than one" in body["message"]
    # suspended
    status, body = await call("shop", {"x-Gateway-APIKey": "key-sleepy"})
    assert status == 403 and "suspended" in body["message"]
    # relax: any application identifies; when none does, the default application stands in
    status, body = await call("relax", {"x-Gateway-APIKey": "key-glob"})
    assert status == 200
    await gw.wait_for_log(r"/gateway/relax/1.0/x.* app=global")
    assert (await call("relax"))[0] == 200
    await gw.wait_for_log(r"/gateway/relax/1.0/x.* app=registered")
    # anonymous
    assert (await call("anon"))[0] == 200
    assert (await call("anon", {"x-Gateway-APIKey": "bad"}))[0] == 401
    # client address
    assert (await call("net"))[0] == 200


async def test_and_versus_or(gateway, client, upstream):
    gw = await gateway(
        apps_config(
            upstream.url,
            api("both", upstream.url, identify={"rules": ["jwtClaims", "apiKey"], "connector": "AND", "lookup": "open"}),
            api("either", upstream.url, identify={"rules": ["jwtClaims", "apiKey"], "connector": "OR", "lookup": "open"}),
            applications=APPS,
        )
    )
    same = {**bearer(demo_token(sub="glob")), "x-Gateway-APIKey": "key-glob"}
    different = {**bearer(demo_token(sub="glob")), "x-Gateway-APIKey": "key-reg"}
    only_key = {"x-Gateway-APIKey": "key-glob"}
    expected = {("both", 0): 200, ("both", 1): 403, ("both", 2): 401, ("either", 0): 200, ("either", 1): 403, ("either", 2): 200}
    for (name, case), status in expected.items():
        headers = (same, different, only_key)[case]
        async with client.get(f"{gw.http}/gateway/{name}/1.0/", headers=headers) as resp:
            assert resp.status == status, (name, case)


async def test_basic_auth_identification(gateway, client, upstream):
    from microgw.keys.passwords import hash_password

    gw = await gateway(
        apps_config(
            upstream.url,
            api("basic", upstream.url, identify={"rules": ["httpBasicAuth"], "lookup": "open"}),
            applications=APPS,
            users=[{"name": "alice", "password": hash_password("wonder", log2_n=12)}, {"name": "bob", "password": "{encoded}" + base64.b64encode(b"builder").decode()}],
        )
    )
    async with client.get(f"{gw.http}/gateway/basic/1.0/", headers=basic_auth("alice", "wonder")) as resp:
        assert resp.status == 200
        assert "authorization" not in (await resp.json())["headers"]
    async with client.get(f"{gw.http}/gateway/basic/1.0/", headers=basic_auth("alice", "wrong")) as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic ")
    async with client.get(f"{gw.http}/gateway/basic/1.0/", headers=basic_auth("bob", "builder")) as resp:
        assert resp.status == 403  # a valid user that no application names


async def test_hmac_strategy_and_its_audience(gateway, client, upstream):
    secret = b"a-shared-secret-of-at-least-32-bytes!!"
    apps = [
        {
            "id": "hmac-app",
            "name": "HMAC app",
            "apis": ["hs"],
            "strategies": [{"type": "JWT_HSA", "secret": base64.b64encode(secret).decode(), "audience": "jwt_audience"}],
        }
    ]
    gw = await gateway(
        {
            "issuer": {"issuer": "microgw-test"},
            "applications": apps,
            "apis": [api("hs", upstream.url, jwt={}, identify={"rules": ["jwtClaims"]})],
        }
    )
    now = int(time.time())

    def token(aud: str) -> str:
        return pyjwt.encode({"iss": "microgw-test", "sub": "x", "aud": aud, "exp": now + 60}, secret, algorithm="HS256")

    async with client.get(f"{gw.http}/gateway/hs/1.0/", headers=bearer(token("jwt_audience"))) as resp:
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/"
    async with client.get(f"{gw.http}/gateway/hs/1.0/", headers=bearer(token("elsewhere"))) as resp:
        assert resp.status == 403
    wrong = pyjwt.encode({"iss": "microgw-test", "sub": "x", "aud": "jwt_audience", "exp": now + 60}, b"x" * 40, algorithm="HS256")
    async with client.get(f"{gw.http}/gateway/hs/1.0/", headers=bearer(wrong)) as resp:
        assert resp.status == 401


async def test_outbound_incoming_jwt_and_identity_headers(gateway, client, upstream):
    gw = await gateway(
        apps_config(
            upstream.url,
            api(
                "fwd",
                upstream.url,
                jwt={},
                identify={"rules": ["jwtClaims"], "lookup": "open"},
                outbound={
                    "auth": "INCOMING_JWT",
                    "remove_headers": ["X-Internal"],
                    "identity_headers": {
                        "application_id": "X-App-Id",
                        "application_name": "X-App-Name",
                        "claims": {"X-User": "sub", "X-Roles": "realm.roles", "X-Missing": "nope"},
                    },
                },
            ),
            api("plain", upstream.url, jwt={}),
            applications=APPS,
        )
    )
    token = demo_token(sub="glob", realm={"roles": ["admin", "ops"]})
    forged = {**bearer(token), "X-App-Id": "forged", "X-User": "mallory", "X-Internal": "secret", "X-Missing": "forged"}
    async with client.get(f"{gw.http}/gateway/fwd/1.0/", headers=forged) as resp:
        assert resp.status == 200
        seen = (await resp.json())["headers"]
    assert seen["authorization"] == f"Bearer {token}"  # unchanged
    assert seen["x-app-id"] == "global" and seen["x-app-name"] == "Global"
    assert seen["x-user"] == "glob" and seen["x-roles"] == "admin,ops"
    assert "x-internal" not in seen and "x-missing" not in seen
    async with client.get(f"{gw.http}/gateway/plain/1.0/", headers=bearer(token)) as resp:
        assert "authorization" not in (await resp.json())["headers"]  # stripped by default


async def test_an_application_secret_cannot_impersonate(gateway, client, upstream):
    """A JWT_HSA secret proves its owner and nothing else: not another application, not a user."""
    secret = b"mallory-has-her-own-secret-32-bytes-long!"
    apps = [
        {"id": "payroll", "name": "Payroll", "claim_sets": [{"sub": "payroll-svc"}], "apis": ["pay"]},
        {
            "id": "mallory",
            "name": "Mallory",
            "apis": ["other"],
            "strategies": [{"type": "JWT_HSA", "secret": base64.b64encode(secret).decode(), "audience": "mallory-aud"}],
        },
    ]
    gw = await gateway(
        {
            "issuer": {"issuer": "microgw-test", "audience": "gw-aud"},
            "applications": apps,
            "apis": [
                api("pay", upstream.url, jwt={}, identify={"rules": ["jwtClaims"], "lookup": "strict"}),
                api("plain", upstream.url, jwt={}),
                api("other", upstream.url, jwt={}, identify={"rules": ["jwtClaims"], "lookup": "strict"}),
            ],
        }
    )
    now = int(time.time())

    def forged(**claims) -> dict:
        token = pyjwt.encode({"iss": "microgw-test", "exp": now + 60, **claims}, secret, algorithm="HS256")
        return bearer(token)

    # claims of another application, signed with Mallory's secret: identifies Mallory, not Payroll
    async with client.get(f"{gw.http}/gateway/pay/1.0/", headers=forged(sub="payroll-svc", aud="mallory-aud")) as resp:
        assert resp.status == 403
    # a "gateway-issued" token for any user: refused where no application is identified
    async with client.get(f"{gw.http}/gateway/plain/1.0/", headers=forged(sub="Administrator", aud="gw-aud")) as resp:
        assert resp.status == 401
    # the owner's own API needs the strategy's audience
    async with client.get(f"{gw.http}/gateway/other/1.0/", headers=forged(sub="m")) as resp:
        assert resp.status == 403
    async with client.get(f"{gw.http}/gateway/other/1.0/", headers=forged(sub="m", aud="mallory-aud")) as resp:
        assert resp.status == 200
    await gw.wait_for_log(r"/gateway/other/1.0/\" 200 .* app=mallory")
    assert upstream.received and all(r["path_qs"].startswith("/echo") for r in upstream.received)
    assert len(upstream.received) == 1
