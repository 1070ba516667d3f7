"""tokens.validator with local key sources: issuer selection, key choice, time, caching."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from jwtkit import ISSUER, assemble, claims, ec_key, mint, rsa_key, signed

from microgw.errors import TokenError
from microgw.keys.static import StaticKeySource
from microgw.tokens.cache import VerifiedTokenCache
from microgw.config.security import DEFAULT_CLOCK_SKEW
from microgw.tokens.validator import AuthServer, TokenValidator

NOW = 1_700_000_000


def rsa_source(name="a", kid=None) -> StaticKeySource:
    return StaticKeySource.from_public_key(rsa_key(name).public_key(), source=f"rsa {name}", kid=kid)


def server(issuer=ISSUER, *sources, id="idp", **kw) -> AuthServer:
    return AuthServer(id, id.upper(), issuer, tuple(sources) or (rsa_source(),), **kw)


def tok(alg="RS256", now=NOW, key=None, kid="k1", **claim_overrides) -> str:
    return mint(alg, claims(now, **claim_overrides), key=key, kid=kid)


async def refused(validator, token, **kw) -> str:
    with pytest.raises(TokenError) as info:
        await validator.validate(token, **kw)
    assert info.value.status == 401
    return info.value.message


class CountingSource:
    """A KeySource that knows no key until told, and counts refresh requests."""

    description = "counting"

    def __init__(self, after_refresh: StaticKeySource | None = None):
        self.refreshes: list[str] = []
        self.inner = StaticKeySource([])
        self.after_refresh = after_refresh

    def candidates(self, kid, alg):
        return self.inner.candidates(kid, alg)

    async def refresh_for_unknown_kid(self, kid):
        self.refreshes.append(kid)
        if self.after_refresh is not None:
            self.inner = self.after_refresh
            return True
        return False


# --- the happy path --------------------------------------------------------------------------------


async def test_valid_token_gives_claims_server_and_key():
    srv = server()
    validator = TokenValidator([srv])
    result = await validator.validate(tok(sub="alice", aud=["x", "y"]), now=NOW + 5)
    assert result.claims["sub"] == "alice" and result.claims["aud"] == ["x", "y"]
    assert result.auth_server is srv
    assert (result.alg, result.kid, result.key_source) == ("RS256", "k1", "rsa a")
    assert result.expires_at == NOW + 3600
    assert result.header["alg"] == "RS256"


async def test_audience_is_not_checked_here():
    result = await TokenValidator([server()]).validate(tok(aud="someone-else"), now=NOW)
    assert result.claims["aud"] == "someone-else"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS512"])
async def test_other_algorithm_families(alg):
    from jwtkit import private_key_for

    source = StaticKeySource.from_public_key(private_key_for(alg).public_key())
    validator = TokenValidator([server(ISSUER, source)])
    assert (await validator.validate(tok(alg), now=NOW)).alg == alg


async def test_hmac_server():
    secret = b"s" * 32
    validator = TokenValidator([server(ISSUER, StaticKeySource.from_hmac_secret(secret))])
    assert (await validator.validate(tok("HS256", key=secret), now=NOW)).alg == "HS256"
    assert await refused(validator, tok("HS256", key=b"t" * 32), now=NOW) == "invalid signature"
    assert await refused(validator, tok("RS256"), now=NOW) == "unknown key id"


# --- issuer selection --------------------------------------------------------------------------------


async def test_issuer_selects_the_server_among_many():
    servers = [server(f"https://other{i}.example", id=f"s{i}", *[rsa_source("b")]) for i in range(50)]
    servers.append(server(ISSUER, id="right"))
    validator = TokenValidator(servers)
    assert (await validator.validate(tok(), now=NOW)).auth_server.id == "right"
    assert validator.server_for_issuer("https://other7.example").id == "s7"


@pytest.mark.parametrize(
    "iss, message",
    [
        ("https://evil.example", "untrusted issuer"),
        (ISSUER.upper(), "untrusted issuer"),
        (ISSUER + "/", "untrusted issuer"),
        (None, "token has no issuer"),
        (["x"], "token has no issuer"),
        (42, "token has no issuer"),
    ],
)
async def test_issuer_must_match_exactly(iss, message):
    claim_set = {**claims(NOW), "iss": iss} if iss is not None else claims(NOW, iss=None)
    token = signed({"alg": "RS256", "kid": "k1"}, claim_set, rsa_key())  # PyJWT won't mint a non-string iss
    assert await refused(TokenValidator([server()]), token, now=NOW) == message


async def test_server_must_be_allowed_for_the_api():
    validator = TokenValidator([server(id="idp"), server("https://b.example", id="b")])
    token = tok()
    assert (await validator.validate(token, allowed_server_ids=frozenset({"idp"}), now=NOW)).auth_server.id == "idp"
    assert await refused(validator, token, allowed_server_ids=frozenset({"b"}), now=NOW) == "issuer not accepted for this API"
    assert await refused(validator, token, allowed_server_ids=frozenset(), now=NOW) == "issuer not accepted for this API"
    # a plain set works too (made hashable for the cache key)
    assert (await validator.validate(token, allowed_server_ids={"idp"}, now=NOW)).auth_server.id == "idp"


async def test_server_allowed_algs():
    validator = TokenValidator([server(allowed_algs=frozenset({"PS256"}))])
    assert await refused(validator, tok("RS256"), now=NOW) == "algorithm not allowed for this issuer"
    assert (await validator.validate(tok("PS256"), now=NOW)).alg == "PS256"


def test_configuration_errors_are_refused_at_construction():
    with pytest.raises(ValueError, match="same issuer"):
        TokenValidator([server(id="a"), server(id="b")])
    with pytest.raises(ValueError, match="duplicate auth server id"):
        TokenValidator([server(id="a"), server("https://x", id="a")])
    with pytest.raises(ValueError, match="no key source"):
        TokenValidator([AuthServer("a", "A", ISSUER, ())])
    with pytest.raises(ValueError, match="no issuer"):
        TokenValidator([server("", id="a")])


# --- keys ---------------------------------------------------------------------------------------------


async def test_token_without_kid_tries_every_key_fitting_the_alg():
    keys = StaticKeySource([*rsa_source("a", kid="one").keys, *rsa_source("b", kid="two").keys, *StaticKeySource.from_public_key(ec_key().public_key(), kid="ec").keys])
    validator = TokenValidator([server(ISSUER, keys)])
    result = await validator.validate(tok(key=rsa_key("b"), kid=None), now=NOW)
    assert result.key_source == "rsa b" and result.kid is None


async def test_token_kid_selects_the_key_and_kidless_keys_are_wildcards():
    keys = StaticKeySource([*rsa_source("a", kid="one").keys, *rsa_source("b").keys])
    validator = TokenValidator([server(ISSUER, keys)])
    assert (await validator.validate(tok(key=rsa_key("a"), kid="one"), now=NOW)).key_source == "rsa a"
    assert (await validator.validate(tok(key=rsa_key("b"), kid="anything"), now=NOW)).key_source == "rsa b"
    # kid "one" names key a; a token signed by b under that kid fails on both candidates
    assert await refused(validator, tok(key=rsa_key("c"), kid="one"), now=NOW) == "invalid signature"


async def test_second_source_is_tried_when_the_first_fails():
    validator = TokenValidator([server(ISSUER, rsa_source("a"), rsa_source("b"))])
    assert (await validator.validate(tok(key=rsa_key("b")), now=NOW)).key_source == "rsa b"


async def test_unknown_kid_asks_the_source_once_then_refuses():
    source = CountingSource()
    validator = TokenValidator([server(ISSUER, source)])
    assert await refused(validator, tok(kid="new"), now=NOW) == "unknown key id"
    assert source.refreshes == ["new"]


async def test_unknown_kid_found_after_refresh():
    source = CountingSource(after_refresh=rsa_source("a", kid="new"))
    validator = TokenValidator([server(ISSUER, source)])
    assert (await validator.validate(tok(kid="new"), now=NOW)).kid == "new"
    assert source.refreshes == ["new"]


async def test_token_without_kid_and_no_key_does_not_refresh():
    source = CountingSource()
    validator = TokenValidator([server(ISSUER, source)])
    assert await refused(validator, tok(kid=None), now=NOW) == "no key of the issuer matches the token"
    assert source.refreshes == []


async def test_wrong_signature_is_refused():
    assert await refused(TokenValidator([server()]), tok(key=rsa_key("z")), now=NOW) == "invalid signature"


async def test_attack_tokens_are_refused_by_the_validator():
    validator = TokenValidator([server()])
    pem = rsa_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = signed({"alg": "HS256", "kid": "k1"}, claims(NOW), pem)
    assert await refused(validator, confused, now=NOW) == "unknown key id"
    assert await refused(validator, assemble({"alg": "none"}, claims(NOW)), now=NOW) == "unsigned tokens are not accepted"
    with_jku = mint("RS256", claims(NOW), headers={"jku": "http://127.0.0.1:1/jwks"})
    assert "keys embedded in the token" in await refused(validator, with_jku, now=NOW)


# --- time --------------------------------------------------------------------------------------------


async def test_time_claims_use_the_server_skew():
    token = tok(now=NOW)  # exp = NOW + 3600
    default = TokenValidator([server()])
    strict = TokenValidator([server(clock_skew=0)])
    at = NOW + 3600 + DEFAULT_CLOCK_SKEW - 1
    assert (await default.validate(token, now=at)).claims["sub"] == "user-1"
    assert await refused(strict, token, now=at) == "token expired"
    assert await refused(default, token, now=NOW + 3600 + DEFAULT_CLOCK_SKEW) == "token expired"
    lenient = TokenValidator([server()], default_skew=300)
    assert (await lenient.validate(token, now=NOW + 3600 + 299)).auth_server.id == "idp"


async def test_not_yet_valid_and_require_exp():
    validator = TokenValidator([server()])
    assert await refused(validator, tok(now=NOW + 1000), now=NOW) == "token not yet valid"
    no_exp = tok(exp=None)
    assert await refused(validator, no_exp, now=NOW) == "token has no expiry"
    assert (await validator.validate(no_exp, require_exp=False, now=NOW)).expires_at is None


# --- the cache ----------------------------------------------------------------------------------------


async def test_cache_hit_returns_the_same_result():
    cache = VerifiedTokenCache()
    validator = TokenValidator([server()], cache=cache)
    token = tok(now=time.time())
    first = await validator.validate(token)
    assert await validator.validate(token) is first
    assert cache.hits == 1


async def test_cache_rechecks_time_on_every_hit():
    validator = TokenValidator([server(clock_skew=0)], cache=VerifiedTokenCache(max_ttl=10**6))
    token = tok(now=NOW)
    await validator.validate(token, now=NOW)
    assert await refused(validator, token, now=NOW + 3600) == "token expired"
    early = tok(now=NOW, nbf=NOW + 10, iat=NOW - 100)
    await validator.validate(early, now=NOW + 10)
    assert await refused(validator, early, now=NOW + 9) == "token not yet valid"


async def test_cache_is_bound_to_allowed_servers_and_require_exp():
    validator = TokenValidator([server(id="idp"), server("https://b.example", id="b")], cache=VerifiedTokenCache())
    token = tok(now=NOW)
    await validator.validate(token, now=NOW)  # any server: cached
    assert await refused(validator, token, allowed_server_ids=frozenset({"b"}), now=NOW) == "issuer not accepted for this API"
    no_exp = tok(now=NOW, exp=None)
    await validator.validate(no_exp, require_exp=False, now=NOW)
    assert await refused(validator, no_exp, require_exp=True, now=NOW) == "token has no expiry"


async def test_shared_cache_does_not_leak_across_validators():
    """A reload builds a new validator; results cached by the old one must not be served."""
    cache = VerifiedTokenCache()
    old = TokenValidator([server()], cache=cache)
    token = tok(now=NOW)
    await old.validate(token, now=NOW)
    new = TokenValidator([server("https://other.example")], cache=cache)
    assert await refused(new, token, now=NOW) == "untrusted issuer"


async def test_refusals_are_not_cached():
    cache = VerifiedTokenCache()
    validator = TokenValidator([server()], cache=cache)
    bad = tok(key=rsa_key("z"))
    for _ in range(2):
        assert await refused(validator, bad, now=NOW) == "invalid signature"
    assert len(cache) == 0
