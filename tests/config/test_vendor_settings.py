"""The vendor Microgateway's settings as users write them (issue 10): what maps is used, what has no
effect is accepted and reported once, by name."""

from __future__ import annotations

import pytest

from microgw.cli import _overrides, build_parser
from microgw.config.errors import ConfigError
from microgw.config.loader import load_settings
from microgw.policies.registry import CATALOG

CUSTOM_SETTINGS = """\
ports:
  http: "9090"
  https: "9443"
  key_alias: "gateway-key"
key_store:
  type: PEM
  location: certs/server.pem
api_gateway:
  url: "http://apigw.example.com:5555"
  user: "Administrator"
  password: "{encoded}bWFuYWdl"
applications_sync:
  enabled: false
  applications_to_sync: ["Mobile App", "Partner"]
polling_interval_secs: "10"
admin_api:
  admin_user: "ops"
  admin_password: "{encoded}c2VjcmV0"
api_endpoint:
  base_path: "/gateway"
gateway_destination:
  url: "http://apigw.example.com:5555"
es_destination:
  url: "http://elastic:9200"
faults:
  default_error_message: "Something went wrong at ${SYS:GATEWAY}"
logging:
  level: "INFO"
  path: "/var/log/microgateway"
downloads:
  apis: "Pet Store,Orders"
  policies: ["Transaction logging"]
microgatewayPool:
  microgatewayPoolName: "edge"
  microgatewayPoolDescription: "edge pool"
security_settings:
  providers:
    - !<clientMetadataMapping>
      id: "OKTA"
      name: "OKTA"
      type: "clientMetadataMapping"
      providerName: "OKTA"
      implNames: {}
"""


def load(tmp_path, text: str, environ: dict | None = None):
    (tmp_path / "certs").mkdir(exist_ok=True)
    path = tmp_path / "custom-settings.yml"
    path.write_text(text)
    return load_settings([path], policies=CATALOG, environ=environ or {})


def test_custom_settings_as_users_write_them_load(tmp_path):
    loaded = load(tmp_path, CUSTOM_SETTINGS)
    settings = loaded.settings
    assert (settings.server.http_port, settings.server.https_port) == (9090, 9443)  # quoted numbers
    assert settings.key_store.key_alias == "gateway-key"  # ports.key_alias
    assert settings.admin.user == "ops" and settings.admin.password == "secret"  # admin_api
    assert settings.parent.applications is False  # applications_sync.enabled
    assert settings.parent.polling_interval == 10.0
    assert settings.parent.apis == ("Pet Store", "Orders")
    reported = "\n".join(loaded.warnings)
    for name in ("gateway_destination", "es_destination", "faults", "logging.path", "applications_sync.applications_to_sync",
                 "downloads.policies", "security_settings.providers"):
        assert name in reported, name
    assert "api_endpoint" not in reported  # /gateway is what microgw serves
    assert sum("es_destination" in w for w in loaded.warnings) == 1  # once
    assert "c2VjcmV0" not in reported and "secret" not in reported.replace("secrets", "")


def test_a_base_path_microgw_cannot_serve_is_reported(tmp_path):
    loaded = load(tmp_path, "api_endpoint:\n  base_path: /apis\n")
    assert any("api_endpoint.base_path '/apis' has no effect" in w for w in loaded.warnings)


def test_environment_variables_of_the_vendor(tmp_path):
    environ = {"mcgw_ports_http": "9091", "mcgw_applications_sync_enabled": "false", "mcgw_api_gateway_url": "http://gw:5555",
               "mcgw_downloads_applications": "Mobile App,Partner"}
    loaded = load(tmp_path, "logging:\n  level: info\n", environ)
    assert loaded.settings.server.http_port == 9091
    assert loaded.settings.parent.applications is True  # downloads.applications (names) wins over applications_sync
    assert any("downloads.applications names have no effect" in w for w in loaded.warnings)
    loaded = load(tmp_path, "logging:\n  level: info\n", {"mcgw_applications_sync_enabled": "false", "mcgw_api_gateway_url": "http://gw:5555"})
    assert loaded.settings.parent.applications is False


def test_a_quoted_port_must_still_be_a_port(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, 'ports:\n  http: "90x"\n')
    assert "ports.http" in str(raised.value)


def test_the_download_settings_flag():
    args = build_parser().parse_args(["start", "-c", "custom-settings.yml", "-ds"])
    assert _overrides(args)["api_gateway"] == {"download_settings": True}


def test_check_in_process_leaves_the_garbage_collector_as_it_was(tmp_path, capsys):
    """``main`` turns the collector off while the settings load (start-up CPU); a caller's process
    gets it back as it was, also when the settings are refused."""
    import gc

    from microgw.cli import main

    good = tmp_path / "good.yml"
    good.write_text("apis: [{name: a, version: '1', mock: {}}]\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("apis: [{name: a}]\n")
    assert gc.isenabled()
    assert main(["check", "-c", str(good)]) == 0 and gc.isenabled()
    assert main(["check", "-c", str(bad)]) == 2 and gc.isenabled()
    assert "configuration OK" in capsys.readouterr().err
