"""Writing our APIs as vendor archives, and reading them back: load_archive(build_archive(x)) == x."""

from __future__ import annotations

import base64
import io
import json
import string
import zipfile
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microgw.config.schema import validate
from microgw.sync.archive import (
    ArchiveError,
    api_id,
    api_list,
    api_summary,
    build_archive,
    canonical_api,
    load_archive,
    select_apis,
)

PETSTORE = {
    "name": "Petstore",
    "version": 1.0,
    "description": "Pets",
    "endpoint": "https://prod.example.com/v2",
    "protocols": ["https"],
    "methods": ["GET", "POST"],
    "timeouts": {"connect": 2.5, "read": 30},
    "tls_verify": False,
    "policies": {
        "jwt": {"required": False, "auth_servers": ["local"], "audiences": ["pets"]},
        "identify": {"rules": ["jwtClaims", {"type": "apiKey", "lookup": "open"}], "connector": "OR", "default_application": "default-app"},
        "outbound": {
            "auth": "HTTP_BASIC",
            "basic": {"user": "svc", "password": "s3cret!"},
            "remove_headers": ["X-Debug"],
            "identity_headers": {"application_id": "X-App", "claims": {"X-User": "sub"}},
        },
    },
}
MOCK = {"name": "Echo", "version": "2", "active": False, "mock": {"status": 200, "json": {"ok": True}}}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def documents(data: bytes) -> dict[str, dict]:
    return {n: json.loads(b) for n, b in members(data).items() if n.startswith("API/")}


