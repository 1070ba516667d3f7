"""Property tests: whatever arrives, parsing and validation answer with a TokenError or a result."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from jwtkit import HMAC_SECRET, ISSUER, b64url, segment, signed

from microgw.errors import TokenError
from microgw.keys.static import StaticKeySource
from microgw.tokens import verify
from microgw.jose.b64 import B64Error, b64url_decode
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.validator import AuthServer, TokenValidator, VerifiedToken
from microgw.tokens.verify import ParsedToken, parse

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
JSON_SETTINGS = settings(SETTINGS, max_examples=150)  # recursive JSON is slow to generate

B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
time_values = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.booleans(), st.none(), st.text(max_size=5), st.just(1_700_000_000))
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["HS256", "HS512", "RS256", "none", "NONE", "ES256", "EdDSA", "foo"]) | json_values,
        "kid": st.text(max_size=5) | json_values,
        "typ": st.just("JWT"),
        "crit": json_values,
        "jku": st.text(max_size=5),
    },
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([ISSUER, ISSUER.upper(), "other"]) | json_values,
        "exp": time_values,
        "nbf": time_values,
        "iat": time_values,
        "aud": json_values,
        "sub": json_values,
    },
) | json_values


def only_token_errors(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except TokenError as exc:
        assert exc.status == 401 and exc.message and "Traceback" not in exc.message
        return None


def parsed_or_refused(result) -> bool:
    """Refused (None: a 401 TokenError), or a token with a supported algorithm and a claims object."""
    return result is None or (isinstance(result, ParsedToken) and result.alg in verify.SUPPORTED_ALGS and isinstance(result.claims, dict))


@SETTINGS
@given(st.text(max_size=300))
def test_parse_arbitrary_text(text):
    result = only_token_errors(parse, text)
    assert result is None or isinstance(result, ParsedToken)


@SETTINGS
@given(st.lists(st.text(alphabet=B64_CHARS + "=+/. é", max_size=60), min_size=1, max_size=6))
def test_parse_base64ish_segments(parts):
    assert parsed_or_refused(only_token_errors(parse, ".".join(parts)))


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=80))
def test_parse_arbitrary_bytes_in_segments(header, payload, signature):
    assert parsed_or_refused(only_token_errors(parse, f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"))


@JSON_SETTINGS
@given(header=headers | json_values, payload=payloads, signature=st.binary(max_size=64))
def test_parse_arbitrary_json(header, payload, signature, json_engine):
    token = f"{segment(header)}.{segment(payload)}.{b64url(signature)}"
    result = only_token_errors(parse, token, max_length=100_000)
    if result is not None:
        assert isinstance(result.claims, dict) and result.alg in verify.SUPPORTED_ALGS


@SETTINGS
@given(st.text(alphabet=B64_CHARS + "=+/ !\n", max_size=40))
def test_fast_base64_agrees_with_b64url_decode(text):
    """parse() decodes with its own translate+a2b path; it must accept and refuse exactly like b64.py."""
    raw = text.encode()
    try:
        expected = b64url_decode(raw)
    except B64Error:
        expected = None
    try:
        got = verify._b64(raw.translate(verify._TO_STD))
    except TokenError:
        got = None
    assert got == expected


@SETTINGS
@given(st.binary(max_size=300))
def test_both_json_engines_refuse_the_same_payloads(data):
    assume(verify._orjson_loads is not None)
    outcomes = []
    for engine in (verify._stdlib_json, verify._orjson_loads):
        try:
            value = engine(data)
            outcomes.append(("ok", json.dumps(value, sort_keys=True) if not isinstance(value, float) else value))
        except (ValueError, RecursionError):
            outcomes.append(("refused", None))
    assert outcomes[0][0] == outcomes[1][0]


@pytest.fixture(scope="module")
def validator():
    server = AuthServer("idp", "IdP", ISSUER, (StaticKeySource.from_hmac_secret(HMAC_SECRET),), clock_skew=30)
    return TokenValidator([server], cache=VerifiedTokenCache(max_entries=50))


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@JSON_SETTINGS
@example(header={"alg": "HS256"}, payload={"iss": ISSUER, "exp": 1_700_000_100}, require_exp=True, now=1_700_000_000, allowed=None)
@example(header={"alg": "HS512", "kid": "x"}, payload={"iss": ISSUER}, require_exp=False, now=1_700_000_000, allowed=frozenset({"idp"}))
@given(
    header=headers,
    payload=payloads,
    require_exp=st.booleans(),
    now=st.integers(1_699_990_000, 1_700_010_000),
    allowed=st.none() | st.frozensets(st.sampled_from(["idp", "b"])),
)
def test_validate_signed_arbitrary_tokens(validator, loop, header, payload, require_exp, now, allowed):
    """Correctly signed tokens with arbitrary header/claims: a VerifiedToken or a TokenError, never a crash."""
    alg = header.get("alg")
    if isinstance(alg, str) and alg in ("HS256", "HS512"):
        token = signed(header, payload, HMAC_SECRET)
    else:
        token = f"{segment(header)}.{segment(payload)}.{b64url(b'x' * 32)}"
    for _ in range(2):  # the second round may be a cache hit: same answer
        result = only_token_errors(loop.run_until_complete, validator.validate(token, require_exp=require_exp, now=now, allowed_server_ids=allowed))
        if result is not None:
            assert isinstance(result, VerifiedToken)
            assert result.claims["iss"] == ISSUER and result.alg in ("HS256", "HS512")


@SETTINGS
@given(value=st.one_of(st.text(max_size=200), st.binary(max_size=50), st.none(), st.integers()))
def test_validate_arbitrary_input(validator, loop, value):
    """Whatever a client sends as a bearer token, unsigned by the IdP: refused with a 401, never accepted."""
    assert only_token_errors(loop.run_until_complete, validator.validate(value)) is None
