"""Whole archives in the vendor's layout: aliases, applications, strategies, registrations, masked
secrets, empty scopes, skipping that must fail closed, names with spaces (issue 10)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from microgw.startup import Assembly
from microgw.sync.archive import build_archive, load_archive
from support.vendor_archive import action, api_doc, g, identify, outbound, routing, scoped_archive, v, vendor_archive

MASK = "********"


def app_doc(ident: str, name: str, **fields) -> dict:
    """An application as the vendor's export writes it (Application/Application.<id>/Application.<id>)."""
    return {"id": ident, "name": name, "description": "", "version": "1.0", "contactEmails": [], "identifiers": [], "isSuspended": False, **fields}


def masked_app(ident: str = "app-masked") -> dict:
    return app_doc(ident, "Masked", accessTokens={"apiAccessKey_credentials": {"apiAccessKey": MASK, "expired": False}})


def named_key_app(ident: str = "app-named", key: str = "k-named-123") -> dict:
    return app_doc(ident, "Named", identifiers=[{"key": "apiKey", "name": "keys", "namedValues": [{"name": "primary", "values": [key]}]}])


def check(tmp_path: Path, archive: bytes, config: dict | None = None, *, skip: bool = False, environ: dict | None = None):
    """``microgw check`` in process: the YAML, the archive over it, the runtime built."""
    (tmp_path / "a.zip").write_bytes(archive)
    (tmp_path / "c.yml").write_text(yaml.safe_dump(config or {"ports": {"http": 0}}))
    overrides: dict = {"archive_file": [str(tmp_path / "a.zip")]}
    if skip:
        overrides["archive_skip_unsupported"] = True
    return Assembly([tmp_path / "c.yml"], overrides=overrides, environ=environ or {}).check()