def without_extension(data: bytes) -> bytes:
    """The archive as a vendor gateway sees it: only the vendor's own fields."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, body in members(data).items():
            if name.count("/") == 2 and name.startswith("API/"):
                document = json.loads(body)
                document.pop("microgwExtensions")
                body = json.dumps(document).encode()
            out.writestr(name, body)
    return buffer.getvalue()


# --- layout ---------------------------------------------------------------------------------------

def test_layout_is_the_vendors():
    data = build_archive([PETSTORE])
    ident = api_id("Petstore", "1.0")
    files = members(data)
    api_file = f"API/API.{ident}/API.{ident}"
    api = json.loads(files[api_file])
    assert (api["apiName"], api["apiVersion"], api["isActive"], api["id"]) == ("Petstore", "1.0", True, ident)
    assert api["nativeEndpoint"][0]["uri"] == "https://prod.example.com/v2"
    [policy_id] = api["policies"]
    policy = json.loads(files[f"API/API.{ident}/Policy/Policy.{policy_id}/Policy.{policy_id}"])
    stages = {s["stageKey"]: [e["enforcementObjectId"] for e in s["enforcements"]] for s in policy["policyEnforcements"]}
    assert list(stages) == ["transport", "IAM", "routing"]
    templates = {}
    for stage, ids in stages.items():
        for action_id in ids:
            action = json.loads(files[f"API/API.{ident}/Policy/Policy.{policy_id}/PolicyAction/PolicyAction.{action_id}"])
            templates[action["templateKey"]] = (stage, action["parameters"])
    assert set(templates) == {"entryProtocolPolicy", "evaluatePolicy", "straightThroughRouting", "outboundTransportAuthentication"}
    routing = templates["straightThroughRouting"][1]
    assert {"templateKey": "endpointUri", "values": ["https://prod.example.com/v2/${sys:resource_path}"]} in routing
    assert {"templateKey": "connectTimeout", "values": ["2.5"]} in routing
    security = templates["outboundTransportAuthentication"][1][0]
    assert security["templateKey"] == "transportSecurity"
    credentials = [p for p in security["parameters"] if p["templateKey"] == "httpAuthCredentials"][0]["parameters"]
    assert {"templateKey": "password", "values": [base64.b64encode(b"s3cret!").decode()]} in credentials

    manifest = ElementTree.fromstring(files["APIGatewayAssets.acdl"])
    names = {e.get("name") for e in manifest.iter("{http://namespaces.softwareag.com/acdl/1.0}asset")}
    assert names == {f"API.{ident}", f"Policy.{policy_id}", *(f"PolicyAction.{a}" for ids in stages.values() for a in ids)}
    report = json.loads(files["ExportReport.json"])
    assert {(r["assetType"], r["assetObject"]["status"]) for r in report} == {("API", "Success"), ("Policy", "Success"), ("PolicyAction", "Success")}


def test_bytes_and_ids_are_stable():
    assert build_archive([PETSTORE, MOCK]) == build_archive([PETSTORE, MOCK])
    assert api_id("Petstore", 1.0) == api_id("Petstore", "1.0") != api_id("Petstore", "1.1")
    assert set(api_id("a", "1")) <= set(string.hexdigits + "-")


def test_vendor_ids_can_be_kept():
    data = build_archive([PETSTORE], ids={("Petstore", "1.0"): "e2996a1f-17d4-4d52-8c9e-b8a0f4e0a0b1"})
    assert "API/API.e2996a1f-17d4-4d52-8c9e-b8a0f4e0a0b1/API.e2996a1f-17d4-4d52-8c9e-b8a0f4e0a0b1" in members(data)
    assert load_archive(data).ids == {("Petstore", "1.0"): "e2996a1f-17d4-4d52-8c9e-b8a0f4e0a0b1"}
    with pytest.raises(ArchiveError, match="not URL- and file-name-safe"):
        build_archive([PETSTORE], ids={("Petstore", "1.0"): "../escape"})


def test_invalid_or_duplicate_apis_are_refused():
    with pytest.raises(ArchiveError, match="'Petstore'"):
        build_archive([{**PETSTORE, "endpoint": "ftp://nope"}])
    with pytest.raises(ArchiveError, match="twice"):
        build_archive([PETSTORE, {**PETSTORE, "version": "1.0"}])
    with pytest.raises(ArchiveError, match="HTTP_BASIC needs basic"):
        build_archive([{**MOCK, "policies": {"outbound": {"auth": "HTTP_BASIC"}}}])


def test_errors_never_show_the_password():
    bad = {**PETSTORE, "policies": {"outbound": {"auth": "HTTP_BASIC", "basic": {"user": "svc", "password": 12345678}}}}
    with pytest.raises(ArchiveError) as caught:
        build_archive([bad])
    assert "12345678" not in str(caught.value)


# --- round trips ----------------------------------------------------------------------------------

def test_round_trip_of_examples():
    content = load_archive(build_archive([PETSTORE, MOCK]))
    assert content.apis == [canonical_api(PETSTORE), canonical_api(MOCK)]
    assert content.warnings == []
    assert validate({"apis": content.apis}, "config") == []


def test_vendor_form_alone_carries_the_vendor_features():
    api = {
        "name": "Orders",
        "version": "3",
        "endpoint": "https://prod.example.com/orders/${sys:resource_path}",
        "protocols": ["http", "https"],
        "timeouts": {"connect": 4, "read": 60},
        "policies": {
            "identify": {"rules": ["jwtClaims", "apiKey"], "lookup": "strict", "connector": "OR", "allow_anonymous": False},
            "outbound": {"auth": "INCOMING_JWT"},
        },
    }
    loaded = load_archive(without_extension(build_archive([api]))).apis[0]
    expected = canonical_api(api)
    expected["policies"]["jwt"] = {"required": False}  # derived from jwtClaims OR apiKey
    assert loaded == expected


def test_plain_base_endpoint_keeps_its_meaning_for_the_vendor():
    data = build_archive([{"name": "a", "version": "1", "endpoint": "http://h:1/base/"}])
    action = [d for d in documents(data).values() if d.get("templateKey") == "straightThroughRouting"][0]
    assert action["parameters"][0]["values"] == ["http://h:1/base/${sys:resource_path}"]
    assert load_archive(data).apis[0]["endpoint"] == "http://h:1/base/"
    assert load_archive(without_extension(data)).apis[0]["endpoint"] == "http://h:1/base/${sys:resource_path}"


def test_the_vendor_form_wins_over_a_stale_extension():
    data = build_archive([{"name": "a", "version": "1", "endpoint": "http://old/base"}])
    files = members(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, body in files.items():
            out.writestr(name, body.replace(b"http://old/base/${sys:resource_path}", b"http://new/base/${sys:resource_path}"))
    assert load_archive(buffer.getvalue()).apis[0]["endpoint"] == "http://new/base/${sys:resource_path}"


# --- hypothesis: any valid API dict of ours survives the trip -------------------------------------

TEXT = st.text(max_size=8)
NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_.~:@é", min_size=1, max_size=12)
VERSION = st.one_of(NAME, st.integers(0, 99), st.sampled_from([1.0, 2.5, 10.25]))
ENDPOINT = st.builds(
    lambda host, path: host + path,
    st.sampled_from(["https://prod.example.com", "http://127.0.0.1:8080", "${backend}", "http://Upper.Example:81"]),
    st.sampled_from(["", "/", "/v2", "/v2/", "/api/${sys:resource_path}", "/${sys:resource_path}", "/x/${sys:resource_path}?q=1"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
MOCK_BODY = st.fixed_dictionaries(
    {},
    optional={
        "status": st.integers(100, 599),
        "headers": st.dictionaries(st.text(min_size=1, max_size=6), TEXT, max_size=2),
        "body": TEXT,
        "json": JSON,
        "echo": st.booleans(),
    },
)
SECONDS = st.one_of(st.integers(1, 3600), st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
TYPES = st.sampled_from(["jwtClaims", "apiKey", "httpBasicAuth", "ipAddressRange", "hostNameAddress"])
LOOKUP = st.sampled_from(["strict", "open", "relax"])
RULE = st.one_of(TYPES, st.fixed_dictionaries({"type": TYPES}, optional={"lookup": LOOKUP}))
JWT = st.fixed_dictionaries(
    {},
    optional={
        "required": st.booleans(),
        "auth_servers": st.lists(TEXT, min_size=1, max_size=2),
        "token_from": st.one_of(*(st.fixed_dictionaries({k: st.text(min_size=1, max_size=8)}) for k in ("header", "cookie", "query"))),
        "require_exp": st.booleans(),
        "require_audience": st.booleans(),
        "audiences": st.lists(TEXT, max_size=2),
    },
)
IDENTIFY = st.fixed_dictionaries(
    {"rules": st.lists(RULE, min_size=1, max_size=4)},
    optional={"lookup": LOOKUP, "connector": st.sampled_from(["OR", "AND"]), "allow_anonymous": st.booleans(), "default_application": TEXT},
)
HEADER = st.one_of(st.sampled_from(["Authorization", "authorization", "X-Debug"]), st.text(min_size=1, max_size=8))
IDENTITY_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "application_id": st.text(min_size=1, max_size=8),
        "application_name": st.text(min_size=1, max_size=8),
        "claims": st.dictionaries(st.text(max_size=8), st.text(min_size=1, max_size=8), max_size=2),
    },
)


@st.composite
def outbounds(draw) -> dict:
    auth = draw(st.sampled_from([None, "NONE", "INCOMING_JWT", "HTTP_BASIC"]))
    out: dict = {} if auth is None else {"auth": auth}
    if auth == "HTTP_BASIC" or draw(st.booleans()) and auth is None:
        out["basic"] = {"user": draw(TEXT), "password": draw(st.one_of(TEXT, st.just("******")))}
        out.setdefault("auth", "HTTP_BASIC")
    if draw(st.booleans()):
        out["remove_headers"] = draw(st.lists(HEADER, max_size=3))
    if draw(st.booleans()):
        out["identity_headers"] = draw(IDENTITY_HEADERS)
    return out


@st.composite
def our_apis(draw) -> dict:
    api: dict = {"name": draw(NAME), "version": draw(VERSION)}
    if draw(st.booleans()):
        api["endpoint"] = draw(ENDPOINT)
    else:
        api["mock"] = draw(MOCK_BODY)
    optional = {
        "description": TEXT,
        "active": st.booleans(),
        "protocols": st.lists(st.sampled_from(["http", "https"]), min_size=1, max_size=2, unique=True),
        "methods": st.lists(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), min_size=1, max_size=3, unique=True),
        "timeouts": st.fixed_dictionaries({}, optional={"connect": SECONDS, "read": SECONDS}),
        "tls_verify": st.booleans(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            api[key] = draw(strategy)
    policies = {}
    for key, strategy in (("jwt", JWT), ("identify", IDENTIFY), ("outbound", outbounds())):
        if draw(st.booleans()):
            policies[key] = draw(strategy)
    if policies or draw(st.booleans()):
        api["policies"] = policies
    return api


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(our_apis(), max_size=3, unique_by=lambda a: (a["name"], canonical_api(a)["version"])))
def test_round_trip_property(apis):
    assert validate({"apis": apis}, "config") == []
    content = load_archive(build_archive(apis))
    assert content.apis == [canonical_api(a) for a in apis]
    assert validate({"apis": content.apis}, "config") == []
    for api in apis:  # secrets never leak into what the reader reports
        password = ((api.get("policies") or {}).get("outbound") or {}).get("basic", {}).get("password")
        if password and len(password) > 3:
            assert not any(password in w for w in content.warnings)


@settings(max_examples=100, deadline=None)
@given(our_apis())
def test_canonical_form_is_stable(api):
    once = canonical_api(api)
    assert canonical_api(once) == once
    assert validate(once, "api") == []


@st.composite
def vendor_expressible(draw) -> dict:
    """APIs that need no microgwExtensions: what a vendor gateway would read from our archive."""
    api: dict = {"name": draw(NAME), "version": draw(VERSION), "endpoint": draw(ENDPOINT.filter(lambda e: "${sys:resource_path}" in e))}
    for key, strategy in (("description", st.text(min_size=1, max_size=8)), ("active", st.just(False)), ("protocols", st.lists(st.sampled_from(["http", "https"]), min_size=1, max_size=2, unique=True)), ("timeouts", st.fixed_dictionaries({}, optional={"connect": SECONDS, "read": SECONDS}))):
        if draw(st.booleans()):
            api[key] = draw(strategy)
    policies: dict = {}
    if draw(st.booleans()):
        policies["identify"] = draw(IDENTIFY.map(lambda i: {k: v for k, v in i.items() if k != "default_application"}))
    auth = draw(st.sampled_from(["NONE", "INCOMING_JWT", "HTTP_BASIC", "REMOVE"]))
    if auth == "HTTP_BASIC":
        policies["outbound"] = {"auth": auth, "basic": {"user": draw(TEXT), "password": draw(TEXT)}}
    elif auth == "INCOMING_JWT":
        policies["outbound"] = {"auth": auth}
    elif auth == "REMOVE":
        policies["outbound"] = {"remove_headers": ["Authorization"]}
    if policies:
        api["policies"] = policies
    return api


def expected_from_vendor_form(api: dict) -> dict:
    """canonical_api plus the jwt policy the reader derives (policies_map A7, archive INCOMING_JWT rule)."""
    out = canonical_api(api)
    policies = out.get("policies", {})
    identify = policies.get("identify")
    rules = []
    if identify:
        rules = [(r, identify["lookup"]) if isinstance(r, str) else (r["type"], r["lookup"]) for r in identify["rules"]]
    if any(kind == "jwtClaims" for kind, _ in rules):
        only_way = identify["connector"] == "AND" or all(kind == "jwtClaims" for kind, _ in rules)
        required = only_way and not identify["allow_anonymous"] and all(lookup != "relax" for _, lookup in rules)
        policies["jwt"] = {"required": required}
    elif policies.get("outbound", {}).get("auth") == "INCOMING_JWT":
        policies["jwt"] = {"required": False}
    return out


@settings(max_examples=100, deadline=None)
@given(vendor_expressible())
def test_vendor_form_property(api):
    assert load_archive(without_extension(build_archive([api]))).apis == [expected_from_vendor_form(api)]


# --- the list endpoint's shapes ---------------------------------------------------------------

def test_summary_and_list_mirror_the_vendor():
    summary = api_summary(PETSTORE)
    assert summary == {
        "apiName": "Petstore",
        "apiVersion": "1.0",
        "apiDescription": "Pets",
        "isActive": True,
        "type": "REST",
        "publishedPortals": [],
        "systemVersion": 1,
        "id": api_id("Petstore", "1.0"),
    }
    listed = api_list([PETSTORE, MOCK], ids={("Echo", "2"): "echo-id"})
    assert [(e["api"]["id"], e["api"]["isActive"], e["responseStatus"]) for e in listed["apiResponse"]] == [
        (api_id("Petstore", "1.0"), True, "SUCCESS"),
        ("echo-id", False, "SUCCESS"),
    ]


def test_select_apis_by_id():
    pet, echo = api_id("Petstore", "1.0"), api_id("Echo", "2")
    assert select_apis([PETSTORE, MOCK], f"{echo},{pet}") == [MOCK, PETSTORE]
    assert select_apis([PETSTORE, MOCK], [pet, pet]) == [PETSTORE]
    assert select_apis([PETSTORE, MOCK], "*") == [PETSTORE, MOCK]
    with pytest.raises(ArchiveError, match="no API with id 'nope'"):
        select_apis([PETSTORE], "nope")
    archive = build_archive(select_apis([PETSTORE, MOCK], echo))
    assert [a["name"] for a in load_archive(archive).apis] == ["Echo"]
