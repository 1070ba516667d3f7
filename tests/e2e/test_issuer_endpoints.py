"""End to end: the gateway as JWT issuer (real processes, real HTTP/HTTPS).

Every issued token is verified with PyJWT or jwcrypto using only the JWKS fetched from
``/rest/pub/apigateway/jwt/certs``: what an independent client would do.
"""

from __future__ import annotations

import base64
import json
import ssl
import time

import jwt as pyjwt
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from microgw.keys.passwords import hash_password
from support import basic_auth

USER_TOKEN = "/rest/pub/apigateway/jwt/getJsonWebToken"
APP_TOKEN = "/gateway/security/getJsonWebToken"
CERTS = "/rest/pub/apigateway/jwt/certs"
ISSUER = "https://gw.test/issuer"
AUDIENCE = "orders-audience"
EXPIRY = 600

ALICE_HASH = hash_password("alice-pw", log2_n=10)  # a real scrypt hash, cheap enough for tests

APPLICATIONS = [
    {"id": "app-a", "name": "A", "api_keys": ["key-a"], "basic_users": ["alice"], "claim_sets": [{"sub": "alice"}]},
    {"id": "app-b", "name": "B", "api_keys": ["key-b"], "basic_users": ["shared"]},
    {"id": "app-c", "name": "C", "basic_users": ["shared"]},
    {"id": "app-s", "name": "Suspended", "suspended": True, "api_keys": ["key-s"]},
]