def test_aliases_applications_strategies_and_registrations_are_read():
    hmac = {"id": "strat-1", "name": "HS", "type": "JWT_HSA", "audience": "aud", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="}
    data = vendor_archive(
        (api_doc("Pets", "1.0", id="api-pets"), [routing("${petsHost}/${sys:resource_path}"), identify(("apiKey", "strict"))]),
        registrations={0: ["app-named", "app-ghost"]},
        assets_of={
            "Alias": [
                {"id": "alias-1", "name": "petsHost", "type": "simple", "value": "http://pets.internal", "owner": "Administrator"},
                {"id": "alias-2", "name": "orders", "type": "endpoint", "endPointURI": "http://orders.internal/v1", "connectionTimeout": 7, "readTimeout": 0},
                {"id": "alias-3", "name": "creds", "type": "httpTransportSecurityAlias"},
            ],
            "Application": [{**named_key_app(), "authStrategyIds": ["strat-1"]}],
            "Strategy": [hmac],
        },
    )
    content = load_archive(data)
    assert content.apis[0]["endpoint"] == "${petsHost}/${sys:resource_path}"
    assert content.aliases == {
        "petsHost": {"type": "simple", "value": "http://pets.internal"},
        "orders": {"type": "endpoint", "endPointURI": "http://orders.internal/v1", "connectionTimeout": 7},
    }
    (app,) = content.applications
    assert app["apiIDs"] == ["api-pets"]
    assert app["strategies"] == [hmac] and "authStrategyIds" not in app
    assert any("'app-ghost'" in w and "not in the archive" in w for w in content.warnings)


def test_an_archive_of_applications_only_loads_them(tmp_path):
    data = vendor_archive(assets_of={"Application": [named_key_app()]})
    content = load_archive(data)
    assert content.apis == [] and [a["id"] for a in content.applications] == ["app-named"]
    assert not any("holds no API" in w for w in content.warnings)
    loaded = check(tmp_path, data)
    (app,) = loaded.settings.applications
    assert app.id == "app-named" and app.api_keys == frozenset({"k-named-123"})


def test_a_masked_api_key_is_never_a_credential(tmp_path):
    data = vendor_archive(assets_of={"Application": [masked_app()]})
    content = load_archive(data)
    assert any("masked" in w and "no PassmanData" in w for w in content.warnings)
    loaded = check(tmp_path, data)
    (app,) = loaded.settings.applications
    assert app.api_keys == frozenset()  # "********" identifies nobody
    warning = next(w for w in loaded.warnings if "masked" in w)
    assert "'Masked'" in warning and "app-masked" in warning and "vendor_secrets.app-masked" in warning


def test_the_real_secret_comes_from_the_yaml_or_the_environment_by_id(tmp_path):
    data = vendor_archive(assets_of={"Application": [masked_app()]})
    from_yaml = check(tmp_path, data, {"ports": {"http": 0}, "vendor_secrets": {"app-masked": "real-key-1"}})
    assert from_yaml.settings.applications[0].api_keys == frozenset({"real-key-1"})
    from_env = check(tmp_path, data, environ={"mcgw_vendor_secrets_app-masked": "real-key-2"})
    assert from_env.settings.applications[0].api_keys == frozenset({"real-key-2"})
    assert not any("masked" in w and "app-masked" in w for w in from_env.warnings)


def test_a_masked_hmac_secret_verifies_nothing(tmp_path):
    strategy = {"id": "strat-m", "name": "HS", "type": "JWT_HSA", "audience": "aud", "secret": MASK}
    data = vendor_archive(assets_of={"Application": [{**named_key_app(), "authStrategyIds": ["strat-m"]}], "Strategy": [strategy]})
    loaded = check(tmp_path, data)
    assert loaded.settings.applications[0].strategies == ()
    assert any("strat-m" in w and "masked" in w for w in loaded.warnings)


def test_aliases_of_the_archive_fill_endpoints_and_the_yaml_wins(tmp_path):
    data = vendor_archive(
        (api_doc("Pets", "1.0", id="api-pets"), [routing("${petsHost}/${sys:resource_path}")]),
        (api_doc("Orders", "1.0", id="api-orders"), [routing("${orders}/all")]),
        assets_of={"Alias": [
            {"id": "a1", "name": "petsHost", "type": "simple", "value": "http://prod-pets.example.com"},
            {"id": "a2", "name": "orders", "type": "endpoint", "endPointURI": "http://orders.internal/v1", "connectionTimeout": 7},
        ]},
    )
    loaded = check(tmp_path, data, {"ports": {"http": 0}, "aliases": {"petsHost": {"type": "simple", "value": "http://127.0.0.1:9"}}})
    apis = {a.name: a for a in loaded.settings.apis}
    assert apis["Pets"].endpoint == "http://127.0.0.1:9/${sys:resource_path}"
    assert apis["Orders"].endpoint == "http://orders.internal/v1/all"
    assert apis["Orders"].append_resource is False and apis["Orders"].connect_timeout == 7


def test_empty_scope_policies_are_ignored():
    data = vendor_archive((api_doc(), [routing()]), scopes={0: {"read": [], "write": []}})
    content = load_archive(data)
    assert content.apis[0]["name"] == "Petstore"
    assert not any("scope" in w for w in content.warnings)


def test_an_iam_policy_in_a_scope_is_not_skipped_into_an_open_api():
    auth = action("inboundAuthTransport", v("authType", "KERBEROS"), name="Inbound Authentication - Transport")
    data = vendor_archive((api_doc(), [routing()]), scopes={0: {"admin": [auth]}})
    content = load_archive(data, skip_unsupported=True)
    assert content.apis == []
    assert any("scope 'admin'" in w and "template 'inboundAuthTransport'" in w for w in content.warnings)


def test_skip_that_would_open_an_api_does_not_load_it_but_keeps_the_others(tmp_path):
    guarded = (api_doc("Guarded", "1.0", id="api-g"), [routing(), identify(("apiKey", "strict"), ("payloadElement", "strict"), connector="AND")])
    narrowed = (api_doc("Narrowed", "1.0", id="api-n"), [routing(), identify(("apiKey", "strict"), ("payloadElement", "strict"), connector="OR")])
    custom_auth = (api_doc("Custom", "1.0", id="api-c"), [routing(), action("customAuthPolicy", name="My Auth", stage="IAM")])
    logged = (api_doc("Logged", "1.0", id="api-l"), [routing(), action("monitorPerformance", name="Monitor Performance")])
    content = load_archive(vendor_archive(guarded, narrowed, custom_auth, logged), skip_unsupported=True)
    assert sorted(a["name"] for a in content.apis) == ["Logged", "Narrowed"]
    narrowed_api = next(a for a in content.apis if a["name"] == "Narrowed")
    assert narrowed_api["policies"]["identify"]["rules"] == ["apiKey"]  # OR without a rule: fewer callers, not more
    for name, template in (("Guarded", "evaluatePolicy"), ("Custom", "customAuthPolicy")):
        assert any(f"'{name}'" in w and template in w and "cannot be skipped" in w for w in content.warnings), name
        assert any(f"'{name}'" in w and "not loaded" in w for w in content.warnings), name


def test_names_with_spaces_are_loaded_as_the_vendor_allows(tmp_path):
    data = vendor_archive((api_doc("Pet Store (EU)", "1.0 beta", id="api-eu"), [routing("http://127.0.0.1:9/${sys:resource_path}")]))
    loaded = check(tmp_path, data)
    (api,) = loaded.settings.apis
    assert (api.name, api.version, api.id) == ("Pet Store (EU)", "1.0 beta", "api-eu")


def test_inactive_apis_are_loaded_as_inactive(tmp_path):
    data = vendor_archive((api_doc("Old", "1.0", isActive=False), [routing("http://127.0.0.1:9/${sys:resource_path}")]))
    loaded = check(tmp_path, data)
    assert [(a.name, a.active) for a in loaded.settings.apis] == [("Old", False)]


def test_a_masked_outbound_password_takes_the_real_one_by_action_id():
    masked = base64.b64encode(b"********").decode()
    basic = outbound(v("authType", "HTTP_BASIC"), v("authMode", "NEW"), g("httpAuthCredentials", v("userName", "svc"), v("password", masked)))
    data = vendor_archive((api_doc(), [routing(), basic]))
    content = load_archive(data)
    assert any("vendor_secrets.action-0-1" in w for w in content.warnings)
    content = load_archive(data, secrets={"action-0-1": "the-real-password"})
    assert content.apis[0]["policies"]["outbound"]["basic"] == {"user": "svc", "password": "the-real-password"}
    assert not any("the-real-password" in w for w in content.warnings)


def test_an_endpoint_called_as_written_survives_export_and_import():
    api = {"name": "Fixed One", "version": "1.0", "endpoint": "http://native:8080/one/fixed/url", "append_resource": False}
    (back,) = load_archive(build_archive([api])).apis
    assert back == api


def test_scope_policies_map_to_the_scopes_policy():
    (api,) = load_archive(scoped_archive()).apis
    admin, writers = api["policies"]["scopes"]
    assert (admin["name"], admin["resources"], "methods" in admin) == ("Admin", ["/admin"], False)
    assert admin["policies"]["identify"]["rules"] == ["apiKey"]
    assert (writers["name"], writers["resources"], writers["methods"]) == ("Writers", ["/pets"], ["POST"])
    assert writers["policies"]["identify"]["rules"] == ["httpBasicAuth"]
    assert "identify" not in api["policies"]  # the API itself stays open; only the scopes are guarded
