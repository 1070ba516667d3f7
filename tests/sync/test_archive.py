"""Reading the vendor's asset archives: layout, policy mapping, unsupported policies, zip safety.

Archives are built here in the vendor's layout (as exported by API Gateway 10.x/11.0) with zipfile.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from microgw.config.schema import validate
from microgw.config.urls import repoint
from microgw.sync.archive import ArchiveError, load_archive
from microgw.sync.archive_zip import unsafe_name

from support.vendor_archive import (  # noqa: E402  (shared with the end-to-end tests)
    ROUTING_URI, action, api_doc, g, identify, outbound, protocols, routing, scope, v, vendor_archive, zip_of,
)


def load_one(*actions: dict, **kwargs) -> tuple[dict, list[str]]:
    doc = kwargs.pop("doc", None) or api_doc()
    content = load_archive(vendor_archive((doc, list(actions))), **kwargs)
    assert validate({"apis": content.apis}, "config") == []
    assert len(content.apis) == 1
    return content.apis[0], content.warnings


def problems_of(data: bytes, **kwargs) -> str:
    with pytest.raises(ArchiveError) as caught:
        load_archive(data, **kwargs)
    return str(caught.value)


# --- the mapping of each supported policy ---------------------------------------------------------

def test_routing_gives_endpoint_and_timeouts():
    api, warnings = load_one(protocols("http", "https"), routing(ROUTING_URI, v("connectTimeout", "5"), v("readTimeout", "2.5")))
    assert api == {
        "name": "Petstore",
        "version": "1.0",
        "endpoint": ROUTING_URI,
        "protocols": ["http", "https"],
        "timeouts": {"connect": 5, "read": 2.5},
    }
    assert warnings == []


def test_zero_timeouts_are_the_default_and_native_timeouts_fill_in():
    doc = api_doc(nativeEndpoint=[{"uri": "http://native:8080/base", "connectionTimeoutDuration": 7, "readTimeoutDuration": 0}])
    api, _ = load_one(routing(ROUTING_URI, v("connectTimeout", "0"), v("readTimeout", "12")), doc=doc)
    assert api["timeouts"] == {"connect": 7, "read": 12}


def test_fixed_routing_method_allows_only_that_method_with_a_warning():
    action_ = action("straightThroughRouting", v("endpointUri", ROUTING_URI), v("method", "get"))
    api, warnings = load_one(action_)
    assert api["methods"] == ["GET"]
    assert any("GET" in w and "client's method" in w for w in warnings)


def test_endpoint_without_resource_placeholder_is_called_as_written():
    # the vendor puts the resource only where ${sys:resource_path} stands; without it, the URL as is
    api, _ = load_one(routing("http://native:8080/one/fixed/url"))
    assert api["endpoint"] == "http://native:8080/one/fixed/url"
    assert api["append_resource"] is False


def test_alias_in_endpoint_is_kept_for_the_loader():
    api, _ = load_one(routing("${backend}/v2/${sys:resource_path}"))
    assert api["endpoint"] == "${backend}/v2/${sys:resource_path}"


def test_native_endpoint_is_used_without_routing_policy():
    api, _ = load_one(protocols("https"))
    assert api["endpoint"] == "https://prod.example.com/petstore"
    assert api["protocols"] == ["https"]


@pytest.mark.parametrize("values, expected", [(["https"], ["https"]), (["HTTP", "https", "http"], ["http", "https"])])
def test_entry_protocols(values, expected):
    api, _ = load_one(protocols(*values), routing())
    assert api["protocols"] == expected


def test_identify_with_jwt_claims_only_requires_a_token():
    api, _ = load_one(identify(("jwtClaims", "strict")), routing())
    assert api["policies"] == {
        "identify": {"connector": "OR", "allow_anonymous": False, "rules": ["jwtClaims"], "lookup": "strict"},
        "jwt": {"required": True},
    }


@pytest.mark.parametrize(
    "rules, connector, anonymous, required",
    [
        ([("jwtClaims", "strict"), ("apiKey", "strict")], "OR", "false", False),  # an API key alone may identify
        ([("jwtClaims", "strict"), ("apiKey", "strict")], "AND", "false", True),  # every rule must be presented
        ([("jwtClaims", "open")], "OR", "true", False),  # anonymous callers pass
        ([("jwtClaims", "relax")], "OR", "false", False),  # relax may fall back to the default application
        ([("apiKey", "strict")], "OR", "false", None),  # no token involved
    ],
)
def test_jwt_requirement_follows_identification(rules, connector, anonymous, required):
    api, _ = load_one(identify(*rules, connector=connector, anonymous=anonymous), routing())
    policies = api["policies"]
    assert policies["identify"]["connector"] == connector
    assert policies["identify"]["allow_anonymous"] is (anonymous == "true")
    if required is None:
        assert "jwt" not in policies
    else:
        assert policies["jwt"] == {"required": required}


def test_identify_rules_with_different_lookups_and_vendor_casing():
    rules = [("apiKey", "STRICT"), ("HTTPBASICAUTH", "open"), ("ipAddressRange", "relax"), ("hostNameAddress", "strict")]
    api, _ = load_one(identify(*rules, connector="and"), routing())
    assert api["policies"]["identify"] == {
        "connector": "AND",
        "allow_anonymous": False,
        "rules": [
            {"type": "apiKey", "lookup": "strict"},
            {"type": "httpBasicAuth", "lookup": "open"},
            {"type": "ipAddressRange", "lookup": "relax"},
            {"type": "hostNameAddress", "lookup": "strict"},
        ],
    }


def test_outbound_incoming_jwt():
    api, _ = load_one(identify(("jwtClaims", "strict")), routing(), outbound(v("authType", "JWT"), v("authMode", "INCOMING_JWT")))
    assert api["policies"]["outbound"] == {"auth": "INCOMING_JWT"}


def test_outbound_incoming_jwt_without_jwt_claims_adds_token_validation():
    api, warnings = load_one(identify(("apiKey", "strict")), routing(), outbound(v("authType", "JWT"), v("authMode", "INCOMING_JWT")))
    assert api["policies"]["jwt"] == {"required": False}
    assert any("INCOMING_JWT" in w for w in warnings)


def basic_outbound(user: str, encoded: str) -> dict:
    credentials = g("httpAuthCredentials", v("userName", user), v("password", encoded))
    return outbound(v("authType", "HTTP_BASIC"), v("authMode", "NEW"), credentials)


def test_outbound_http_basic_decodes_the_password():
    secret = "s3cr\u00e9t-Pa55"
    api, warnings = load_one(routing(), basic_outbound("svc", base64.b64encode(secret.encode()).decode()))
    assert api["policies"]["outbound"] == {"auth": "HTTP_BASIC", "basic": {"user": "svc", "password": secret}}
    assert not any(secret in w for w in warnings)


def test_masked_password_is_flagged_without_showing_it():
    _, warnings = load_one(routing(), basic_outbound("svc", base64.b64encode(b"******").decode()))
    assert any("masked" in w for w in warnings)
    assert not any("******" in w or "KioqKioq" in w for w in warnings)


def test_password_that_is_not_base64_is_refused_without_showing_it():
    message = problems_of(vendor_archive((api_doc(), [routing(), basic_outbound("svc", "not base64 at all!")])))
    assert "not base64" in message and "not base64 at all!" not in message


def test_outbound_remove_incoming_headers():
    api, _ = load_one(routing(), outbound(v("authType", "REMOVE_INCOMING_HTTP_HEADERS")))
    assert api["policies"]["outbound"] == {"remove_headers": ["Authorization"]}


def test_inactive_api_and_description():
    api, _ = load_one(routing(), doc=api_doc(isActive=False, apiDescription="Pets, all of them"))
    assert api["active"] is False
    assert api["description"] == "Pets, all of them"


# --- unsupported policies -------------------------------------------------------------------------

def unsupported_lmt() -> dict:
    return action("monitorSLA", v("alertInterval", "10"), name="Monitor SLA")


def test_unsupported_template_is_refused_naming_api_policy_and_template():
    data = vendor_archive((api_doc("Petstore", "2.0"), [routing(), unsupported_lmt()]))
    message = problems_of(data)
    for part in ("'Petstore'", "'2.0'", "Default Policy for API Petstore", "Monitor SLA", "'monitorSLA'", "skip_unsupported"):
        assert part in message


def test_unsupported_template_is_dropped_when_asked():
    api, warnings = load_one(routing(), unsupported_lmt(), skip_unsupported=True)
    assert api["endpoint"] == ROUTING_URI
    assert any("monitorSLA" in w and "Petstore" in w and "dropped" in w for w in warnings)


def test_all_problems_are_reported_at_once():
    data = vendor_archive((api_doc("A"), [routing(), unsupported_lmt()]), (api_doc("B"), [routing(), action("monitorPerformance")]))
    with pytest.raises(ArchiveError) as caught:
        load_archive(data)
    assert len(caught.value.problems) == 2


def test_unsupported_identification_type():
    rules = [("apiKey", "strict"), ("httpsCertificate", "strict")]  # oAuth2Token is supported since issue 13
    message = problems_of(vendor_archive((api_doc(), [routing(), identify(*rules)])))
    assert "httpsCertificate" in message and "evaluatePolicy" in message
    api, warnings = load_one(routing(), identify(*rules), skip_unsupported=True)
    assert api["policies"]["identify"]["rules"] == ["apiKey"]
    assert any("httpsCertificate" in w for w in warnings)


def test_dropping_every_rule_does_not_load_the_api():
    # skipping must fail closed: without its only rule the API would serve anonymously
    content = load_archive(vendor_archive((api_doc(), [routing(), identify(("openIdClaims", "strict"))])), skip_unsupported=True)
    assert content.apis == []
    assert any("openIdClaims" in w for w in content.warnings)
    assert any("no supported identification rule is left" in w for w in content.warnings)
    assert any("'Petstore'" in w and "not loaded" in w for w in content.warnings)


def test_unsupported_outbound_auth_type():
    alias = outbound(v("authType", "ALIAS"), v("authMode", "NEW"), v("alias", "${creds}"))
    message = problems_of(vendor_archive((api_doc(), [routing(), alias])))
    assert "authType ALIAS" in message and "outboundTransportAuthentication" in message


def test_scope_level_policies_become_scopes_and_unsupported_ones_are_refused():
    cors = action("cors", g("corsAttributes", v("allowedOrigins", "https://a.example")))
    sla = action("monitorSLA", v("alertInterval", "10"), name="Monitor SLA")
    doc = api_doc(scopes=[
        scope("admin", "p-admin", ("/admin/{id}", ["GET", "put"]), ("/admin", [])),
        {"name": "plain", "policies": []},
        scope("limited", "p-limited", ("/x", [])),
    ])
    data = vendor_archive((doc, [routing()], {"p-admin": [cors], "p-limited": [sla]}))
    message = problems_of(data)
    assert "scope 'limited'" in message and "monitorSLA" in message and "plain" not in message and "admin" not in message
    content = load_archive(data, skip_unsupported=True)
    assert validate({"apis": content.apis}, "config") == []
    scopes = content.apis[0]["policies"]["scopes"]
    imported = {"cors": {"allowed_origins": ["https://a.example"]}}
    assert scopes == [
        {"name": "admin", "resources": ["/admin/{id}"], "methods": ["GET", "PUT"], "policies": imported},
        {"name": "admin", "resources": ["/admin"], "policies": imported},
    ]
    assert any("scope 'limited'" in w and "monitorSLA" in w for w in content.warnings)


def test_scope_level_policies_are_refused_naming_the_template():
    sla = action("monitorSLA", v("alertInterval", "5"), name="Monitor SLA", stage="LMT")
    data = vendor_archive((api_doc(), [routing()]), scopes={0: {"admin": [sla], "plain": []}})
    message = problems_of(data)
    assert "scope 'admin'" in message and "template 'monitorSLA'" in message and "plain" not in message
    content = load_archive(data, skip_unsupported=True)
    assert content.apis[0]["endpoint"] == ROUTING_URI and any("scope 'admin'" in w for w in content.warnings)


def test_websocket_api_is_unsupported():
    data = vendor_archive((api_doc(type="WEBSOCKET"), [routing()]), (api_doc("Other"), [routing()]))
    assert "WEBSOCKET" in problems_of(data)
    content = load_archive(data, skip_unsupported=True)
    assert [a["name"] for a in content.apis] == ["Other"]


def test_template_twice_is_refused():
    assert "more than once" in problems_of(vendor_archive((api_doc(), [routing(), routing()])))


# --- the archive's structure ----------------------------------------------------------------------

def test_wrapped_documents_and_names_from_the_definition():
    doc = api_doc()
    del doc["apiName"], doc["apiVersion"]
    api, _ = load_one(routing(), doc={**doc, "apiDefinition": {"info": {"title": "Wrapped", "version": "3"}}})
    assert (api["name"], api["version"]) == ("Wrapped", "3")
    data = vendor_archive((api_doc("Rest"), [routing()]), wrap_api=lambda d: {"apiResponse": {"api": d, "responseStatus": "SUCCESS"}})
    assert load_archive(data).apis[0]["name"] == "Rest"


def test_wrapped_policy_and_action():
    files = {
        "API/API.a/API.a": json.dumps(api_doc(id="a", policies=["p"])).encode(),
        "API/API.a/Policy/Policy.p/Policy.p": json.dumps({"policy": {"id": "p", "policyEnforcements": [{"stageKey": "routing", "enforcements": [{"enforcementObjectId": "r"}]}]}}).encode(),
        "API/API.a/Policy/Policy.p/PolicyAction/PolicyAction.r": json.dumps({"policyAction": {"id": "r", **routing("http://x/${sys:resource_path}")}}).encode(),
    }
    content = load_archive(zip_of(files))
    assert content.apis[0]["endpoint"] == "http://x/${sys:resource_path}"
    assert any("no APIGatewayAssets.acdl" in w for w in content.warnings)


def test_vendor_ids_are_reported():
    content = load_archive(vendor_archive((api_doc(id="e2996a1f-0001"), [routing()])))
    assert content.ids == {("Petstore", "1.0"): "e2996a1f-0001"}


def test_missing_policy_or_action_is_refused():
    message = problems_of(vendor_archive((api_doc(policies=["gone"]), [routing()])))
    assert "policy 'gone' is not in the archive" in message
    data = vendor_archive((api_doc(), [routing()]))
    files = {n: d for n, d in read_all(data).items() if "PolicyAction." not in n}
    assert "policy action 'action-0-0' is not in the archive" in problems_of(zip_of(files))


def read_all(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_an_export_like_the_vendors_with_other_assets():
    """Shaped like a real 10.7 export: global policy folder, registered apps, aliases, PassmanData."""
    doc = api_doc("devops-api", "1.0", maturityState="Beta", owner="Administrator", tracingEnabled=False)
    global_policy = {
        "id": "GlobalLogInvocationPolicy",
        "names": [{"value": "Transaction logging", "locale": "en"}],
        "policyEnforcements": [{"enforcements": [{"enforcementObjectId": "GlobalLogInvocationPolicyAction"}], "stageKey": "LMT"}],
        "policyScope": "GLOBAL",
        "global": True,
        "active": True,
    }
    extra = {
        "Global Policy/Global Policy.GlobalLogInvocationPolicy/Policy.GlobalLogInvocationPolicy": json.dumps(global_policy).encode(),
        "API/API.api-0/RegisteredApplication/RegisteredApplication.EmptyRegisteredApplication": b"{}",
        "Alias/Alias.local": b'{"id": "local"}',
        "PassmanData/PassmanData.wm.security.keystore.DEFAULT_IS_KEYSTORE": b"\x00\x01binary",
    }
    content = load_archive(vendor_archive((doc, [protocols("http"), routing("http://demo.example.io/customer/${sys:resource_path}")]), extra=extra))
    assert content.apis == [{"name": "devops-api", "version": "1.0", "endpoint": "http://demo.example.io/customer/${sys:resource_path}", "protocols": ["http"]}]
    assert any("global policy 'Transaction logging' is not applied" in w for w in content.warnings)


def test_failed_assets_in_the_export_report_are_mentioned():
    report = [{"assetType": "PolicyAction", "assetObject": {"name": "Routing", "id": "x", "status": "Failed", "explanation": "Asset already exists."}}]
    content = load_archive(vendor_archive((api_doc(), [routing()]), extra={"ExportReport.json": json.dumps(report).encode()}))
    assert any("Failed" in w and "Routing" in w for w in content.warnings)


def test_undeclared_api_is_read_with_a_warning():
    data = vendor_archive((api_doc(), [routing()]))
    files = read_all(data)
    files["APIGatewayAssets.acdl"] = b'<asset_composite xmlns="http://namespaces.softwareag.com/acdl/1.0"/>'
    content = load_archive(zip_of(files))
    assert content.apis and any("not declared" in w for w in content.warnings)


def test_api_names_microgw_cannot_serve_are_refused_clearly():
    message = problems_of(vendor_archive((api_doc("API Gateway "), [routing()])))
    assert "API 'API Gateway '" in message and "name" in message


def test_duplicate_api_is_refused():
    data = vendor_archive((api_doc(id="one"), [routing()]), (api_doc(id="two"), [routing()]))
    assert "twice" in problems_of(data)


# --- zip safety -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "C:\\Windows\\x", "API/../../x", "a\\..\\..\\b"])
def test_unsafe_member_names_are_refused(name):
    assert unsafe_name(name)
    with zipfile.ZipFile(buf := io.BytesIO(), "w") as z:
        z.writestr("API/API.a/API.a", json.dumps(api_doc()))
        z.writestr(zipfile.ZipInfo(name), b"x")
    assert "unsafe member name" in problems_of(buf.getvalue())


def test_safe_names_pass():
    assert unsafe_name("nul\x00byte")  # zipfile itself cuts names at NUL; checked anyway
    assert not unsafe_name("API/API.1/Policy/Policy.2/PolicyAction/PolicyAction.3")
    assert not unsafe_name("Global Policy/Global Policy.x/Policy.x")
    assert not unsafe_name("a..b/c..")


def test_zip_bomb_is_refused_before_inflating():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("API/API.bomb/API.bomb", "w", force_zip64=True) as member:
            chunk = b"\x00" * (1 << 20)
            for _ in range(65):
                member.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 1 << 20
    assert "more than the limit" in problems_of(data)
    padded = vendor_archive((api_doc(), [routing()]), extra={"Alias/Alias.pad": b" " * 100_000})
    assert "more than the limit" in problems_of(padded, max_bytes=len(padded) + 10)
    assert "larger than 1000 bytes" in problems_of(padded, max_bytes=1000)


def test_not_a_zip():
    assert "not a zip archive" in problems_of(b"PK\x03\x04 certainly not")
    assert "not a zip archive" in problems_of(b"")


def test_archive_from_a_path_names_the_file(tmp_path):
    path = tmp_path / "petstore.zip"
    path.write_bytes(vendor_archive((api_doc(), [routing()])))
    assert load_archive(path).apis[0]["name"] == "Petstore"
    (tmp_path / "broken.zip").write_bytes(b"nope")
    assert problems_of(tmp_path / "broken.zip").startswith("broken.zip: not a zip archive")
    assert "cannot read" in problems_of(tmp_path / "missing.zip")


def test_non_utf8_member_is_named():
    data = vendor_archive((api_doc(), [routing()]))
    files = read_all(data)
    files["API/API.api-0/API.api-0"] = '{"apiName": "caf\u00e9"}'.encode("latin-1")
    assert "API/API.api-0/API.api-0: is not UTF-8 text" in problems_of(zip_of(files))


def test_invalid_json_member_is_named_with_the_line():
    files = read_all(vendor_archive((api_doc(), [routing()])))
    files["API/API.api-0/Policy/Policy.policy-0/PolicyAction/PolicyAction.action-0-0"] = b'{\n  "templateKey": "straightThroughRouting",\n  oops\n}'
    message = problems_of(zip_of(files))
    assert "PolicyAction.action-0-0: is not valid JSON (line 3" in message


def test_deeply_nested_json_is_refused():
    files = read_all(vendor_archive((api_doc(), [routing()])))
    files["API/API.api-0/API.api-0"] = b"[" * 100_000 + b"]" * 100_000
    assert "nested too deeply" in problems_of(zip_of(files))


def test_manifest_with_entities_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><asset_composite>&b;</asset_composite>'
    files = read_all(vendor_archive((api_doc(), [routing()])))
    files["APIGatewayAssets.acdl"] = bomb
    assert "APIGatewayAssets.acdl: declares a DOCTYPE" in problems_of(zip_of(files))
    files["APIGatewayAssets.acdl"] = b"<asset_composite><asset></asset_composite>"
    assert "APIGatewayAssets.acdl: is not well-formed XML" in problems_of(zip_of(files))


def test_encrypted_members_are_refused():
    data = bytearray(zip_of({"API/API.a/API.a": b"{}"}))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 0x1  # the "encrypted" flag bit, in both headers (zipfile cannot write encrypted members)
    data[central + 8] |= 0x1
    assert "API/API.a/API.a: encrypted members are not supported" in problems_of(bytes(data))


def test_duplicate_member_names_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z, pytest.warns(UserWarning):
        z.writestr("API/API.a/API.a", b"{}")
        z.writestr("API/API.a/API.a", b"{}")
    assert "appears twice" in problems_of(buffer.getvalue())


# --- repointing production endpoints --------------------------------------------------------------

def test_repoint_origin_prefix_and_boundaries():
    apis = [
        {"name": "a", "version": "1", "endpoint": "https://prod.example.com/v2/${sys:resource_path}"},
        {"name": "b", "version": "1", "endpoint": "HTTPS://PROD.example.com"},
        {"name": "c", "version": "1", "endpoint": "https://prod.example.com.evil.net/x"},
        {"name": "d", "version": "1", "endpoint": "https://prod.example.com:8443/x"},
        {"name": "e", "version": "1", "endpoint": "https://prod.example.com/legacy/api/x"},
        {"name": "f", "version": "1", "mock": {"status": 204}},
    ]
    aliases = {
        "https://prod.example.com": "http://127.0.0.1:8080",
        "https://prod.example.com/legacy/": {"type": "simple", "value": "http://127.0.0.1:9090/old/"},
    }
    out = repoint(apis, aliases)
    assert [a.get("endpoint") for a in out] == [
        "http://127.0.0.1:8080/v2/${sys:resource_path}",
        "http://127.0.0.1:8080",
        "https://prod.example.com.evil.net/x",
        "https://prod.example.com:8443/x",
        "http://127.0.0.1:9090/old/api/x",
        None,
    ]
    assert apis[0]["endpoint"].startswith("https://prod")  # inputs untouched


def test_load_archive_repoints_with_aliases():
    content = load_archive(vendor_archive((api_doc(), [routing()])), aliases={"https://prod.example.com": "http://127.0.0.1:8080"})
    assert content.apis[0]["endpoint"] == "http://127.0.0.1:8080/petstore/${sys:resource_path}"


def test_imported_apis_pass_the_loader(tmp_path):
    """Beyond the schema: the loader's own checks (INCOMING_JWT needs a token, HTTP_BASIC credentials, aliases)."""
    import yaml

    from support.configs import load_settings

    jwt_out = outbound(v("authType", "JWT"), v("authMode", "INCOMING_JWT"))
    content = load_archive(
        vendor_archive(
            (api_doc(), [protocols("https"), identify(("apiKey", "strict")), routing("${backend}/v2/${sys:resource_path}"), jwt_out]),
            (api_doc("Basic"), [routing(), basic_outbound("svc", base64.b64encode(b"pw").decode())]),
        )
    )
    config = {"aliases": {"backend": {"type": "simple", "value": "http://127.0.0.1:8080"}}, "apis": content.apis}
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    settings = load_settings([tmp_path / "config.yml"]).settings
    assert [(a.name, a.endpoint) for a in settings.apis] == [
        ("Petstore", "http://127.0.0.1:8080/v2/${sys:resource_path}"),
        ("Basic", ROUTING_URI),
    ]


def test_oauth2_token_identification_imports_with_its_token_policy():
    """oAuth2Token alone needs no other policy (identify validates or introspects the token); with
    jwtClaims beside it the token policy is oauth2, which also takes opaque tokens (A8)."""
    api, _ = load_one(identify(("oAuth2Token", "strict")), routing())
    assert api["policies"] == {"identify": {"connector": "OR", "allow_anonymous": False, "rules": ["oAuth2Token"], "lookup": "strict"}}
    api, _ = load_one(identify(("OAUTH2TOKEN", "open"), ("jwtClaims", "open"), connector="AND"), routing())
    assert api["policies"]["identify"]["rules"] == ["oAuth2Token", "jwtClaims"]
    assert api["policies"]["oauth2"] == {"required": True} and "jwt" not in api["policies"]
