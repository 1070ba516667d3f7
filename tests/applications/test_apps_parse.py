"""Both input forms to models; semantic problems and warnings; secrets never in messages."""

from __future__ import annotations

import base64

import pytest

from applications.forms import API_KEY, SECRET, SECRET_B64, concise, vendor, vendor_strategies
from microgw.applications import Application, ApplicationIndex, ClaimSet, HmacStrategy, parse, parse_applications
from microgw.applications.addresses import parse_range


def one(item: dict, **kwargs) -> Application:
    parsed = parse([item], **kwargs)
    assert parsed.problems == []
    (app,) = parsed.applications
    return app


def test_concise_form_model():
    app = one(concise())
    assert app == Application(
        id="orders-app",
        name="Orders client",
        description="Reads orders",
        suspended=True,
        api_keys=frozenset({API_KEY}),
        basic_users=frozenset({"alice"}),
        ip_ranges=(parse_range("10.0.0.1-10.0.0.9"), parse_range("192.168.0.0/24"), parse_range("::1")),
        hostnames=frozenset({"client.example.com"}),
        claim_sets=(ClaimSet.of({"sub": "Administrator", "name": "srna"}), ClaimSet.of({"sub": "Developer", "name": "lnar"})),
        apis=frozenset({"petstore/1.0", "orders"}),
        strategies=(HmacStrategy("orders-hmac", SECRET, frozenset({"orders-api"}), frozenset({"HS256", "HS384", "HS512"}),
                                 auth_server="oauth"),),
    )


def test_both_forms_give_equal_models():
    parsed = parse([vendor()], strategies=vendor_strategies())
    assert parsed.problems == []
    assert parsed.applications == (one(concise()),)
    assert parsed.warnings == []  # known vendor metadata is not noise


def test_strategies_may_be_given_by_id():
    by_id = {s["id"]: s for s in vendor_strategies()}
    assert one(vendor(), strategies=by_id) == one(concise())


def test_parse_applications_returns_models_and_problems():
    apps, problems = parse_applications([concise()])
    assert problems == [] and apps[0].id == "orders-app"


def test_suspended_flag_is_carried():
    assert one(concise()).suspended is True
    assert one({**concise(), "suspended": False}).suspended is False
    assert one({"id": "x"}).suspended is False
    assert one({**vendor(), "isSuspended": False}, strategies=vendor_strategies()).suspended is False


def test_name_defaults_to_id():
    assert one({"id": "only-id"}).name == "only-id"
    assert one({"applicationID": "vid", "identifiers": []}).id == "vid"


@pytest.mark.parametrize(
    "apis, name, version, expected",
    [
        (["petstore/1.0"], "petstore", "1.0", True),
        (["petstore/1.0"], "petstore", "2.0", False),
        (["petstore"], "petstore", "2.0", True),
        (["petstore"], "pets", "1.0", False),
        (["petstore/1.0"], "petstore/1.0", "", False),
        ([], "petstore", "1.0", False),
    ],
)
def test_registered_for(apis, name, version, expected):
    assert one({"id": "a", "apis": apis}).registered_for(name, version) is expected


def test_registered_by_vendor_api_id():
    app = one({"id": "a", "identifiers": [], "apiIDs": ["api-1"], "consumingAPIs": ["api-2", {"id": "api-3"}]})
    assert app.api_ids == frozenset({"api-1", "api-2", "api-3"})
    assert app.registered_for("whatever", "1", api_id="api-3")
    assert not app.registered_for("whatever", "1", api_id="api-9")
    assert not app.registered_for("whatever", "1")


def test_duplicate_api_key_is_a_problem_without_showing_the_key():
    items = [{"id": "a", "api_keys": ["k-secret-1"]}, {"id": "b", "api_keys": ["other", "k-secret-1"]}]
    parsed = parse(items)
    assert [path for path, _ in parsed.problems] == [[1, "api_keys", 1]]
    assert "already held by application 'a'" in parsed.problems[0][1]
    assert "k-secret-1" not in parsed.problems[0][1]
    # the later holder loses the key, so an index can still be built for diagnostics
    assert ApplicationIndex(parsed.applications).by_api_key("k-secret-1").id == "a"


def test_duplicate_api_key_across_forms():
    parsed = parse([{"id": "a", "api_keys": [API_KEY]}, vendor()], strategies=vendor_strategies())
    assert [p for p, _ in parsed.problems] == [[1, "accessTokens", "apiAccessKey_credentials", "apiAccessKey"]]


