"""schemas/application.schema.json accepts both forms, through the project's schema registry."""

from __future__ import annotations

import pytest

from applications.forms import concise, vendor, vendor_strategies
from microgw.applications.parse import VENDOR_MARKERS, is_vendor_form
from microgw.config import schema


def errors(doc: dict) -> list:
    return schema.validate(doc, kind="application")


def test_both_forms_are_valid():
    assert errors(concise()) == []
    assert errors(vendor()) == []
    assert errors({"id": "minimal"}) == []
    assert errors({"id": "v", "identifiers": []}) == []


def test_vendor_swagger_examples_are_valid():
    # POST /applications answer of the vendor's Swagger (ids shortened), with its identifier keys
    item = {
        "name": "TestApp", "description": None, "contactEmails": [], "siteURLs": [], "jsOrigins": [],
        "authStrategyIds": [], "version": "1.0", "id": "ea8700af", "created": "2019-11-01 09:47:53 GMT",
        "lastupdated": None, "owner": "Administrator", "consumingAPIs": [],
        "identifiers": [
            {"id": "1", "name": "Hostname", "key": "hostNameAddress", "value": ["host1"]},
            {"id": "2", "name": "claimset1", "key": "jwtClaims", "value": ['{"claim1":"val1","claim2":"val2"}']},
            {"id": "3", "name": "WS-Security username", "key": "wssecUsernameToken", "value": ["wssuser1"]},
            {"id": "4", "name": "IP Addresses", "key": "ipAddressRange", "value": ["10.60.37.12-10.60.37.15"]},
        ],
        "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "2050c4b7", "expirationInterval": None,
                                                      "expirationDate": None, "expired": False}},
        "teams": [{"id": "Administrators", "name": "Administrators", "canDelete": "false"}],
    }
    assert errors(item) == []


def test_vendor_strategies_are_valid_strategy_items():
    for strategy in vendor_strategies():
        assert errors({"id": "a", "strategies": [strategy]}) == []


@pytest.mark.parametrize(
    "doc, path, fragment",
    [
        ({"id": "a", "api_key": ["k"]}, ["api_key"], "unknown key 'api_key'; did you mean 'api_keys'?"),
        ({"name": "no id"}, [], "'id' is a required property"),
        ({"id": " padded "}, ["id"], "' padded ' is not an id without leading or trailing spaces"),
        ({"id": "a", "suspended": "yes"}, ["suspended"], "expected true or false, got the text 'yes'"),
        ({"id": "a", "apis": ["a/b/c"]}, ["apis", 0], "'a/b/c' is not an API id, or name/version"),
        ({"id": "a", "claim_sets": [{}]}, ["claim_sets", 0], "should be non-empty"),
        ({"id": "a", "claim_sets": [{"roles": []}]}, ["claim_sets", 0, "roles"], "should be non-empty"),
        ({"id": "a", "hostnames": ["a b"]}, ["hostnames", 0], "'a b' is not a host name"),
        ({"id": "a", "strategies": [{"type": "JWT_HSA", "secret": "eA==", "audience": ""}]},
         ["strategies", 0, "audience"], "audience must be"),
        ({"id": "a", "strategies": [{"type": "JWT_HSA", "audience": "x"}]}, ["strategies", 0], "'secret' is a required"),
        ({"id": "a", "strategies": [{"type": "JWT_HSA", "secret": "eA==", "audience": "x", "algorithms": ["RS256"]}]},
         ["strategies", 0, "algorithms", 0], "is not one of"),
        ({"id": "a", "strategies": [{"type": "JWT_HSA", "secret": "eA==", "audience": "x", "scret": 1}]},
         ["strategies", 0, "scret"], "unknown key 'scret'; did you mean 'secret'?"),
        ({"identifiers": []}, [], "needs its id"),
        ({"id": "a", "identifiers": [], "api_keys": ["k"]}, ["api_keys"], "belongs to the concise form"),
        ({"id": "a", "identifiers": [], "suspended": True}, ["suspended"], "isSuspended"),
        ({"id": "a", "identifiers": [{"key": "jwtClaims", "value": [5]}]}, ["identifiers", 0, "value", 0], "JSON object text"),
        ({"id": "a", "identifiers": [{"key": "ipAddressRange", "value": [{"a": 1}]}]},
         ["identifiers", 0, "value", 0], "expected a text, got a mapping"),
        ({"id": "a", "identifiers": [{"value": ["x"]}]}, ["identifiers", 0], "'key' is a required"),
    ],
)
def test_mistakes_are_caught(doc, path, fragment):
    found = errors(doc)
    assert any(p == path and fragment in message for p, message in found), found


def test_secret_values_are_not_shown():
    found = errors({"id": "a", "strategies": [{"type": "JWT_HSA", "secret": 12345678, "audience": "x"}]})
    assert found and all("12345678" not in message for _, message in found)


def test_schema_and_parser_agree_on_the_vendor_markers():
    doc = schema.schema("application")
    assert set(doc["x-vendor-markers"]) == VENDOR_MARKERS
    assert {c["required"][0] for c in doc["if"]["anyOf"]} == VENDOR_MARKERS
    assert is_vendor_form(vendor()) and not is_vendor_form(concise())


def test_secret_fields_are_marked():
    defs = schema.schema("application")["$defs"]
    assert defs["hmacStrategy"]["properties"]["secret"]["x-secret"] is True
    assert defs["concise"]["properties"]["api_keys"]["x-secret"] is True
    assert defs["accessKey"]["properties"]["apiAccessKey"]["x-secret"] is True
