"""Layered files, {encoded} before validation, environment paths and types, overlays (rewrites,
auth servers replaced by issuer, files not re-read) and the cross-checks of the loader."""

from __future__ import annotations


import pytest

from microgw.config.errors import ConfigError
from support.configs import load_settings

HASH_OK = "scrypt$15$8$1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43


from support.configs import problems, write  # noqa: E402


def load(tmp_path, text: str, **kwargs):
    return load_settings([write(tmp_path, "c.yml", text)], environ=kwargs.pop("environ", {}), **kwargs)


def refused(tmp_path, text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, text, **kwargs)
    return problems(exc)


# --- files layered ----------------------------------------------------------------------------

def test_a_file_may_override_part_of_a_mapping(tmp_path):
    a = write(tmp_path, "a.yml", "admin: {user: admin, password: '{encoded}bWFuYWdl'}\nkey_store: {location: cert.pem, password: old}\n")
    b = write(tmp_path, "b.yml", "admin:\n  password: '{encoded}c2VjcmV0'\nkey_store:\n  password: new\n")
    settings = load_settings([a, b], environ={}).settings
    assert (settings.admin.user, settings.admin.password) == ("admin", "secret")
    assert settings.key_store.password == "new"
    with pytest.raises(ConfigError) as exc:  # alone, b.yml misses what a.yml gave
        load_settings([b], environ={})
    assert problems(exc) == [f"{b}:1 at admin: 'user' is a required property", f"{b}:3 at key_store: 'location' is a required property"]


