"""What a microgw parent serves (applications, auth servers), the saved copy of a download, and the
parent's keys kept with a download."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from microgw.sync.store import DownloadStore
from microgw.sync.vendor import application_to_vendor, served_aliases
from support.idp import public_jwk


@pytest.fixture
def jwks_key_server(idp):
    """The shared IdP's JWKS, which has ``k1`` but no longer ``old`` (retired), and the JWK ``old`` had."""
    retired = public_jwk(idp.add_key("old"), "old", "RS256")
    del idp.keys["old"]
    return SimpleNamespace(url=idp.jwks_uri), retired, "k1"


def test_vendor_applications_pass_unchanged_even_with_inline_strategies():
    item = {
        "id": "vendor-app", "name": "V", "isSuspended": True,
        "identifiers": [{"key": "apiKey", "name": "k", "value": ["vendor-key"]}],
        "strategies": [{"id": "s", "type": "JWT_HSA", "secret": {"secret": "eHh4"}, "audience": "a"}],
    }
    assert application_to_vendor(item) == item
    by_application_id = {"applicationID": "app-2", "apiIDs": ["x"]}  # vendor form by its id field alone
    assert application_to_vendor(by_application_id) == by_application_id
    concise = application_to_vendor({"id": "c", "api_keys": ["k"], "suspended": True})
    assert concise["isSuspended"] is True and concise["identifiers"] == [{"key": "apiKey", "name": "API key", "value": ["k"]}]


def test_auth_servers_children_cannot_use_are_withheld():
    raw = {"security_settings": {"auth_servers": [
        {"id": "cert", "localIntrospectionConfig": {"issuer": "https://a", "certificateAlias": "demo-idp"}},
        {"id": "remote", "localIntrospectionConfig": {"issuer": "https://r"}, "remoteIntrospectionConfig": {"introspectionEndpoint": "http://r/i"}},
        {"id": "idp", "localIntrospectionConfig": {"issuer": "https://i", "jwksuri": "https://i/jwks", "trustStoreAlias": "t", "certificateAlias": "c"}},
    ]}}
    withheld: list = []
    served = served_aliases(raw, "me", "http://parent:1", withheld)
    assert [s["id"] for s in served] == ["local", "idp"]
    assert served[1]["localIntrospectionConfig"] == {"issuer": "https://i", "jwksuri": "https://i/jwks"}
    assert withheld == [("cert", "it has a certificate but no JWKS URI"), ("remote", "it has no JWKS URI")]


def test_saved_copy_is_tied_to_its_parent_and_filters(tmp_path):
    store = DownloadStore(str(tmp_path))
    filters = {"apis": ["a"], "applications": True}
    store.save({"apis": []}, "http://one:1/", filters)
    assert store.load("http://one:1/", filters)[0] == {"apis": []}
    assert store.load("http://two:1/", filters) is None
    assert store.load("http://one:1/", {"apis": None, "applications": True}) is None
    # a copy written before filters were recorded is matched by its parent alone
    record = json.loads(store.path.read_text())
    del record["downloads"]
    store.path.write_text(json.dumps(record))
    assert store.load("http://one:1/", filters) is not None
    assert store.load("http://two:1/", filters) is None


async def test_saved_parent_keys_are_used_only_until_the_jwks_was_fetched(jwks_key_server):
    """Keys kept with a download (jwks_inline) bridge a start without the parent; once the parent's
    JWKS answered, a key it retired stops validating (it would otherwise be trusted forever)."""
    from microgw.config.security import AuthServerConfig, JwksTuning, SecurityConfig
    from microgw.config.model import ServerConfig, Settings
    from microgw.keys.providers import FallbackKeySource, key_sources

    server, retired_jwk, current_kid = jwks_key_server
    config = AuthServerConfig(
        id="parent-local", name="parent-local", issuer="p", jwks_uri=server.url, truststore_alias=None, certificate_alias=None,
        clock_skew=None, algorithms=None, jwks=JwksTuning(), introspection=None, token_generator=None,
        jwks_inline={"keys": [retired_jwk]},
    )
    settings = Settings(server=ServerConfig(), apis=(), security=SecurityConfig(auth_servers=(config,)))
    built, remotes = key_sources(settings, None, None)
    (source,) = built[0].sources
    assert isinstance(source, FallbackKeySource)
    assert [k.kid for k in source.candidates("old", "RS256")] == ["old"]  # before any fetch: the saved keys
    remote = remotes[0]
    await remote.start()
    try:
        assert await remote.wait_ready(5)
        assert source.candidates("old", "RS256") == []  # retired by the parent: gone
        assert [k.kid for k in source.candidates(current_kid, "RS256")] == [current_kid]
    finally:
        await remote.close()
