"""End to end: JWT-protected APIs with third-party issuers (JWKS, certificate), answers and audience rules.

Tokens are minted with PyJWT (an independent library) and with hand-built compact JWS for attacks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization

from support.idp import IdentityProvider, auth_server


def protected(upstream_url: str, **jwt_policy) -> dict:
    return {"name": "pets", "version": "1.0", "endpoint": f"{upstream_url}/echo", "policies": {"jwt": jwt_policy}}


def config(idp: IdentityProvider, *apis, **extra) -> dict:
    return {"security_settings": {"auth_servers": [auth_server("idp", idp.issuer, idp.jwks_uri)]}, "apis": list(apis), **extra}




def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_passes_and_is_stripped(gateway, client, idp, upstream):
    gw = await gateway(config(idp, protected(upstream.url)))
    await gw.wait_ready(client)
    token = idp.token(sub="alice")
    async with client.get(f"{gw.http}/gateway/pets/1.0/dogs", headers=bearer(token)) as resp:
        assert resp.status == 200
        seen = (await resp.json())["headers"]
    assert "authorization" not in seen  # stripped before the native service by default
    assert token not in gw.log  # never logged


async def test_missing_invalid_and_tampered_tokens(gateway, client, idp, upstream):
    gw = await gateway(config(idp, protected(upstream.url)))
    await gw.wait_ready(client)
    async with client.get(f"{gw.http}/gateway/pets/1.0/") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="microgw"'
        body = await resp.json()
        assert body["code"] == "missing_credentials" and "Exception" in body
    token = idp.token()
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "admin"
    tampered = ".".join([header, base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode(), signature])
    expired = idp.token(lifetime=-3600)
    for bad in (tampered, expired, "not.a.token", token + "x"):
        async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(bad)) as resp:
            assert resp.status == 401, bad
            challenge = resp.headers["WWW-Authenticate"]
            assert challenge.startswith('Bearer realm="microgw", error="invalid_token", error_description="')
            assert (await resp.json())["code"] == "invalid_token"
    assert upstream.received == []


async def test_attacks_are_refused(gateway, client, idp, upstream):
    gw = await gateway(config(idp, protected(upstream.url)))
    await gw.wait_ready(client)
    now = int(time.time())
    claims = {"iss": idp.issuer, "sub": "x", "exp": now + 300}

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    rsa_public_pem = idp.keys["k1"][0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{b64(claims)}"
    confused = signing_input + "." + base64.urlsafe_b64encode(
        hmac.new(rsa_public_pem, signing_input.encode(), hashlib.sha256).digest()
    ).rstrip(b"=").decode()
    attacks = {
        "alg none": f"{b64({'alg': 'none'})}.{b64(claims)}.",
        "alg NoNe": f"{b64({'alg': 'NoNe'})}.{b64(claims)}.",
        "RS/HS confusion": confused,
        "embedded jwk": idp.token(headers={"jwk": {"kty": "oct", "k": "AAAA"}}),
        "jku": idp.token(headers={"jku": "http://127.0.0.1:1/evil"}),
        "JWE": "a.b.c.d.e",
    }
    for name, token in attacks.items():
        async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(token)) as resp:
            assert resp.status == 401, name
    assert upstream.received == []


async def test_token_locations(gateway, client, idp, upstream):
    gw = await gateway(
        config(
            idp,
            {**protected(upstream.url, token_from={"cookie": "session"}), "name": "cookie"},
            {**protected(upstream.url, token_from={"query": "access_token"}), "name": "query"},
            {**protected(upstream.url, token_from={"header": "X-Token"}), "name": "custom"},
        )
    )
    await gw.wait_ready(client)
    token = idp.token()
    async with client.get(f"{gw.http}/gateway/cookie/1.0/", headers={"Cookie": f"a=1; session={token}; b=2"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["headers"]["cookie"] == "a=1; b=2"
    async with client.get(f"{gw.http}/gateway/query/1.0/x?keep=1&access_token={token}") as resp:
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/x?keep=1"
    async with client.get(f"{gw.http}/gateway/custom/1.0/", headers={"X-Token": token}) as resp:
        assert resp.status == 200
        assert "x-token" not in (await resp.json())["headers"]
    # a Bearer header is not looked at when the API reads a cookie
    async with client.get(f"{gw.http}/gateway/cookie/1.0/", headers=bearer(token)) as resp:
        assert resp.status == 401


async def test_optional_token(gateway, client, idp, upstream):
    gw = await gateway(config(idp, protected(upstream.url, required=False)))
    await gw.wait_ready(client)
    async with client.get(f"{gw.http}/gateway/pets/1.0/") as resp:
        assert resp.status == 200
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer("bad.token.here")) as resp:
        assert resp.status == 401  # a token that is present must be valid


async def test_audience_rules(gateway, client, idp, upstream):
    gw = await gateway(
        config(
            idp,
            protected(upstream.url, audiences=["pets-api"]),
            {**protected(upstream.url, require_audience=True), "name": "strict"},
            issuer={"issuer": "microgw-test", "audience": "gateway-audience"},
            server={"public_urls": ["https://API.example.com/"]},
        )
    )
    await gw.wait_ready(client)
    port = gw.ports["http"]
    cases = {
        "pets-api": 200,  # the API's own audiences
        "gateway-audience": 200,  # the gateway issuer's audience
        "https://api.example.com/gateway/pets/1.0": 200,  # the API's URL under a public URL
        "HTTPS://api.EXAMPLE.com/gateway/pets/1.0/dogs/": 200,  # the request URL, scheme/host any case
        "https://api.example.com/gateway/cats/1.0": 403,
        f"http://127.0.0.1:{port}/gateway/pets/1.0": 403,  # the Host the client sent is not a public URL
        "someone-else": 403,
    }
    for audience, status in cases.items():
        async with client.get(f"{gw.http}/gateway/pets/1.0/dogs", headers=bearer(idp.token(aud=audience))) as resp:
            assert resp.status == status, audience
            if status == 403:
                assert (await resp.json())["code"] == "audience_not_allowed"
    forged_host = {**bearer(idp.token(aud="http://other-tenant.example/gateway/pets/1.0")), "Host": "other-tenant.example"}
    async with client.get(f"{gw.http}/gateway/pets/1.0/dogs", headers=forged_host) as resp:
        assert resp.status == 403
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(idp.token(aud=["x", "pets-api"]))) as resp:
        assert resp.status == 200  # any listed value may match
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(idp.token())) as resp:
        assert resp.status == 200  # no aud: accepted unless required
    async with client.get(f"{gw.http}/gateway/strict/1.0/", headers=bearer(idp.token())) as resp:
        assert resp.status == 401


async def test_key_rotation_while_running(gateway, client, idp, upstream):
    server = {**auth_server("idp", idp.issuer, idp.jwks_uri), "jwks": {"refresh_interval": 0.3}}
    gw = await gateway({"security_settings": {"auth_servers": [server]}, "apis": [protected(upstream.url)]})
    await gw.wait_ready(client)
    idp.add_key("k2", "ES256")
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(idp.token("k2"))) as resp:
        assert resp.status == 200  # unknown kid -> one refetch -> found
    old = idp.token("k1")
    del idp.keys["k1"]
    deadline = time.monotonic() + 10
    status = 200
    while status == 200 and time.monotonic() < deadline:  # refused once the next refresh drops k1
        async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(old)) as resp:
            status = resp.status
        await asyncio.sleep(0.05)
    assert status == 401


async def test_unknown_kids_cannot_hammer_the_identity_provider(gateway, client, idp, upstream):
    gw = await gateway(config(idp, protected(upstream.url)))
    await gw.wait_ready(client)
    before = idp.fetches
    stranger = IdentityProvider(idp.issuer)
    for index in range(20):
        stranger.add_key(f"random-{index}")
    tokens = [stranger.token(f"random-{index}") for index in range(20)]
    responses = await asyncio.gather(*(client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(t)) for t in tokens))
    assert [r.status for r in responses] == [401] * 20
    for response in responses:
        response.release()
    assert idp.fetches - before <= 1  # single-flight and a 30 s cooldown


async def test_jwks_down_at_start_then_up(gateway, client, idp, upstream):
    idp.available = False
    gw = await gateway(
        {
            "security_settings": {"auth_servers": [{**auth_server("idp", idp.issuer, idp.jwks_uri), "jwks": {"refresh_interval": 0.2}}]},
            "apis": [protected(upstream.url)],
        }
    )
    async with client.get(f"{gw.http}/rest/microgateway/ready") as resp:
        assert resp.status == 503  # started at once, but not ready without keys
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(idp.token())) as resp:
        assert resp.status == 401
    idp.available = True
    await gw.wait_ready(client)
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(idp.token())) as resp:
        assert resp.status == 200


async def test_certificate_truststore(gateway, client, upstream, tmp_path, ca):
    cert = ca.issue_cert("idp.test")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "idp.crt"))
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    gw = await gateway(
        {
            "trust_store": {"type": "PEM", "location": str(tmp_path / "idp.crt")},
            "security_settings": {
                "auth_servers": [auth_server("idp", "https://idp.test", None, trustStoreAlias=None, certificateAlias="idp")]
            },
            "apis": [protected(upstream.url)],
        }
    )
    now = int(time.time())
    token = pyjwt.encode({"iss": "https://idp.test", "sub": "bob", "exp": now + 60}, key, algorithm="ES256")
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(token)) as resp:
        assert resp.status == 200
    other = pyjwt.encode({"iss": "https://idp.test", "sub": "bob", "exp": now + 60}, ca.issue_cert("x").private_key_pem.bytes(), algorithm="ES256")
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=bearer(other)) as resp:
        assert resp.status == 401


async def test_unknown_auth_server_in_policy_is_a_config_error(tmp_path, idp):
    from support.gateway import run_microgw, write_config

    path = write_config(tmp_path, config(idp, protected("http://127.0.0.1:1", auth_servers=["nope"])))
    code, _, err = await run_microgw("check", "-c", str(path))
    assert code == 2
    assert "apis[0].policies.jwt.auth_servers[0]: no auth server with id 'nope'" in err
