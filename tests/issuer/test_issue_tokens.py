"""tokens/issuer.py: the claims of both token kinds, rotation through the provider, refusals."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
import pytest

from microgw.errors import GatewayError
from microgw.keys.publish import jwks_document
from microgw.keys.signing import KeyringRef, KeyStateDir, SigningKey, SigningKeyring
from microgw.jose.b64 import b64url_decode
from microgw.tokens.issuer import TokenIssuer

NOW = 1_700_000_000
ISS = "test-gateway-issuer"


def payload(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


def header(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


@pytest.fixture
def ring(rsa_key) -> SigningKeyring:
    return SigningKeyring([SigningKey.from_private_key(rsa_key)])


def make(ring, audience="my-audience", alg="RS256", expiry=600, **kw) -> TokenIssuer:
    return TokenIssuer(ISS, lambda: ring, alg, expiry, audience, **kw)


def test_user_token_claims_exact(ring):
    token = make(ring).issue_for_user("Administrator", now=NOW)
    claims = payload(token)
    jti = claims.pop("jti")
    assert isinstance(jti, str) and len(jti) >= 16
    assert claims == {
        "iss": ISS,
        "sub": "Administrator",
        "aud": "my-audience",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
    }
    assert header(token) == {"alg": "RS256", "kid": ring.current.kid, "typ": "JWT"}


@pytest.mark.parametrize(
    "audience,app_id,expected",
    [
        ("my-audience", "app-1", ["my-audience", "app-1"]),
        ("my-audience", "my-audience", "my-audience"),  # not listed twice
        (None, "app-1", "app-1"),
        (None, None, None),
        (["a", "b"], None, ["a", "b"]),
        (["a", "b", "a"], "c", ["a", "b", "c"]),
        (["only"], None, "only"),
    ],
)
def test_user_token_audience_shape(ring, audience, app_id, expected):
    claims = payload(make(ring, audience=audience).issue_for_user("u", app_id, now=NOW))
    assert claims.get("aud") == expected
    assert claims.get("app_id") == app_id


def test_jti_is_unique(ring):
    issuer = make(ring)
    assert len({payload(issuer.issue_for_user("u", now=NOW))["jti"] for _ in range(500)}) == 500


def test_user_token_verifies_with_jwks_in_two_libraries(ring, pyjwt_verify, jwcrypto_verify):
    issuer = make(ring, expiry=300)
    token = issuer.issue_for_user("Administrator", "app-7")
    jwks = jwks_document(ring)
    claims = pyjwt_verify(
        token, jwks, "RS256", audience="app-7", issuer=ISS, options={"require": ["exp", "iat", "nbf", "jti", "sub"]}
    )
    assert claims["sub"] == "Administrator" and claims["app_id"] == "app-7"
    assert claims["exp"] - claims["iat"] == 300
    jc = jwcrypto_verify(token, jwks, "RS256", check_claims={"iss": ISS, "aud": "my-audience", "exp": None})
    assert jc == claims
    with pytest.raises(pyjwt.InvalidAudienceError):
        pyjwt_verify(token, jwks, "RS256", audience="someone-else")


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])
def test_every_algorithm_through_the_issuer(alg, key_for, pyjwt_verify, jwcrypto_verify):
    ring = SigningKeyring([SigningKey.from_private_key(key_for(alg), alg)])
    issuer = make(ring, alg=alg)
    jwks = jwks_document(ring)
    user_token = issuer.issue_for_user("u", "app")
    app_token, _ = issuer.issue_for_application("app", {"name": "srikar"})
    assert pyjwt_verify(user_token, jwks, alg, audience="app", issuer=ISS)["sub"] == "u"
    assert jwcrypto_verify(app_token, jwks, alg, check_claims={"sub": "app"})["name"] == "srikar"
    assert header(user_token)["alg"] == alg


def test_application_token(ring, pyjwt_verify):
    issuer = make(ring, expiry=600)
    token, expires_in = issuer.issue_for_application("app-42", {"name": "srikar", "company": "sag", "n": [1, {"x": 2}]})
    assert expires_in == 600
    claims = pyjwt_verify(token, jwks_document(ring), "RS256", audience="my-audience", issuer=ISS)
    assert claims["sub"] == "app-42"
    assert claims["name"] == "srikar" and claims["company"] == "sag" and claims["n"] == [1, {"x": 2}]
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert "app_id" not in claims and "jti" in claims
    assert header(token)["kid"] == ring.current.kid


def test_application_token_without_custom_claims_or_audience(ring):
    token, _ = make(ring, audience=None).issue_for_application("app", None, now=NOW)
    claims = payload(token)
    claims.pop("jti")
    assert claims == {"iss": ISS, "sub": "app", "iat": NOW, "nbf": NOW, "exp": NOW + 600, "microgw_token": "application", "client_id": "app"}


@pytest.mark.parametrize("claim", ["iss", "sub", "exp", "nbf", "iat", "jti", "aud", "app_id", "microgw_token", "client_id", "azp", "scope", "scp"])
def test_registered_claims_cannot_be_overridden(ring, claim):
    with pytest.raises(GatewayError) as err:
        make(ring).issue_for_application("app", {"name": "x", claim: "evil"})
    assert err.value.status == 400 and claim in err.value.message


@pytest.mark.parametrize(
    "claims_set",
    [
        ["not", "an", "object"],
        "string",
        {"": 1},
        {"x": {1, 2}},
        {"x": float("nan")},
        {"x": object()},
    ],
)
def test_claims_set_must_be_a_json_object(ring, claims_set):
    with pytest.raises(GatewayError) as err:
        make(ring).issue_for_application("app", claims_set)
    assert err.value.status == 400


def test_claims_set_size_limits(ring):
    issuer = make(ring, max_custom_claims=3, max_custom_claims_bytes=100)
    issuer.issue_for_application("app", {"a": 1, "b": 2, "c": 3})
    with pytest.raises(GatewayError, match="at most 3 claims"):
        issuer.issue_for_application("app", {"a": 1, "b": 2, "c": 3, "d": 4})
    with pytest.raises(GatewayError, match="100 bytes"):
        issuer.issue_for_application("app", {"a": "x" * 100})
    with pytest.raises(GatewayError, match="bytes"):
        issuer.issue_for_application("app", {"a": "ü" * 47})  # 47 characters, 94 bytes of UTF-8 + 8 of JSON


def test_default_size_limits(ring):
    issuer = make(ring)
    with pytest.raises(GatewayError):
        issuer.issue_for_application("app", {f"c{i}": i for i in range(65)})
    with pytest.raises(GatewayError):
        issuer.issue_for_application("app", {"blob": "x" * 5000})
    token, _ = issuer.issue_for_application("app", {f"c{i}": "v" * 40 for i in range(64)})
    assert len(payload(token)) == 64 + 9  # iss sub aud iat nbf exp jti microgw_token client_id


def test_deeply_nested_claims_refused_cleanly(ring):
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(GatewayError):
        make(ring).issue_for_application("app", deep)


@pytest.mark.parametrize("user,app_id", [("", None), (None, None), ("u", ""), ("u", 5)])
def test_bad_user_or_app_id_is_400(ring, user, app_id):
    with pytest.raises(GatewayError) as err:
        make(ring).issue_for_user(user, app_id)  # type: ignore[arg-type]
    assert err.value.status == 400


def test_application_needs_an_id(ring):
    with pytest.raises(GatewayError, match="uniquely identify"):
        make(ring).issue_for_application("", {})


def test_rotation_applies_without_rebuilding_the_issuer(tmp_path, pyjwt_verify):
    clock_times = iter(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i) for i in range(10))
    sd = KeyStateDir(tmp_path / "s", rsa_bits=2048, clock=lambda: next(clock_times))
    ref = KeyringRef(sd.load_or_create("RS256"))
    issuer = TokenIssuer(ISS, ref, "RS256", 600, None)

    old_kid = ref().current.kid
    t_old = issuer.issue_for_user("u")
    ref.swap(sd.add_key("RS256"))
    t_new = issuer.issue_for_user("u")
    new_kid = ref().current.kid
    assert header(t_old)["kid"] == old_kid and header(t_new)["kid"] == new_kid != old_kid

    jwks = jwks_document(ref())
    assert pyjwt_verify(t_old, jwks, "RS256")["sub"] == "u"
    assert pyjwt_verify(t_new, jwks, "RS256")["sub"] == "u"

    ref.swap(sd.retire(old_kid))
    jwks = jwks_document(ref())
    with pytest.raises(LookupError):
        pyjwt_verify(t_old, jwks, "RS256")
    assert pyjwt_verify(issuer.issue_for_user("u"), jwks, "RS256")["sub"] == "u"


def test_issuer_signs_with_key_of_its_algorithm(rsa_key, ed_key):
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rsa_k = SigningKey.from_private_key(rsa_key, created_at=t)
    ed_k = SigningKey.from_private_key(ed_key, created_at=t + timedelta(days=1))  # newer, but EdDSA
    ring = SigningKeyring([rsa_k, ed_k])
    assert header(make(ring, alg="RS256").issue_for_user("u"))["kid"] == rsa_k.kid
    assert header(make(ring, alg="EdDSA").issue_for_user("u"))["kid"] == ed_k.kid


def test_construction_checks(ring):
    with pytest.raises(ValueError, match="no active ES256 key"):
        make(ring, alg="ES256")  # no key for it: fail at startup
    for bad in (dict(alg="HS256"), dict(alg="none"), dict(expiry=0), dict(expiry=True), dict(expiry=1.5), dict(audience="")):
        with pytest.raises(ValueError):
            make(ring, **bad)
    with pytest.raises(ValueError):
        TokenIssuer("", lambda: ring, "RS256", 60, None)


def test_keyring_losing_the_algorithm_later_is_a_500(rsa_key, ed_key):
    ref = KeyringRef(SigningKeyring([SigningKey.from_private_key(rsa_key)]))
    issuer = TokenIssuer(ISS, ref, "RS256", 60, None)
    ref.swap(SigningKeyring([SigningKey.from_private_key(ed_key)]))
    with pytest.raises(GatewayError) as err:
        issuer.issue_for_user("u")
    assert err.value.status == 500 and err.value.code == "issuer_unavailable"


def test_now_defaults_to_wall_clock(ring):
    before = int(time.time())
    claims = payload(make(ring).issue_for_user("u"))
    assert before <= claims["iat"] <= int(time.time())
