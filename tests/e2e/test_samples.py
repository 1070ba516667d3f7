"""Every sample in samples/ starts and does what its comments promise."""

from __future__ import annotations

from support.gateway import REPO

SAMPLES = REPO / "samples"


async def test_quickstart_yml_serves_hello(gateway, client):
    """The README flow: a token for Administrator/manage, then the API with it, without it, tampered."""
    import base64

    gw = await gateway(SAMPLES / "quickstart.yml")
    credentials = base64.b64encode(b"Administrator:manage").decode()
    async with client.get(f"{gw.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers={"Authorization": f"Basic {credentials}"}) as resp:
        assert resp.status == 200
        token = (await resp.json())["jwt"]
    async with client.get(f"{gw.http}/gateway/hello/1.0/", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["message"] == "Hello from microgw"
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert resp.status == 401
    tampered = token.rsplit(".", 1)[0] + ".AAAA"  # the README's ${TOKEN%.*}.AAAA
    async with client.get(f"{gw.http}/gateway/hello/1.0/", headers={"Authorization": f"Bearer {tampered}"}) as resp:
        assert resp.status == 401


async def test_proxy_yml_reaches_the_aliased_service(gateway, client, upstream):
    gw = await gateway(SAMPLES / "proxy.yml", env={"mcgw_aliases_petstore_value": f"{upstream.url}/echo"})
    async with client.get(f"{gw.http}/gateway/petstore/1.0/pets/7?x=1") as resp:
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/pets/7?x=1"


async def test_claim_sets_yml_with_a_token_from_microgw_token(gateway, client):
    """The sample's comment: mint with `microgw token` and the demo key, then call the API."""
    from support.gateway import run_microgw

    gw = await gateway(SAMPLES / "claim-sets.yml")
    mint = ("token", "--key", str(SAMPLES / "keys" / "demo-idp.key"), "--alg", "RS256", "--issuer", "https://idp.example.com")
    code, token, err = await run_microgw(*mint, "--claim", "sub=Administrator", "--claim", "name=srna")
    assert code == 0, err
    async with client.get(f"{gw.http}/gateway/claims/1.0/hello", headers={"Authorization": f"Bearer {token.strip()}"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["application"] == "tutorial-app"
    code, token, err = await run_microgw(*mint, "--claim", "sub=Administrator", "--claim", "name=lnar")
    async with client.get(f"{gw.http}/gateway/claims/1.0/hello", headers={"Authorization": f"Bearer {token.strip()}"}) as resp:
        assert resp.status == 403
