"""microgw as an RFC 7662 introspection endpoint for its own tokens, and a sidecar microgw that
introspects against it (oauth2 policy, oAuth2Token identification by the token's client_id)."""

from __future__ import annotations

import base64
import json
import shutil
import time

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization

from support import basic_auth

INTROSPECT = "/invoke/pub.oauth/introspectToken"
APP_TOKEN = "/gateway/security/getJsonWebToken"
CERTS = "/rest/pub/apigateway/jwt/certs"
ISSUER = "https://parent.test/issuer"
APPLICATIONS = [
    {"id": "shop-app", "name": "Shop", "api_keys": ["shop-key"], "apis": ["orders/1"]},
    {"id": "other-app", "name": "Other", "api_keys": ["other-key"]},
]


def parent_config() -> dict:
    return {
        "issuer": {"issuer": ISSUER, "https_only": False},
        "users": [{"name": "sidecar", "password": "{encoded}" + base64.b64encode(b"sidecar-pw").decode()}],
        "applications": APPLICATIONS,
        "apis": [],
    }


async def app_token(client, gw, key: str = "shop-key", claims: dict | None = None) -> str:
    body = {"claimsSet": claims} if claims else None
    async with client.post(f"{gw.http}{APP_TOKEN}", headers={"x-Gateway-APIKey": key}, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["accessToken"]


async def introspect(client, gw, token: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    headers = basic_auth("sidecar", "sidecar-pw") if headers is None else headers
    async with client.post(f"{gw.http}{INTROSPECT}", data={"token": token, "token_type_hint": "access_token"}, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


def expired_token(state_dir) -> str:
    """A token signed with the parent's own managed key (read from its state directory) but expired."""
    manifest = json.loads((state_dir / "keys" / "manifest.json").read_text())
    kid = manifest["keys"][0]["kid"]
    key = serialization.load_pem_private_key((state_dir / "keys" / f"{kid}.pem").read_bytes(), password=None)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "shop-app", "client_id": "shop-app", "iat": now - 900, "exp": now - 300}
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_own_tokens_active_others_inactive(gateway, client, tmp_path, state_template):
    state = tmp_path / "parent-state"
    shutil.copytree(state_template, state)
    gw = await gateway(parent_config(), env={"mcgw_state_dir": str(state)})
    token = await app_token(client, gw, claims={"tier": "gold"})
    async with client.get(f"{gw.http}{CERTS}") as resp:
        jwks = await resp.json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    verified = pyjwt.decode(token, key, algorithms=["RS256"], issuer=ISSUER)  # what any client sees
    assert verified["client_id"] == "shop-app"

    status, body, headers = await introspect(client, gw, token)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert (body["client_id"], body["sub"], body["iss"], body["tier"]) == ("shop-app", "shop-app", ISSUER, "gold")
    assert body["exp"] == verified["exp"]

    foreign = pyjwt.encode({"iss": ISSUER, "sub": "x", "exp": int(time.time()) + 60}, "a-secret-of-32-bytes-at-least-xx", algorithm="HS256")
    for other in ("not-a-token", token[:-4] + "AAAA", foreign, expired_token(state)):
        status, body, _ = await introspect(client, gw, other)
        assert (status, body) == (200, {"active": False})


async def test_callers_must_authenticate(gateway, client):
    gw = await gateway(parent_config())
    token = await app_token(client, gw)
    status, body, headers = await introspect(client, gw, token, headers={})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    status, body, _ = await introspect(client, gw, token, headers=basic_auth("sidecar", "wrong"))
    assert status == 401 and body["code"] == "invalid_credentials"
    status, body, _ = await introspect(client, gw, token, headers={"x-Gateway-APIKey": "other-key"})
    assert status == 200 and body["active"] is True  # an application may ask too
    async with client.post(f"{gw.http}{INTROSPECT}", json={"token": token}, headers=basic_auth("sidecar", "sidecar-pw")) as resp:
        assert resp.status == 415
    async with client.post(f"{gw.http}{INTROSPECT}", data={"nothing": "x"}, headers=basic_auth("sidecar", "sidecar-pw")) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "invalid_request"
    async with client.get(f"{gw.http}{INTROSPECT}") as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "POST"


async def test_sidecar_introspects_against_its_parent(gateway, upstream, client):
    parent = await gateway(parent_config())

    def sidecar_config(secret: str) -> dict:
        return {
            "security_settings": {"auth_servers": [{
                "id": "parent",
                "localIntrospectionConfig": {"issuer": ISSUER},
                "remoteIntrospectionConfig": {
                    "introspectionEndpoint": f"{parent.http}{INTROSPECT}", "clientId": "sidecar", "clientSecret": secret,
                },
                "introspection": {"tokens": "all"},  # the parent's JWTs too: a revoked key counts at once
            }]},
            "applications": [{"id": "shop-app", "name": "Shop", "apis": ["orders/1"]}],
            "apis": [{
                "name": "orders", "version": "1", "endpoint": f"{upstream.url}/echo",
                "policies": {
                    "identify": {"rules": ["oAuth2Token"]},
                    "outbound": {"identity_headers": {"application_id": "X-App"}},
                },
            }],
        }

    sidecar = await gateway(sidecar_config("sidecar-pw"))
    shop = await app_token(client, parent)
    for _ in range(3):
        async with client.get(f"{sidecar.http}/gateway/orders/1/", headers={"Authorization": f"Bearer {shop}"}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["headers"]["x-app"] == "shop-app"
    await parent.wait_for_log("POST /invoke/pub[.]oauth/introspectToken")  # access lines come from a log thread
    asked = [line for line in parent.lines if f'"POST {INTROSPECT}' in line]  # access log lines
    assert len(asked) == 1, asked  # the sidecar's cache answered the other two
    other = await app_token(client, parent, key="other-key")
    async with client.get(f"{sidecar.http}/gateway/orders/1/", headers={"Authorization": f"Bearer {other}"}) as resp:
        assert resp.status == 403  # active, but its client is no application the sidecar knows for this API

    wrong = await gateway(sidecar_config("wrong-pw"))
    async with client.get(f"{wrong.http}/gateway/orders/1/", headers={"Authorization": f"Bearer {shop}"}) as resp:
        assert resp.status == 503
    await wrong.wait_for_log("refused microgw's client credentials")