def test_a_wrong_value_in_an_overridden_file_is_still_reported(tmp_path):
    a = write(tmp_path, "a.yml", "ports: {http: 1}\ntypo: 1\n")
    b = write(tmp_path, "b.yml", "ports: {http: 2}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([a, b], environ={})
    assert problems(exc) == [f"{a}:2 at typo: unknown key 'typo'"]


def test_a_key_written_twice_is_an_error(tmp_path):
    found = refused(tmp_path, "ports:\n  http: 4999\napis: []\nports:\n  http: 5000\n")
    assert found == [f"{tmp_path / 'c.yml'}:4: key 'ports' is written twice in one mapping (first on line 1)"]
    found = refused(tmp_path, "ports: {http: 1, http: 2}\n")
    assert "key 'http' is written twice" in found[0]


# --- {encoded} -----------------------------------------------------------------------------------

def test_encoded_values_are_validated_decoded(tmp_path):
    found = refused(tmp_path, "admin: {user: a, password: '{encoded}'}\nextended_settings: {apiKeyHeader: '{encoded}'}\n")
    path = tmp_path / "c.yml"
    assert found == [
        f"{path}:1 at admin.password: invalid value (not shown, it is a secret): expected minLength 1",
        f"{path}:2 at extended_settings.apiKeyHeader: '' should be non-empty",
    ]


def test_bad_encoded_value_in_the_environment_names_the_variable(tmp_path):
    found = refused(tmp_path, "ports: {http: 1}\n", environ={"mcgw_api_gateway_password": "{encoded}@@"})
    assert found == ["environment variable mcgw_api_gateway_password at api_gateway.password: an {encoded} value must be base64 of UTF-8 text"]


def test_encoded_command_line_value_is_decoded(tmp_path):
    settings = load(tmp_path, "ports: {http: 1}\n", overrides={"api_gateway": {"url": "h:1", "password": "{encoded}bWFuYWdl"}}).settings
    assert settings.parent.password == "manage"


# --- environment -----------------------------------------------------------------------------

def test_environment_reaches_issuer_and_security_settings(tmp_path):
    settings = load(tmp_path, "ports: {http: 1}\n", environ={
        "mcgw_issuer_issuer": "https://gw.example", "mcgw_issuer_https_only": "false", "mcgw_security_settings_clock_skew": "30",
    }).settings
    assert settings.issuer.issuer == "https://gw.example" and settings.issuer.https_only is False
    assert settings.security.clock_skew == 30


def test_environment_value_types(tmp_path):
    loaded = load(tmp_path, "ports: {http: 1, https: 2}\nkey_store: {location: k.pem}\n", environ={
        "mcgw_key_store_password": "1234",  # ["string", "null"]: stays text
        "mcgw_ports_http": "null",  # nullable: turned off
        "mcgw_extended_settings_pg_JWT_isHTTPS": "false",
        "mcgw_extended_settings_someVendorSetting": "x",  # free names of the vendor
    })
    settings = loaded.settings
    assert settings.key_store.password == "1234"
    assert settings.server.http_port is None
    assert settings.extended_settings["pg_JWT_isHTTPS"] == "false"  # text from the environment, read as false by the issuer
    assert settings.extended_settings["someVendorSetting"] == "x"
    assert loaded.warnings == ()


# --- overlays ------------------------------------------------------------------------------------

def test_endpoint_rewrites_of_the_settings_being_loaded_apply_to_overlay_apis_only(tmp_path):
    path = write(tmp_path, "c.yml", "endpoint_rewrites: {'https://prod.example.com': 'http://127.0.0.1:1'}\napis: [{name: own, version: '1', endpoint: 'https://prod.example.com/own'}]\n")
    overlay = ("parent gateway x", {"apis": [{"name": "p", "version": "1", "endpoint": "https://prod.example.com/p"}]})
    settings = load_settings([path], environ={}, overlays=[overlay]).settings
    assert {a.name: a.endpoint for a in settings.apis} == {"own": "https://prod.example.com/own", "p": "http://127.0.0.1:1/p"}
    assert overlay[1]["apis"][0]["endpoint"] == "https://prod.example.com/p"  # the caller's document is not changed


def test_downloaded_auth_server_replaces_the_yaml_server_of_the_same_issuer(tmp_path):
    path = write(tmp_path, "c.yml", """
security_settings:
  auth_servers:
    - {id: central, localIntrospectionConfig: {issuer: parent-iss, jwksuri: 'http://p/jwks'}}
apis: [{name: a, version: '1', mock: {}, policies: {jwt: {auth_servers: [central]}}}]
""")
    downloaded = {"security_settings": {"auth_servers": [{"id": "parent-local", "localIntrospectionConfig": {"issuer": "parent-iss", "jwksuri": "http://p/rest/pub/apigateway/jwt/certs"}}]}}
    loaded = load_settings([path], environ={}, overlays=[("parent gateway p", downloaded)])
    assert [s.id for s in loaded.settings.security.auth_servers] == ["parent-local"]
    assert loaded.settings.apis[0].policies["jwt"].auth_servers == ("parent-local",)
    assert any("overrides security_settings.auth_servers item central with parent-local" in w for w in loaded.warnings)


def test_given_file_sources_are_not_read_again(tmp_path):
    path = write(tmp_path, "c.yml", "apis: [{name: a, version: '1', mock: {}}]\n")
    first = load_settings([path], environ={})
    path.write_text("apis: [{name: a, version: '1'\n")  # someone is still editing
    again = load_settings([path], environ={}, files=first.files, overlays=[("parent", {"apis": [{"name": "b", "version": "1", "mock": {}}]})])
    assert [a.name for a in again.settings.apis] == ["a", "b"]
    with pytest.raises(ConfigError):
        load_settings([path], environ={})


# --- cross-checks ----------------------------------------------------------------------------

def test_references_the_parent_may_resolve_are_warnings_while_downloading(tmp_path):
    text = """
api_gateway: {url: 'http://127.0.0.1:1', download_settings: true}
apis:
  - name: a
    version: '1'
    mock: {}
    policies:
      jwt: {auth_servers: [parent-local]}
      identify: {rules: [apiKey], lookup: relax, default_application: orders-app}
applications:
  - {id: x, strategies: [{id: s, type: JWT_HSA, secret: eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=, audience: a, authServerAlias: parent-local}]}
"""
    loaded = load(tmp_path, text)
    assert sum("it may come from the parent gateway" in w for w in loaded.warnings) == 3
    found = refused(tmp_path, text.replace("download_settings: true", "download_settings: false"))
    assert len(found) == 3 and any("no auth server with id 'parent-local'" in p for p in found)


def test_duplicate_api_ids_are_refused(tmp_path):
    found = refused(tmp_path, "apis:\n  - {name: a, version: '1', id: same, mock: {}}\n  - {name: b, version: '1', id: same, mock: {}}\n")
    assert found == [f"{tmp_path / 'c.yml'}:3 at apis[1].id: API id 'same' is already used by API a version 1"]


def test_hmac_strategy_must_name_an_existing_auth_server_by_id_or_name(tmp_path):
    app = "applications:\n  - {id: app, strategies: [{id: s1, type: JWT_HSA, secret: eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=, audience: a, authServerAlias: %s}]}\n"
    found = refused(tmp_path, "issuer: {issuer: me}\n" + app % "oauth")
    assert found == [f"{tmp_path / 'c.yml'}:3 at applications[0].strategies[0].authServerAlias: no auth server with id or name 'oauth'; the strategy's secret would verify nothing"]
    servers = "security_settings:\n  auth_servers:\n    - {id: a1, name: OAuth Server, localIntrospectionConfig: {issuer: https://o}}\n"
    settings = load(tmp_path, servers + app % "'OAuth Server'").settings  # by name, as the vendor writes it
    from microgw.runtime import build_runtime

    server = build_runtime(settings).services.validator.server_for_issuer("https://o")
    assert [s.description for s in server.key_sources] == ["application:app"]


def test_auth_server_with_keys_but_no_issuer_is_a_config_problem(tmp_path):
    found = refused(tmp_path, "security_settings:\n  auth_servers:\n    - {id: x, localIntrospectionConfig: {jwksuri: 'http://127.0.0.1:1/jwks'}}\n")
    assert found == [f"{tmp_path / 'c.yml'}:3 at security_settings.auth_servers[0].localIntrospectionConfig: auth server 'x' has keys but no issuer; tokens are matched to servers by `iss`"]


def test_admin_password_hash_format_is_checked(tmp_path):
    found = refused(tmp_path, "admin: {user: a, password: 'scrypt$15$8$1$bad'}\n")
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'c.yml'}:1 at admin.password: expected scrypt$")


