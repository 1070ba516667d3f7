"""Every sample in samples/ starts and does what its comments promise."""

from __future__ import annotations

import json

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


async def test_mediation_yml_masks_transforms_and_validates(gateway, client):
    """The sample's comments: masking, scopes, CORS and a response transformation on a mocked
    account; request masking and transformation, setMediaType and spec validation on an echo."""
    gw = await gateway(SAMPLES / "mediation.yml")
    base = f"{gw.http}/gateway"
    async with client.get(f"{base}/accounts/1.0/me") as resp:
        assert resp.status == 200 and resp.headers["X-Masked"] == "yes"
        assert await resp.json() == {"owner": "Ann", "card": {"number": "XXXX-XXXX-XXXX-1111"}, "note": "ssn ***-**-****"}
    async with client.get(f"{base}/accounts/1.0/public/me") as resp:
        assert await resp.json() == {"owner": "Ann", "note": "ssn ***-**-****"}
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    async with client.options(f"{base}/accounts/1.0/me", headers=preflight) as resp:
        assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    async with client.options(f"{base}/accounts/1.0/me", headers={**preflight, "Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    sent = {"user": "ann", "password": "secret"}
    headers = {"X-Org": "acme", "X-Debug": "1"}
    async with client.post(f"{base}/signup/1.0/users", json=sent, headers=headers, skip_auto_headers=["Accept"]) as resp:
        assert resp.status == 200, await resp.text()
        echo = await resp.json()
    assert json.loads(echo["body"]) == {"user": "ann"}
    assert echo["headers"]["content-length"] == str(len(echo["body"]))
    assert echo["query"] == "source=gateway"
    assert echo["headers"]["x-tenant"] == "acme" and "x-debug" not in echo["headers"]
    assert echo["headers"]["accept"] == "application/json"
    async with client.post(f"{base}/signup/1.0/users", json={"password": "x"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "body: 'user' is a required property"
    async with client.post(f"{base}/signup/1.0/users", data="user=ann", headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "invalid_request"


async def test_traffic_yml_limits_caches_balances_and_logs(gateway, client, upstream, tmp_path):
    """The sample's comments: X-Cache MISS then HIT, RateLimit headers, 5 per client in 10 s, the
    second endpoint marked down, invocation records in state_dir/invocations.jsonl without secrets."""
    import asyncio
    import json

    state = tmp_path / "traffic-state"
    gw = await gateway(SAMPLES / "traffic.yml", env={"mcgw_aliases_films_value": f"{upstream.url}/echo", "mcgw_state_dir": str(state)})
    seen = []
    for path, headers in (("/list", {}), ("/list", {}), ("/a", {"Authorization": "Basic c2VjcmV0OnNlY3JldA=="}), ("/b", {}), ("/c", {}), ("/d", {})):
        async with client.get(f"{gw.http}/gateway/films/1.0{path}", headers=headers) as resp:
            seen.append((resp.status, resp.headers.get("X-Cache"), resp.headers.get("RateLimit-Remaining")))
    assert seen == [(200, "MISS", "4"), (200, "HIT", "3"), (200, "BYPASS", "2"), (200, "MISS", "1"), (200, "MISS", "0"), (429, None, "0")]
    assert sum(1 for r in upstream.received if r["path_qs"] == "/echo/list") == 1
    await gw.wait_for_log(r"endpoint http://127\.0\.0\.1:9 of films/1\.0 marked down for 1m")
    records_file = state / "invocations.jsonl"
    deadline = asyncio.get_running_loop().time() + 10
    while not records_file.exists() or len(records_file.read_text().splitlines()) < 5:
        assert asyncio.get_running_loop().time() < deadline, "no invocation records"
        await asyncio.sleep(0.02)
    records = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert [(r["path"][len("/gateway/films/1.0"):], r["status"], r["response_headers"].get("X-Cache")) for r in records] == [
        ("/list", 200, "MISS"), ("/list", 200, "HIT"), ("/a", 200, "BYPASS"), ("/b", 200, "MISS"), ("/c", 200, "MISS")]
    assert records[2]["request_headers"]["Authorization"] == "[redacted]"
    assert "c2VjcmV0OnNlY3JldA" not in records_file.read_text()


async def test_oauth2_yml_introspects_at_its_authorization_server(gateway, client, introspection_server, tmp_path):
    """The sample as written, its Keycloak address pointed at a loopback RFC 7662 server."""
    import time

    introspection_server.client_id, introspection_server.client_secret = "microgw", "microgw-secret"  # the sample's
    exp = int(time.time()) + 300
    introspection_server.tokens.update({
        "reader": {"active": True, "exp": exp, "client_id": "orders-web", "sub": "alice", "scope": "orders.read"},
        "writer": {"active": True, "exp": exp, "client_id": "orders-web", "sub": "bob", "scope": "orders.read orders.write"},
    })
    sample = (SAMPLES / "oauth2.yml").read_text()
    assert "http://localhost:8080/realms/shop/" in sample
    config = tmp_path / "oauth2.yml"
    config.write_text(sample.replace("http://localhost:8080", f"http://127.0.0.1:{introspection_server.port}"))
    gw = await gateway(config)
    orders = f"{gw.http}/gateway/orders/1.0/orders"
    async with client.get(orders, headers={"Authorization": "Bearer reader"}) as resp:
        assert resp.status == 200, await resp.text()
        headers = (await resp.json())["headers"]
        assert headers["x-application-id"] == "orders-web" and headers["x-user"] == "alice"
    async with client.post(orders, headers={"Authorization": "Bearer reader"}) as resp:
        assert resp.status == 403
        assert resp.headers["WWW-Authenticate"].endswith('scope="orders.write"')
    async with client.post(orders, headers={"Authorization": "Bearer writer"}) as resp:
        assert resp.status == 200
    async with client.get(orders, headers={"Authorization": "Bearer unknown"}) as resp:
        assert resp.status == 401
