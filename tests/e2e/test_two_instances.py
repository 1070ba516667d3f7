"""Two real gateways: B trusts tokens minted by A knowing only A's issuer and JWKS URI."""

from __future__ import annotations


from support import basic_auth
from support.idp import auth_server

ISSUER_A = "https://gateway-a.test"




async def test_token_from_a_is_accepted_by_b_through_a_jwks(gateway, client):
    a = await gateway(
        {
            "issuer": {"issuer": ISSUER_A, "https_only": False},
            "users": [{"name": "Administrator", "password": "{encoded}bWFuYWdl"}],
            "apis": [],
        }
    )
    b = await gateway(
        {
            "security_settings": {
                "auth_servers": [auth_server("gateway-a", ISSUER_A, f"{a.http}/rest/pub/apigateway/jwt/certs")]
            },
            "apis": [{"name": "hello", "version": "1.0", "policies": {"jwt": {}}, "mock": {"status": 200, "json": {"from": "b"}}}],
        }
    )
    await b.wait_ready(client)  # B fetched A's JWKS
    async with client.get(f"{a.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=basic_auth("Administrator", "manage")) as resp:
        assert resp.status == 200
        token = (await resp.json())["jwt"]
    async with client.get(f"{b.http}/gateway/hello/1.0/", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"from": "b"}
    tampered = token.rsplit(".", 1)[0] + ".AAAA"
    for headers in ({}, {"Authorization": f"Bearer {tampered}"}):
        async with client.get(f"{b.http}/gateway/hello/1.0/", headers=headers) as resp:
            assert resp.status == 401
    async with client.get(f"{b.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=basic_auth("Administrator", "manage")) as resp:
        assert resp.status == 404  # B issues nothing itself