@pytest.mark.parametrize("url", ["ftp://central:5555", "http://", "http://:80/x"])
def test_parent_url_is_validated(tmp_path, url):
    found = refused(tmp_path, f"api_gateway: {{url: '{url}', download_settings: true}}\n")
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'c.yml'}:1 at api_gateway.url: not a parent gateway URL")


def test_clock_skew_of_an_auth_server_is_a_number_reported_at_its_path(tmp_path):
    text = "security_settings:\n  auth_servers:\n    - id: a\n      localIntrospectionConfig: {issuer: x, useLocalClockSkew: true, description: %s}\n"
    found = refused(tmp_path, text % "abc")
    assert found == [f"{tmp_path / 'c.yml'}:4 at security_settings.auth_servers[0].localIntrospectionConfig.description: localIntrospectionConfig.description holds the clock skew (the vendor's naming): a whole number of seconds"]
    assert load(tmp_path, text % "'120'").settings.security.auth_servers[0].clock_skew == 120


def test_remote_introspection_is_read_with_its_tuning(tmp_path):
    loaded = load(tmp_path, """
security_settings:
  auth_servers:
    - id: remote
      localIntrospectionConfig: {issuer: https://is.example}
      remoteIntrospectionConfig: {introspectionEndpoint: 'http://127.0.0.1:7777/introspect', clientId: c, clientSecret: s}
      introspection: {timeout: 0.5, tokens: all}
apis: [{name: a, version: '1', mock: {}, policies: {oauth2: {auth_servers: [remote]}}}]
""")
    assert loaded.warnings == ()
    introspection = loaded.settings.security.auth_servers[0].introspection
    assert (introspection.endpoint, introspection.client_id, introspection.client_secret) == ("http://127.0.0.1:7777/introspect", "c", "s")
    assert (introspection.tuning.timeout, introspection.tuning.tokens, introspection.tuning.cache_ttl) == (0.5, "all", 300.0)
    assert "clientSecret" not in repr(introspection) and "client_secret" not in repr(introspection)


