"""Configuration loading: merging, tags, env overrides, {encoded}, relative paths, and clear errors."""

from __future__ import annotations


import pytest

from microgw.config.errors import ConfigError
from support.configs import load_settings


from support.configs import problems, write  # noqa: E402


def test_defaults_and_vendor_sample(tmp_path):
    path = write(
        tmp_path,
        "c.yml",
        """
ports:
  http: 4485
  https: 7749
key_store:
  type: PEM
  location: keys/server.pem
api_gateway:
  url: "http://localhost:5555"
  user: "Administrator"
  password: "{encoded}bWFuYWdl"
  dir: "C:/Installations"
  download_settings: true
""",
    )
    settings = load_settings([path], environ={}).settings
    assert settings.server.http_port == 4485
    assert settings.server.https_port == 7749
    assert settings.raw["api_gateway"]["password"] == "manage"
    # relative paths resolve against the file's folder, not the working directory
    assert settings.key_store.location == str(tmp_path / "keys" / "server.pem")
    assert settings.api_key_header == "x-Gateway-APIKey"


def test_all_errors_at_once_with_file_path_and_line(tmp_path):
    path = write(
        tmp_path,
        "bad.yml",
        """ports:
  http: not-a-port
apis:
  - name: ok
    version: "1.0"
    mock: {}
  - name: broken
    version: "1.0"
    endpoint: ftp://example.com
  - name: both
    version: "1.0"
    endpoint: http://example.com
    mock: {}
typo_section: 1
""",
    )
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    found = problems(exc)
    assert f"{path}:2 at ports.http: 'not-a-port' is not a port number (quoted or not), or null to turn it off" in found
    assert any(p.startswith(f"{path}:9 at apis[1].endpoint:") for p in found)
    assert any(p.startswith(f"{path}:10 at apis[2]:") and "exactly one of endpoint" in p for p in found)
    assert any("typo_section" in p for p in found)
    assert len(found) == 4


def test_later_files_override_earlier_and_lists_replace(tmp_path):
    base = write(tmp_path, "a.yml", "ports: {http: 1000}\nlogging: {level: debug}\napis: [{name: a, version: '1', mock: {}}]\n")
    over = write(tmp_path, "b.yml", "ports: {http: 2000}\napis: [{name: b, version: '2', mock: {}}]\n")
    settings = load_settings([base, over], environ={}).settings
    assert settings.server.http_port == 2000
    assert settings.log_level == "DEBUG"
    assert [api.name for api in settings.apis] == ["b"]


def test_multiple_documents_and_vendor_tags(tmp_path):
    path = write(
        tmp_path,
        "multi.yml",
        """ports: {http: 4000}
---
apis:
  - name: hello
    version: 1.10
    mock: {}
""",
    )
    settings = load_settings([path], environ={}).settings
    assert settings.server.http_port == 4000
    assert settings.apis[0].version == "1.10"  # written text, not the float 1.1


def test_unknown_tag_is_an_error_with_line(tmp_path):
    path = write(tmp_path, "t.yml", "ports: {http: 1}\nthing: !<mystery>\n  a: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert problems(exc) == [f"{path}:2: unknown YAML tag '!<mystery>'"]


def test_tag_conflicting_with_type(tmp_path):
    path = write(tmp_path, "t.yml", "x:\n  - !<authServerAlias>\n    type: other\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert "says type 'authServerAlias' but the item says type 'other'" in problems(exc)[0]


def test_environment_overrides_files(tmp_path):
    path = write(tmp_path, "c.yml", "ports: {http: 4485}\nextended_settings: {apiKeyHeader: X-A}\n")
    loaded = load_settings(
        [path],
        environ={
            "mcgw_ports_http": "9090",
            "mcgw_api_gateway_url": "http://central:5555/rest/apigateway",
            "mcgw_api_gateway_password": "{encoded}bWFuYWdl",
            "mcgw_extended_settings_apiKeyHeader": "X-B",
            "mcgw_downloads_apis": "Petstore, Orders",
            "mcgw_no_such_thing": "1",
            "OTHER": "ignored",
        },
    )
    settings = loaded.settings
    assert settings.server.http_port == 9090
    assert settings.raw["api_gateway"] == {"url": "http://central:5555/rest/apigateway", "password": "manage"}
    assert settings.api_key_header == "X-B"
    assert settings.raw["downloads"]["apis"] == ["Petstore", "Orders"]
    assert loaded.warnings == ("environment variable mcgw_no_such_thing names no setting; ignored",)


def test_command_line_beats_environment(tmp_path):
    path = write(tmp_path, "c.yml", "ports: {http: 1}\n")
    settings = load_settings([path], environ={"mcgw_ports_http": "2"}, overrides={"ports": {"http": 3}}).settings
    assert settings.server.http_port == 3


def test_bad_environment_value_names_the_variable(tmp_path):
    path = write(tmp_path, "c.yml", "ports: {http: 1}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={"mcgw_ports_http": "eighty"})
    assert problems(exc) == ["environment variable mcgw_ports_http at ports.http: 'eighty' is not a port number (quoted or not), or null to turn it off"]


def test_secret_values_never_appear_in_errors(tmp_path):
    path = write(tmp_path, "c.yml", "admin: {user: a, password: 123456}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert "123456" not in str(exc.value)
    assert "admin.password" in str(exc.value)


def test_bad_encoded_secret(tmp_path):
    path = write(tmp_path, "c.yml", "api_gateway: {password: '{encoded}@@@'}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert problems(exc) == [f"{path}:1 at api_gateway.password: an {{encoded}} value must be base64 of UTF-8 text"]


def test_semantic_errors(tmp_path):
    path = write(
        tmp_path,
        "c.yml",
        "ports: {http: 80, https: 443}\napis:\n  - {name: a, version: '1', mock: {}}\n  - {name: a, version: '1', mock: {}}\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    found = problems(exc)
    assert f"{path}:1 at ports.https: an HTTPS port needs key_store (certificate and key)" in found
    assert f"{path}:4 at apis[1]: API a version 1 is defined twice" in found


def test_missing_file_and_broken_yaml(tmp_path):
    broken = write(tmp_path, "broken.yml", "ports:\n  http: [\n")
    with pytest.raises(ConfigError) as exc:
        load_settings([tmp_path / "missing.yml", broken], environ={})
    found = problems(exc)
    assert found[0] == f"{tmp_path / 'missing.yml'}: file not found"
    assert found[1].startswith(f"{broken}:3: invalid YAML")


def test_a_problem_found_after_the_load_names_the_file_line_and_path(tmp_path):
    """A running gateway keeps no line map: the line is found in the text it loaded, also after a
    message found one before (its node tree released) and after the file changed on disk."""
    from microgw.config.errors import ConfigProblem
    from microgw.startup import locate

    path = write(tmp_path, "c.yml", "ports:\n  http: 0\napis:\n  - name: a\n    version: '1'\n    mock: {json: {}}\n")
    loaded = load_settings([path], environ={})
    path.write_text("# changed since\n\n\n\n\n\n\n")
    for _ in range(2):
        found = locate(ConfigError([ConfigProblem("configuration", "apis[0].version", "not this one")]), loaded)
        assert [str(p) for p in found.problems] == [f"{path}:5 at apis[0].version: not this one"]