def test_same_key_twice_in_one_application_is_fine():
    item = {"id": "a", "identifiers": [{"key": "apiKey", "value": ["k"]}, {"key": "token", "value": ["k"]}],
            "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "k"}}}
    assert one(item).api_keys == frozenset({"k"})


def test_duplicate_application_id():
    parsed = parse([{"id": "a"}, {"id": "b"}, {"id": "a", "identifiers": []}])
    assert parsed.problems == [([2, "id"], "application id 'a' is already used by item 0")]
    assert [a.id for a in parsed.applications] == ["a", "b"]


def test_bad_ip_ranges_are_reported_with_paths():
    parsed = parse([
        {"id": "a", "ip_ranges": ["10.0.0.1", "10.0.0.9-10.0.0.1"]},
        {"id": "b", "identifiers": [{"key": "ipAddressRange", "value": ["ok:not", "10.0.0.0/8"]}]},
    ])
    assert [p for p, _ in parsed.problems] == [[0, "ip_ranges", 1], [1, "identifiers", 0, "value", 0]]
    assert "starts after it ends" in parsed.problems[0][1]


@pytest.mark.parametrize(
    "secret, message",
    [
        ("", "empty"),
        ("====", "empty"),
        ("not base64!", "not valid base64"),
        ("abcde", "not valid base64"),
    ],
)
def test_bad_secrets_are_problems_and_never_shown(secret, message):
    parsed = parse([{"id": "a", "strategies": [{"type": "JWT_HSA", "secret": secret, "audience": "x"}]}])
    assert [p for p, _ in parsed.problems] == [[0, "strategies", 0, "secret"]]
    assert message in parsed.problems[0][1]
    if secret.strip("="):
        assert secret not in parsed.problems[0][1]
    assert parsed.applications[0].strategies == ()


def test_secret_accepts_base64url_and_missing_padding():
    raw = bytes(range(250, 256)) * 6  # encodes with + and / in standard base64
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        app = one({"id": "a", "strategies": [{"type": "JWT_HSA", "secret": text, "audience": "x"}]})
        assert app.strategies[0].secret == raw


def test_short_secret_warns_and_hmac_details():
    parsed = parse([{"id": "a", "strategies": [
        {"type": "JWT_HSA", "secret": "bWFuYWdl", "audience": ["x", "y"], "algorithms": ["HS256"]}]}])
    assert parsed.problems == []
    assert parsed.warnings == [([0, "strategies", 0, "secret"], "the secret is only 6 bytes; use at least 32 random bytes")]
    strategy = parsed.applications[0].strategies[0]
    assert strategy == HmacStrategy("a#strategy-0", b"manage", frozenset({"x", "y"}), frozenset({"HS256"}))
    assert "manage" not in repr(strategy) and "bWFuYWdl" not in repr(parsed.applications[0])


def test_api_keys_not_in_repr():
    assert API_KEY not in repr(one(concise()))


def test_shared_hmac_secret_and_duplicate_strategy_ids():
    strategy = {"type": "JWT_HSA", "secret": SECRET_B64, "audience": "x"}
    parsed = parse([
        {"id": "a", "strategies": [{**strategy, "id": "s"}]},
        {"id": "b", "strategies": [strategy]},
        {"id": "c", "strategies": [{**strategy, "id": "s", "secret": base64.b64encode(b"z" * 32).decode()}]},
    ])
    assert [p for p, _ in parsed.problems] == [[1, "strategies", 0], [2, "strategies", 0]]
    assert "already used by application 'a'" in parsed.problems[0][1]
    assert "used twice" in parsed.problems[1][1]
    assert SECRET_B64 not in str(parsed.problems)


def test_vendor_claims_identifiers():
    def claims_app(*values):
        return {"id": "a", "identifiers": [{"key": "jwtClaims", "name": "set", "value": list(values)}]}

    assert one(claims_app('{"claim1":"val1","claim2":"val2"}')).claim_sets == (
        ClaimSet.of({"claim1": "val1", "claim2": "val2"}),
    )
    assert one(claims_app('{"a": 1}', {"b": True})).claim_sets == (ClaimSet.of({"a": 1, "b": True}),)
    open_id = {"id": "a", "identifiers": [{"key": "openIdClaims", "value": ['{"sub": "x"}']}]}
    assert one(open_id).claim_sets == (ClaimSet.of({"sub": "x"}),)
    for bad in ("sub:x", "[1]", "{}", "not json"):
        parsed = parse([claims_app(bad)])
        assert [p for p, _ in parsed.problems] == [[0, "identifiers", 0, "value", 0]], bad
        assert parsed.applications[0].claim_sets == ()
    conflict = parse([claims_app('{"a": 1}', '{"a": true}')])
    assert [p for p, _ in conflict.problems] == [[0, "identifiers", 0, "value", 1]]
    assert "two different values" in conflict.problems[0][1]
    same = parse([claims_app('{"a": 1}', '{"a": 1.0}')])
    assert same.problems == []


def test_bad_concise_claim_set():
    parsed = parse([{"id": "a", "claim_sets": [{"sub": "x"}, {}, {"sub": "x"}]}])
    assert [p for p, _ in parsed.problems] == [[0, "claim_sets", 1]]
    assert parsed.applications[0].claim_sets == (ClaimSet.of({"sub": "x"}),)  # duplicates collapse


def test_vendor_warnings():
    item = {
        "id": "a",
        "identifiers": [
            {"key": "partnerId", "value": ["p"]},
            {"key": "httpsCertificate", "value": ["LS0t"]},
            {"key": "jwtClaims", "value": []},
        ],
        "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "old", "expired": True}},
        "authStrategyIds": ["missing", "rsa"],
        "brandNewVendorField": 1,
    }
    parsed = parse([item], strategies=vendor_strategies())
    assert parsed.problems == []
    assert [p for p, _ in parsed.warnings] == [
        [0],
        [0, "accessTokens", "apiAccessKey_credentials", "apiAccessKey"],
        [0, "authStrategyIds", 0],
        [0, "authStrategyIds", 1],
        [0, "identifiers", 0],
        [0, "identifiers", 1],
        [0, "identifiers", 2],
    ]
    assert "brandNewVendorField" in parsed.warnings[0][1]
    assert parsed.applications[0].api_keys == frozenset()


def test_problems_in_document_order():
    items = [{"id": str(i), "ip_ranges": ["bad"]} for i in range(12)]
    assert [p[0] for p, _ in parse(items).problems] == list(range(12))


def test_unvalidated_garbage_is_reported_not_raised():
    assert parse(["nope"]).problems == [([0], "an application must be a mapping")]
    assert parse([{"name": "no id"}]).problems == [([0, "id"], "an application needs an id")]


def test_hostnames_normalised():
    assert one({"id": "a", "hostnames": ["API.Example.org.", "api.example.org"]}).hostnames == frozenset({"api.example.org"})


# --- the vendor's current identifier shape and masked exports (issue 10) -------------------------

def test_named_values_identifiers_of_every_type():
    app = one({
        "id": "nv-app",
        "identifiers": [
            {"key": "jwtClaims", "name": "admins", "namedValues": [{"name": "sub", "values": ["Administrator"]}, {"name": "name", "values": ["srna"]}]},
            {"key": "apiKey", "name": "keys", "namedValues": [{"name": "primary", "values": ["nv-key-1"]}, {"name": "backup", "values": ["nv-key-2"]}]},
            {"key": "httpBasicAuth", "name": "users", "namedValues": [{"name": "u", "values": ["alice"]}]},
            {"key": "ipAddressRange", "name": "nets", "namedValues": [{"name": "office", "values": ["10.1.0.0/16"]}]},
            {"key": "hostNameAddress", "name": "hosts", "namedValues": [{"name": "h", "values": ["Client.Example.com"]}]},
        ],
    })
    assert app.claim_sets == (ClaimSet.of({"sub": "Administrator", "name": "srna"}),)
    assert app.api_keys == frozenset({"nv-key-1", "nv-key-2"})
    assert app.basic_users == frozenset({"alice"})
    assert app.ip_ranges == (parse_range("10.1.0.0/16"),)
    assert app.hostnames == frozenset({"client.example.com"})


def test_masked_keys_are_never_credentials_and_are_named_once():
    item = {"id": "m-app", "name": "Masked", "identifiers": [{"key": "apiKey", "value": ["********"]}],
            "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "********"}}}
    parsed = parse([item])
    assert parsed.problems == [] and parsed.applications[0].api_keys == frozenset()
    messages = [m for _, m in parsed.warnings]
    assert len(messages) == 1 and all("'Masked'" in m and "vendor_secrets.m-app" in m for m in messages)
    assert one(item, secrets={"m-app": "the-real-key"}).api_keys == frozenset({"the-real-key"})
    assert one(item, secrets={"m-app": "********"}).api_keys == frozenset()  # a mask is no secret either