def test_a_server_replaced_by_one_of_the_same_issuer_is_renamed_in_oauth2(tmp_path):
    """An archive's (or a parent's) auth server of the same issuer replaces a configured one; the
    oauth2 policies that named the old id follow, as jwt's do."""
    from microgw.config.sources import overlay

    base = {
        "security_settings": {"auth_servers": [{"id": "mine", "localIntrospectionConfig": {"issuer": "https://kc"}}]},
        "apis": [{"name": "a", "version": "1", "policies": {"oauth2": {"auth_servers": ["mine"]}, "jwt": {"auth_servers": ["mine"]}}}],
    }
    top = {"security_settings": {"auth_servers": [{"id": "theirs", "localIntrospectionConfig": {"issuer": "https://kc"}}]}}
    notes: list = []
    merged = overlay(base, top, "download", notes)
    policies = merged["apis"][0]["policies"]
    assert policies["oauth2"]["auth_servers"] == ["theirs"] and policies["jwt"]["auth_servers"] == ["theirs"]
    assert any("references to mine now name theirs" in n for n in notes)


def test_merging_leaves_every_source_as_it_was(tmp_path):
    """The merged settings share what one source alone wrote with its document (no second copy of
    10,000 applications), so a merge must build new items where it changes them: the next download
    is applied over the same documents."""
    import copy

    from microgw.config.sources import overlay

    base = {
        "security_settings": {"auth_servers": [{"id": "mine", "localIntrospectionConfig": {"issuer": "https://kc"}}], "x": 1},
        "apis": [{"name": "a", "version": "1", "policies": {"oauth2": {"auth_servers": ["mine"]}, "jwt": {"auth_servers": ["mine"]}}}],
        "applications": [{"id": "app", "strategies": [{"id": "s", "type": "JWT_HSA", "authServerAlias": "mine"}]}],
    }
    top = {"security_settings": {"auth_servers": [{"id": "theirs", "localIntrospectionConfig": {"issuer": "https://kc"}}]}}
    before, top_before = copy.deepcopy(base), copy.deepcopy(top)
    merged = overlay(base, top, "download", [])
    assert merged["apis"][0]["policies"]["jwt"]["auth_servers"] == ["theirs"]
    assert merged["applications"][0]["strategies"][0]["authServerAlias"] == "theirs"
    assert [s["id"] for s in merged["security_settings"]["auth_servers"]] == ["theirs"] and merged["security_settings"]["x"] == 1
    assert base == before and top == top_before


def test_a_download_over_reused_files_leaves_them_as_they_were(tmp_path):
    import copy

    path = write(tmp_path, "c.yml", """
ports: {http: 0}
security_settings:
  auth_servers:
    - id: mine
      localIntrospectionConfig: {issuer: 'https://kc', jwksuri: 'https://kc/jwks'}
apis: [{name: a, version: '1', mock: {}, policies: {jwt: {auth_servers: [mine]}}}]
applications: [{id: app, name: App, api_keys: [k1], apis: [a]}]
""")
    first = load_settings([path], environ={})
    written = copy.deepcopy(first.files[0].document)
    parent = {
        "security_settings": {"auth_servers": [{"id": "theirs", "localIntrospectionConfig": {"issuer": "https://kc", "jwksuri": "https://kc/jwks"}}]},
        "applications": [{"id": "app", "name": "App 2", "api_keys": ["k2"], "apis": ["a"]}],
    }
    second = load_settings([path], environ={}, overlays=[("parent", parent)], files=first.files)
    assert second.settings.apis[0].policies["jwt"].auth_servers == ("theirs",)
    assert [a.name for a in second.settings.applications] == ["App 2"]
    assert first.files[0].document == written
    assert [a.name for a in first.settings.applications] == ["App"] and first.settings.raw["applications"][0]["name"] == "App"
