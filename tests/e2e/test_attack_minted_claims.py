"""Attack: an application asks the gateway for a token with custom claims that look like a user's
(POST getJsonWebToken claimsSet) and calls an API whose identity headers read such claims."""

from __future__ import annotations

import json

import jwt as pyjwt

from microgw.keys.passwords import hash_password
from support import basic_auth

ISSUER = "https://gw.test/minted"


def config(upstream_url: str) -> dict:
    identity = {"claims": {"X-User": "preferred_username", "X-Sub": "sub", "X-Dept": "dept"}}
    return {
        "extended_settings": {"pg_JWT_isHTTPS": False},
        "issuer": {"issuer": ISSUER},
        "users": [{"name": "alice", "password": hash_password("alice-pw", log2_n=10)}],
        "applications": [{"id": "app-a", "name": "A", "api_keys": ["key-a"]}],
        "apis": [
            {"name": "hr", "version": "1.0", "endpoint": f"{upstream_url}/echo",
             "policies": {"jwt": {}, "outbound": {"identity_headers": identity}}},
            {"name": "trusting", "version": "1.0", "endpoint": f"{upstream_url}/echo",
             "policies": {"jwt": {}, "outbound": {"identity_headers": {**identity, "application_claims": True}}}},
        ],
    }


async def test_custom_claims_of_minted_application_tokens_never_become_identity_headers(gateway, upstream, client):
    gw = await gateway(config(upstream.url))
    async with client.post(
        f"{gw.http}/gateway/security/getJsonWebToken",
        headers={"x-Gateway-APIKey": "key-a", "Content-Type": "application/json"},
        data=json.dumps({"claimsSet": {"preferred_username": "admin", "dept": "sales, admin"}}),
    ) as resp:
        assert resp.status == 200
        token = (await resp.json())["accessToken"]
    async with client.get(f"{gw.http}/rest/pub/apigateway/jwt/certs") as resp:
        jwks = await resp.json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWKSet.from_dict(jwks)[kid]
    claims = pyjwt.decode(token, key.key, algorithms=[key.algorithm_name], issuer=ISSUER, options={"verify_aud": False})
    assert claims["microgw_token"] == "application" and claims["preferred_username"] == "admin"  # marked

    # the attacker: its chosen claims are not asserted to the native service
    forged = {"Authorization": f"Bearer {token}", "X-User": "admin"}
    async with client.get(f"{gw.http}/gateway/hr/1.0/", headers=forged) as resp:
        assert resp.status == 200
        seen = (await resp.json())["headers"]
    assert "x-user" not in seen and "x-dept" not in seen
    assert seen["x-sub"] == "app-a"  # what the gateway itself set

    # a policy that decides to trust them gets them, unambiguous even with a comma inside
    async with client.get(f"{gw.http}/gateway/trusting/1.0/", headers={"Authorization": f"Bearer {token}"}) as resp:
        seen = (await resp.json())["headers"]
    assert seen["x-user"] == "admin" and seen["x-dept"] == '"sales, admin"'

    # the bystander: a real user's token still names the user
    async with client.get(f"{gw.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=basic_auth("alice", "alice-pw")) as resp:
        user_jwt = (await resp.json())["jwt"]
    async with client.get(f"{gw.http}/gateway/hr/1.0/", headers={"Authorization": f"Bearer {user_jwt}"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["headers"]["x-sub"] == "alice"


async def test_a_minted_token_never_identifies_another_application(gateway, upstream, client):
    settings = config(upstream.url)
    settings["applications"] = [
        {"id": "app-a", "name": "A", "api_keys": ["key-a"], "claim_sets": [{"dept": "sales"}], "apis": ["ident/1.0"]},
        {"id": "app-b", "name": "B", "api_keys": ["key-b"], "claim_sets": [{"dept": "finance"}], "apis": ["ident/1.0"]},
    ]
    settings["apis"] = [{"name": "ident", "version": "1.0", "endpoint": f"{upstream.url}/echo", "policies": {
        "jwt": {}, "identify": {"rules": ["jwtClaims"]}, "outbound": {"identity_headers": {"application_id": "X-App"}}}}]
    gw = await gateway(settings)

    async def mint(key: str, claims: dict) -> str:
        async with client.post(f"{gw.http}/gateway/security/getJsonWebToken", json={"claimsSet": claims},
                               headers={"x-Gateway-APIKey": key}) as resp:
            assert resp.status == 200
            return (await resp.json())["accessToken"]

    forged = await mint("key-a", {"dept": "finance"})  # A writes B's claim set into its own token
    async with client.get(f"{gw.http}/gateway/ident/1.0/", headers={"Authorization": f"Bearer {forged}"}) as resp:
        assert resp.status in (401, 403), await resp.text()
    assert upstream.received == []
    own = await mint("key-b", {"dept": "finance"})  # the bystander: B's own token identifies B
    async with client.get(f"{gw.http}/gateway/ident/1.0/", headers={"Authorization": f"Bearer {own}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["headers"]["x-app"] == "app-b"