def issuer_config(**extra) -> dict:
    config = {
        "extended_settings": {"pg_JWT_isHTTPS": False},  # plain HTTP allowed (the vendor's switch)
        "issuer": {"issuer": ISSUER, "audience": AUDIENCE, "expiry_minutes": EXPIRY / 60},
        "users": [
            {"name": "alice", "password": ALICE_HASH},
            {"name": "shared", "password": "{encoded}" + base64.b64encode(b"shared-pw").decode()},
            {"name": "bob", "password": "{encoded}" + base64.b64encode(b"bob-pw").decode()},
        ],
        "applications": APPLICATIONS,
        "apis": [{"name": "orders", "version": "1.0", "policies": {"jwt": {}}, "mock": {"status": 200, "json": {"ok": True}}}],
    }
    config.update(extra)
    return config


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def segments(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


async def jwks_of(client, base: str, **kwargs) -> dict:
    async with client.get(base + CERTS, **kwargs) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "public, max-age=300"
        assert resp.content_type == "application/json"
        return await resp.json()


def verify_with_pyjwt(token: str, jwks: dict, audience: str | None = AUDIENCE) -> dict:
    """Verify with PyJWT, keys taken from the JWKS by the token's kid: an independent client."""
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWKSet.from_dict(jwks)[kid]
    return pyjwt.decode(
        token, key.key, algorithms=[key.algorithm_name], audience=audience, issuer=ISSUER,
        options={"require": ["exp", "iat", "nbf", "iss", "sub", "jti"], "verify_aud": audience is not None},
    )


def verify_with_jwcrypto(token: str, jwks: dict) -> dict:
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    checked = jwcrypto_jwt.JWT(jwt=token, key=keyset, check_claims={"iss": ISSUER, "exp": None})
    return json.loads(checked.claims)


async def user_token(client, base: str, user="alice", password="alice-pw", **params) -> str:
    async with client.get(base + USER_TOKEN, headers=basic_auth(user, password), params=params) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
    assert list(body) == ["jwt"]
    return body["jwt"]


async def app_token(client, base: str, headers: dict, body=None, status: int = 200) -> dict:
    data = None if body is None else json.dumps(body)
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    async with client.post(base + APP_TOKEN, headers=headers, data=data) as resp:
        answer = await resp.json()
        assert resp.status == status, answer
        return answer


# --------------------------------------------------------------------------- user tokens


async def test_user_token_claims_header_and_jwks_interop(gateway, client):
    gw = await gateway(issuer_config())
    before = int(time.time())
    token = await user_token(client, gw.http)
    jwks = await jwks_of(client, gw.http)
    header, _ = segments(token)
    assert header["typ"] == "JWT" and header["alg"] == "RS256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert all(k["use"] == "sig" and k["alg"] == "RS256" and "d" not in k for k in jwks["keys"])

    claims = verify_with_pyjwt(token, jwks)
    assert claims["sub"] == "alice" and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert before <= claims["iat"] <= time.time() + 1
    assert claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + EXPIRY
    assert "app_id" not in claims
    assert verify_with_jwcrypto(token, jwks)["sub"] == "alice"

    with_app = await user_token(client, gw.http, app_id="app-a")
    claims2 = verify_with_pyjwt(with_app, jwks, audience="app-a")
    assert claims2["app_id"] == "app-a" and claims2["aud"] == [AUDIENCE, "app-a"]
    assert claims2["jti"] != claims["jti"]
    jtis = {segments(await user_token(client, gw.http))[1]["jti"] for _ in range(5)}
    assert len(jtis) == 5 and claims["jti"] not in jtis

    async with client.get(f"{gw.http}/gateway/orders/1.0/", headers=bearer(token)) as resp:
        assert resp.status == 200  # the gateway accepts its own tokens
    assert token not in gw.log and "alice-pw" not in gw.log


async def test_user_token_refusals(gateway, client):
    gw = await gateway(issuer_config())
    url = gw.http + USER_TOKEN
    async with client.get(url) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith('Basic realm="microgw"')
        assert (await resp.json())["code"] == "missing_credentials"
    for headers in (basic_auth("alice", "wrong"), basic_auth("nobody", "alice-pw"), basic_auth("bob", "alice-pw"),
                    {"Authorization": "Basic !!!"}):
        async with client.get(url, headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Basic ")
            assert (await resp.json())["code"] == "invalid_credentials"
    async with client.get(url, headers=basic_auth("alice", "wrong"), params={"app_id": "app-a"}) as resp:
        assert resp.status == 401  # credentials first: application ids are not revealed to strangers
    async with client.get(url, headers=basic_auth("bob", "bob-pw"), params={"app_id": "nope"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == "unknown_application"
    async with client.get(url, headers=basic_auth("bob", "bob-pw"), params={"app_id": ""}) as resp:
        assert resp.status == 400
    async with client.get(f"{url}?app_id=app-a&app_id=app-b", headers=basic_auth("bob", "bob-pw")) as resp:
        assert resp.status == 400
    async with client.get(url, headers=basic_auth("bob", "bob-pw"), params={"app_id": "app-s"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == "application_suspended"
    async with client.post(url, headers=basic_auth("bob", "bob-pw")) as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "GET"
    async with client.head(url, headers=basic_auth("bob", "bob-pw")) as resp:
        assert resp.status == 405  # HEAD would mint a token nobody sees


async def test_https_only_by_default(gateway, client, ca, tmp_path):
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    config = issuer_config(key_store={"type": "PEM", "location": "server.pem"})
    del config["extended_settings"]
    gw = await gateway(config, expect=("http", "https"))
    tls = ssl.create_default_context()
    ca.configure_trust(tls)

    async with client.get(gw.https + USER_TOKEN, headers=basic_auth("alice", "alice-pw"), ssl=tls) as resp:
        assert resp.status == 200
        token = (await resp.json())["jwt"]
    verify_with_pyjwt(token, await jwks_of(client, gw.https, ssl=tls))
    async with client.post(gw.https + APP_TOKEN, headers={"x-Gateway-APIKey": "key-a"}, ssl=tls) as resp:
        assert resp.status == 200

    async with client.get(gw.http + USER_TOKEN, headers=basic_auth("alice", "alice-pw")) as resp:
        assert resp.status == 403
        body = await resp.json()
        assert body["code"] == "https_required" and "HTTPS" in body["message"]
    async with client.post(gw.http + APP_TOKEN, headers={"x-Gateway-APIKey": "key-a"}) as resp:
        assert resp.status == 403
    async with client.get(gw.http + USER_TOKEN, headers={"X-Forwarded-Proto": "https", **basic_auth("alice", "alice-pw")}) as resp:
        assert resp.status == 403  # a client's header does not make plain HTTP secure
    verify_with_pyjwt(token, await jwks_of(client, gw.http))  # the public keys are served over HTTP too


async def test_https_only_false_in_the_issuer_section(gateway, client):
    config = issuer_config()
    del config["extended_settings"]
    config["issuer"]["https_only"] = False
    gw = await gateway(config)
    token = await user_token(client, gw.http)  # over plain HTTP: issued, not 403 https_required
    assert verify_with_pyjwt(token, await jwks_of(client, gw.http))["sub"] == "alice"


async def test_no_issuer_means_jwt_configuration_empty(gateway, client):
    gw = await gateway({"users": [{"name": "bob", "password": "{encoded}Ym9iLXB3"}], "apis": []})
    for method, path in (("GET", USER_TOKEN), ("POST", APP_TOKEN), ("GET", CERTS)):
        async with client.request(method, gw.http + path, headers=basic_auth("bob", "bob-pw")) as resp:
            assert resp.status == 404, path
            body = await resp.json()
            assert body["code"] == "jwt_configuration_empty" and "JWT configuration empty" in body["Exception"]


# --------------------------------------------------------------------------- application tokens


async def test_application_token_identification(gateway, client):
    gw = await gateway(issuer_config())
    jwks = await jwks_of(client, gw.http)

    answer = await app_token(client, gw.http, {"x-Gateway-APIKey": "key-a"}, {"claimsSet": {"name": "srikar", "company": "sag", "n": [1, {"x": True}]}})
    assert set(answer) == {"expiresIn", "tokenType", "accessToken"}
    assert answer["expiresIn"] == EXPIRY and answer["tokenType"] == "Bearer"
    header, _ = segments(answer["accessToken"])
    assert header["typ"] == "JWT" and header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims = verify_with_pyjwt(answer["accessToken"], jwks)
    assert claims["sub"] == "app-a" and claims["name"] == "srikar" and claims["company"] == "sag"
    assert claims["n"] == [1, {"x": True}] and claims["exp"] == claims["iat"] + EXPIRY and "app_id" not in claims
    assert verify_with_jwcrypto(answer["accessToken"], jwks)["sub"] == "app-a"

    by_user = await app_token(client, gw.http, basic_auth("alice", "alice-pw"))  # no body: no custom claims
    assert verify_with_pyjwt(by_user["accessToken"], jwks)["sub"] == "app-a"
    user_jwt = await user_token(client, gw.http)  # sub=alice matches app-a's claim set
    by_claims = await app_token(client, gw.http, bearer(user_jwt), {"claimsSet": {"via": "jwt"}})
    assert verify_with_pyjwt(by_claims["accessToken"], jwks)["via"] == "jwt"
    both = await app_token(client, gw.http, {"x-Gateway-APIKey": "key-a", **basic_auth("alice", "alice-pw")})
    assert verify_with_pyjwt(both["accessToken"], jwks)["sub"] == "app-a"  # two identifiers, one application
    key_b = await app_token(client, gw.http, {"x-Gateway-APIKey": "key-b", **basic_auth("bob", "bob-pw")})
    assert verify_with_pyjwt(key_b["accessToken"], jwks)["sub"] == "app-b"  # bob is in no application

    for headers in (basic_auth("shared", "shared-pw"),  # two applications list the user
                    basic_auth("bob", "bob-pw"),  # none does
                    {"x-Gateway-APIKey": "key-b", **basic_auth("alice", "alice-pw")},  # they disagree
                    bearer(await user_token(client, gw.http, "bob", "bob-pw"))):  # no claim set matches
        answer = await app_token(client, gw.http, headers, status=400)
        assert answer["code"] == "application_not_identified"
        assert "Unable to uniquely identify application" in answer["Exception"]

    assert (await app_token(client, gw.http, {"x-Gateway-APIKey": "key-s"}, status=403))["code"] == "application_suspended"
    forged = user_jwt[:-4] + ("AAAA" if not user_jwt.endswith("AAAA") else "BBBB")
    for headers in ({"x-Gateway-APIKey": "nope"}, basic_auth("alice", "wrong"), bearer(forged), bearer("not-a-jwt"),
                    {"x-Gateway-APIKey": "key-a", **basic_auth("alice", "wrong")}):
        async with client.post(gw.http + APP_TOKEN, headers=headers) as resp:
            assert resp.status == 401, headers
            assert "WWW-Authenticate" in resp.headers
    async with client.post(gw.http + APP_TOKEN) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == "missing_credentials"
    async with client.get(gw.http + APP_TOKEN, headers={"x-Gateway-APIKey": "key-a"}) as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "POST"


async def test_application_token_body_errors(gateway, client):
    gw = await gateway(issuer_config())
    key = {"x-Gateway-APIKey": "key-a"}
    url = gw.http + APP_TOKEN
    for claim in ("sub", "iss", "aud", "exp", "nbf", "iat", "jti", "app_id"):
        answer = await app_token(client, gw.http, key, {"claimsSet": {claim: "x"}}, status=400)
        assert claim in answer["message"]
    for body in (b"{", b"[1]", b'"x"', b'{"claimsSet": [1]}', b'{"claimsSet": "x"}', b'{"claimsSet": {"x": NaN}}',
                 b'{"claimsSet": {"x": ' + b"[" * 30000 + b"]" * 30000 + b"}}"):  # too deep to parse
        async with client.post(url, headers={**key, "Content-Type": "application/json"}, data=body) as resp:
            assert resp.status == 400, body[:40]
    async with client.post(url, headers={**key, "Content-Type": "text/plain"}, data=b'{"claimsSet": {}}') as resp:
        assert resp.status == 415
        assert (await resp.json())["code"] == "unsupported_media_type"
    huge = json.dumps({"claimsSet": {"x": "y" * 70000}}).encode()
    async with client.post(url, headers={**key, "Content-Type": "application/json"}, data=huge) as resp:
        assert resp.status == 413

    async def chunks():
        for _ in range(20):
            yield b" " * 8192

    async with client.post(url, headers={**key, "Content-Type": "application/json"}, data=chunks()) as resp:
        assert resp.status == 413  # chunked: counted while reading
    too_many = {f"c{i}": i for i in range(100)}
    await app_token(client, gw.http, key, {"claimsSet": too_many}, status=400)
    ok = await app_token(client, gw.http, key, {"claimsSet": None, "other": 1})
    assert segments(ok["accessToken"])[1]["sub"] == "app-a"
    async with client.post(url, headers={**key, "Content-Type": "application/json; charset=utf-8"}, data=b'{"claimsSet": {"k": "v"}}') as resp:
        assert resp.status == 200
