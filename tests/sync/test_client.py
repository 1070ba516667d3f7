"""Downloading from a parent: large answers, malformed answers, the parent's `local` server, the
parent's certificate-only servers, archives with unsupported policies, parents under a base path."""

from __future__ import annotations

import pytest

from microgw.sync.client import DownloadError, ParentClient, ParentSettings
from support.vendor_archive import action, api_doc, routing, v, vendor_archive


def client(url: str, **kwargs) -> ParentClient:
    return ParentClient(ParentSettings(url, "u", "p", None, **kwargs))


async def test_large_answers_are_read_whole(parent):
    apps = [{"id": f"app-{i}", "name": f"Application {i}", "identifiers": [{"key": "apiKey", "value": [f"key-{i:06d}-abcdefghijklmnop"]}]} for i in range(3000)]
    parent.answers["applications"] = {"applications": apps}  # ~300 KiB: more than one buffer
    document = await client(parent.url).download()
    assert len(document["applications"]) == 3000


MALFORMED = {
    "alias item not an object": {"alias": {"alias": [1]}},
    "localIntrospectionConfig not an object": {"alias": {"alias": [{"type": "authServerAlias", "id": "x", "localIntrospectionConfig": []}]}},
    "jwksuri not text": {"alias": {"alias": [{"type": "authServerAlias", "id": "x", "localIntrospectionConfig": {"jwksuri": 5}}]}},
    "auth server without id": {"alias": {"alias": [{"type": "authServerAlias", "localIntrospectionConfig": {"jwksuri": "http://x/"}}]}},
    "api entry not an object": {"apis": {"apiResponse": [{"api": "oops"}]}},
    "application not an object": {"applications": {"applications": ["x"]}},
    "strategy not an object": {"strategies": {"strategies": [1]}},
    "inline strategy not an object": {"applications": {"applications": [{"id": "a", "strategies": [1]}]}},
    "authStrategyIds not a list": {"applications": {"applications": [{"id": "a", "authStrategyIds": [["x"]]}]}},
    "a missing top-level key": {"applications": {}},
    "a top-level list": {"alias": []},
    "not JSON": {"apis": b"<html>"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_answers_are_download_errors(parent, case):
    parent.answers.update(MALFORMED[case])
    with pytest.raises(DownloadError):
        await client(parent.url).download()


async def test_parent_local_server_is_kept_as_parent_local_with_its_references(parent):
    secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
    parent.answers["alias"] = {"alias": [
        {"id": "local", "name": "local", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "parent-iss", "jwksuri": f"{parent.url}/rest/pub/apigateway/jwt/certs"}},
        {"id": "idp", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "https://idp", "jwksuri": "https://idp/jwks"}},
    ]}
    parent.answers["applications"] = {"applications": [
        {"id": "a", "isSuspended": False, "strategies": [
            {"id": "s1", "type": "JWT_HSA", "secret": {"secret": secret}, "audience": "x"},
            {"id": "s2", "type": "JWT_HSA", "secret": {"secret": secret}, "audience": "x", "authServerAlias": "local"},
            {"id": "s3", "type": "JWT_HSA", "secret": {"secret": secret}, "audience": "x", "authServerAlias": "idp"},
        ]},
    ]}
    parent.extra["/rest/pub/apigateway/jwt/certs"] = {"keys": [{"kty": "oct", "k": "AAAA", "kid": "k1"}]}
    document = await client(parent.url).download()
    servers = {s["id"]: s for s in document["security_settings"]["auth_servers"]}
    assert set(servers) == {"parent-local", "idp"}
    assert servers["parent-local"]["name"] == "parent-local"
    assert servers["parent-local"]["jwks_inline"] == {"keys": [{"kty": "oct", "k": "AAAA", "kid": "k1"}]}
    strategies = document["applications"][0]["strategies"]
    assert [s["authServerAlias"] for s in strategies] == ["parent-local", "parent-local", "idp"]


def test_jwt_auth_servers_of_downloaded_apis_follow_the_rename():
    """A microgw parent's API naming `local` names `parent-local` on the child (see test_fleet for e2e)."""
    from microgw.sync.vendor import rename_parent_local

    document = {
        "security_settings": {"auth_servers": [{"id": "local"}, {"id": "parent-local"}]},
        "apis": [
            {"name": "a", "version": "1", "mock": {}, "policies": {"jwt": {"auth_servers": ["local", "parent-local", "other"]}}},
            {"name": "b", "version": "1", "mock": {}, "policies": {"oauth2": {"auth_servers": ["local", "kc"]}}},
        ],
    }
    assert rename_parent_local(document) == "parent-local-2"  # the parent is itself a child
    assert document["apis"][0]["policies"]["jwt"]["auth_servers"] == ["parent-local-2", "parent-local", "other"]
    assert document["apis"][1]["policies"]["oauth2"]["auth_servers"] == ["parent-local-2", "kc"]


async def test_servers_a_child_cannot_use_are_left_out(parent):
    parent.answers["alias"] = {"alias": [
        {"id": "cert", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "https://a", "certificateAlias": "demo-idp"}},
        {"id": "both", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "https://b", "jwksuri": "https://b/jwks", "trustStoreAlias": "t", "certificateAlias": "c"}},
        {"id": "no-issuer", "type": "authServerAlias", "localIntrospectionConfig": {"jwksuri": "https://n/jwks"}},
    ]}
    downloader = client(parent.url)
    document = await downloader.download()
    assert document["security_settings"]["auth_servers"] == [
        {"id": "both", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "https://b", "jwksuri": "https://b/jwks"}}
    ]
    assert any("'cert'" in w and "no JWKS URI" in w for w in downloader.warnings)
    assert any("'both'" in w and "certificate" in w for w in downloader.warnings)
    assert any("'no-issuer'" in w and "no issuer" in w for w in downloader.warnings)


async def test_skip_unsupported_applies_to_the_parents_archives(parent):
    logged = action("monitorPerformance", v("alertInterval", "1"))
    parent.archives["api-1"] = vendor_archive((api_doc("Logged", "1.0", id="api-1"), [routing("http://127.0.0.1:9/${sys:resource_path}"), logged]))
    parent.answers["apis"] = {"apiResponse": [{"api": {"apiName": "Logged", "apiVersion": "1.0", "id": "api-1"}}]}
    with pytest.raises(DownloadError, match="monitorPerformance"):
        await client(parent.url).download()
    downloader = client(parent.url, skip_unsupported=True)
    document = await downloader.download()
    assert [a["name"] for a in document["apis"]] == ["Logged"]
    assert any("monitorPerformance" in w for w in downloader.warnings)


async def test_parent_keys_are_kept_when_the_parent_has_a_base_path(parent):
    parent.prefix = "/gw"
    jwks = f"{parent.url}/rest/pub/apigateway/jwt/certs"
    parent.answers["alias"] = {"alias": [{"id": "local", "type": "authServerAlias", "localIntrospectionConfig": {"issuer": "p", "jwksuri": jwks}}]}
    parent.extra["/rest/pub/apigateway/jwt/certs"] = {"keys": [{"kty": "oct", "k": "AAAA"}]}
    document = await client(parent.url + "/rest/apigateway").download()
    assert document["security_settings"]["auth_servers"][0]["jwks_inline"] == {"keys": [{"kty": "oct", "k": "AAAA"}]}
