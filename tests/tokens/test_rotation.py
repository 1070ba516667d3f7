"""TokenValidator + RemoteJwksSource + a real JWKS server: rotation and refetch limits end to end."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from jwtkit import ISSUER, claims, ec_key, jwk_of, jwks, mint, rsa_key

from microgw.errors import TokenError
from microgw.keys.remote import RemoteJwksSource
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.validator import AuthServer, TokenValidator


@pytest.fixture
async def remote(jwks_server):
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"))
    source = RemoteJwksSource(jwks_server.url, refresh_interval=3600, unknown_kid_cooldown=0, timeout=2, retry_initial=0.02)
    await source.start()
    assert await source.wait_ready(5)
    yield source
    await source.close()


def validator_for(source, cache=None) -> TokenValidator:
    return TokenValidator([AuthServer("idp", "IdP", ISSUER, (source,))], cache=cache)


async def refused(validator, token) -> str:
    with pytest.raises(TokenError) as info:
        await validator.validate(token)
    return info.value.message


async def test_new_kid_is_picked_up_and_removed_kid_refused(jwks_server, remote):
    validator = validator_for(remote)
    old_token = mint("RS256", claims(), key=rsa_key("a"), kid="old")
    assert (await validator.validate(old_token)).kid == "old"

    # The IdP rotates: a new key appears while we run; the first token naming it triggers a refetch.
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"), jwk_of(rsa_key("b"), "new"))
    new_token = mint("RS256", claims(), key=rsa_key("b"), kid="new")
    assert (await validator.validate(new_token)).kid == "new"
    assert jwks_server.hits == 2

    # The old key is withdrawn; once we have refetched, its tokens are refused.
    jwks_server.document = jwks(jwk_of(rsa_key("b"), "new"))
    assert await remote.refresh()
    assert await refused(validator, old_token) == "unknown key id"
    assert (await validator.validate(new_token)).kid == "new"


async def test_rotation_with_a_different_key_type(jwks_server, remote):
    validator = validator_for(remote)
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"), jwk_of(ec_key(), "ec-1"))
    assert (await validator.validate(mint("ES256", claims(), key=ec_key(), kid="ec-1"))).alg == "ES256"


async def test_random_kids_cause_at_most_one_fetch_per_window(jwks_server):
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"))
    source = RemoteJwksSource(jwks_server.url, refresh_interval=3600, unknown_kid_cooldown=60, timeout=2)
    await source.start()
    try:
        assert await source.wait_ready(5)
        validator = validator_for(source)
        tokens = [mint("RS256", claims(), key=rsa_key("a"), kid=uuid.uuid4().hex) for _ in range(30)]
        results = await asyncio.gather(*(validator.validate(t) for t in tokens), return_exceptions=True)
        assert all(isinstance(r, TokenError) and r.message == "unknown key id" for r in results)
        for token in tokens:  # and sequentially, after the concurrent burst
            assert await refused(validator, token) == "unknown key id"
        assert jwks_server.hits == 2  # start-up + one unknown-kid fetch for the whole window
        assert source.unknown_kid_fetches == 1
    finally:
        await source.close()


async def test_idp_down_keeps_validating_with_last_good_keys(jwks_server, remote):
    validator = validator_for(remote)
    token = mint("RS256", claims(), key=rsa_key("a"), kid="old")
    jwks_server.status = 503
    assert await remote.refresh() is False
    assert (await validator.validate(token)).kid == "old"
    assert remote.last_error == "HTTP 503"


async def test_kidless_token_against_a_remote_set(jwks_server, remote):
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"), jwk_of(rsa_key("b"), "new"))
    assert await remote.refresh()
    validator = validator_for(remote, cache=VerifiedTokenCache())
    token = mint("RS256", claims(), key=rsa_key("b"), kid=None)
    first = await validator.validate(token)
    assert first.kid is None and first.key_source == remote.description
    assert await validator.validate(token) is first


async def test_withdrawn_key_stops_cached_tokens_after_the_refetch(jwks_server, remote):
    validator = validator_for(remote, cache=VerifiedTokenCache(max_ttl=3600))
    token = mint("RS256", claims(), key=rsa_key("a"), kid="old")
    first = await validator.validate(token)
    jwks_server.document = jwks(jwk_of(rsa_key("a"), "old"), jwk_of(rsa_key("b"), "new"))
    assert await remote.refresh()  # same key, new objects: still a cache hit
    assert await validator.validate(token) is first
    jwks_server.document = jwks(jwk_of(rsa_key("b"), "new"))
    assert await remote.refresh()
    assert await refused(validator, token) == "unknown key id"
