"""The compiled validator (jsonschema-rs) and the ``jsonschema`` walk agree: what the fast one passes
has no problem, what it refuses gets the walk's messages; file names are still found and resolved."""

from __future__ import annotations

import datetime

import pytest

from microgw.config import schema
from microgw.config.yamlfile import load_yaml_documents
from support.gateway import REPO

SAMPLES = sorted((REPO / "samples").rglob("*.yml"))  # the Kubernetes manifests are *.yaml

INVALID = {
    "a port that is text": ({"ports": {"http": "x"}}, "ports.http"),
    "an unknown key": ({"ports": {"htp": 80}}, "unknown key 'htp'"),
    "an API with neither endpoint nor mock": ({"apis": [{"name": "a", "version": "1"}]}, "apis"),
    "an application id that is a list": ({"applications": [{"id": ["x"], "api_keys": ["k"]}]}, "applications"),
    "a negative clock skew": ({"security_settings": {"clock_skew": -1}}, "clock_skew"),
}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_sample_passes_both(path):
    documents, _ = load_yaml_documents(path)
    for document in documents:
        if isinstance(document, dict):
            assert schema._surely_valid(document, "config")
            assert list(schema._errors(schema._validator("config"), document, False)) == []


@pytest.mark.parametrize("case", sorted(INVALID))
def test_what_the_fast_check_refuses_gets_the_walks_messages(case):
    document, expected = INVALID[case]
    assert not schema._surely_valid(document, "config")
    problems = schema.validate(document)
    assert problems and any(expected in ".".join(map(str, parts)) + " " + message for parts, message in problems), problems


def test_ten_thousand_applications_are_judged_by_the_fast_check():
    apps = [{"id": f"app-{i}", "api_keys": [f"key-{i:05d}"], "apis": ["a/1"]} for i in range(10000)]
    document = {"apis": [{"name": "a", "version": "1", "mock": {"json": {}}}], "applications": apps}
    assert schema._surely_valid(document, "config")
    assert schema.validate(document) == [] and schema.validate(document, partial=True) == []
    apps[9999]["api_keys"] = "not a list"
    assert [format_parts(p) for p, _ in schema.validate(document)] == ["applications.9999.api_keys"]


def test_a_value_the_fast_check_cannot_read_goes_to_the_walk():
    document = {"ports": {"http": datetime.date(2024, 1, 1)}}  # YAML reads 2024-01-01 as a date
    assert not schema._surely_valid(document, "config")
    assert [format_parts(p) for p, _ in schema.validate(document)] == ["ports.http"]


def test_file_names_are_found_outside_the_sections_that_hold_none():
    assert "applications" in schema._pathless_sections("config")
    assert "apis" not in schema._pathless_sections("config")  # validateAPISpec names a file
    document = {"state_dir": "state", "applications": [{"id": "a", "api_keys": ["k"]}], "key_store": {"type": "PEM", "location": "k.pem"}}
    assert sorted(schema.path_fields(document)) == [["key_store", "location"], ["state_dir"]]


def format_parts(parts) -> str:
    return ".".join(map(str, parts))


def test_every_file_name_field_is_found_without_the_jsonschema_package():
    """The file-name fields (``x-path``) are found by a walk of the schemas beside the document:
    through $ref into other schema files, maps of named stores, both forms of a choice, and a
    policy's own schema; an API's mock or an application's keys are no file names."""
    document = {
        "key_store": {"location": "a", "key_location": "b"}, "trust_store": {"location": "c"},
        "keystores": {"k1": {"location": "d"}}, "truststores": {"t": {"location": "e"}},
        "state_dir": "s", "archive_file": ["x.zip", "y.zip"],
        "logging": {"transactions": {"file": "t.log"}},
        "apis": [{"name": "a", "version": "1", "mock": {"body": "f"}, "policies": {"validateAPISpec": {"spec": "o.yaml"}}}],
        "applications": [{"id": "a", "name": "A", "api_keys": ["k.pem"]}],
    }
    assert sorted(schema.path_fields(document)) == sorted([
        ["key_store", "location"], ["key_store", "key_location"], ["trust_store", "location"], ["keystores", "k1", "location"],
        ["truststores", "t", "location"], ["state_dir"], ["archive_file", 0], ["archive_file", 1], ["logging", "transactions", "file"],
        ["apis", 0, "policies", "validateAPISpec", "spec"],
    ])
    assert schema.path_fields({**document, "archive_file": "z.zip"}).count(["archive_file"]) == 1


GOOD_APP = {"id": "a", "name": "A", "api_keys": ["k-a"], "apis": ["x/1"]}
INSIDE_ITEMS = {
    "one bad application among many": {"applications": [GOOD_APP] * 50 + [{**GOOD_APP, "api_keys": [5]}]},
    "bad items in two lists": {
        "applications": [GOOD_APP, {"id": ["x"], "name": "B"}, GOOD_APP, {**GOOD_APP, "surprise": 1}],
        "apis": [{"name": "a", "version": "1", "mock": {}}, {"name": "b", "version": "1"}, {"name": "c", "version": "1", "endpoint": 3}],
    },
    "a vendor application": {"applications": [{"applicationID": "v", "name": "V", "identifiers": [{"key": "apiKey", "value": [123456]}]}]},
    "an auth server behind a $ref": {"security_settings": {"auth_servers": [{"id": "x", "localIntrospectionConfig": {"issuer": 5}}]}},
    "an item error beside a top-level one": {"ports": {"http": "x"}, "applications": [{**GOOD_APP, "api_keys": [5]}]},
    "a missing key in a file that others complete": {"apis": [{"version": "1", "mock": {}}]},
}


@pytest.mark.parametrize("name", sorted(INSIDE_ITEMS))
@pytest.mark.parametrize("partial", [False, True])
def test_items_are_walked_alone_with_the_same_messages(name, partial):
    """Only the list items the compiled validator refuses are walked (one bad application among
    10,000 is worded in a tenth of a second, not seconds): the messages are those of a walk of the
    whole document."""
    document = INSIDE_ITEMS[name]
    whole = [item for error in schema._errors(schema._validator("config"), document, partial) for item in schema._describe(error)]
    whole.sort(key=lambda item: [str(p) for p in item[0]])
    assert schema.validate(document, partial=partial) == whole
    assert whole or partial
