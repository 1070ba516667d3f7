"""Claim-set semantics: AND within a set, OR across sets, JSON-typed values, lists, nested names."""

from __future__ import annotations

import pytest

from microgw.applications.claims import MISSING, ClaimSet, canonical, json_equal, resolve, value_key
from microgw.applications.index import ApplicationIndex
from microgw.applications.model import Application

# The vendor tutorial's application: two claim sets.
TUTORIAL = Application(
    id="tutorial",
    name="tutorial",
    claim_sets=(
        ClaimSet.of({"sub": "Administrator", "name": "srna"}),
        ClaimSet.of({"sub": "Developer", "name": "lnar"}),
    ),
)


@pytest.mark.parametrize(
    "claims, expected",
    [
        ({"sub": "Administrator", "name": "srna"}, True),  # set 1
        ({"sub": "Developer", "name": "lnar"}, True),  # set 2
        ({"sub": "Developer", "name": "lnar", "iss": "x", "aud": "y"}, True),  # extra claims do not matter
        ({"sub": "Administrator", "name": "lnar"}, False),  # values mixed across sets
        ({"sub": "Developer", "name": "srna"}, False),
        ({"sub": "Administrator"}, False),  # missing claim
        ({"name": "srna"}, False),
        ({}, False),
        ({"sub": "administrator", "name": "srna"}, False),  # case-sensitive
    ],
)
def test_tutorial_example(claims, expected):
    assert ApplicationIndex([TUTORIAL]).by_claims(claims) == ((TUTORIAL,) if expected else ())


@pytest.mark.parametrize(
    "expected, actual, result",
    [
        (1, 1, True),
        (1, 1.0, True),
        ("1", 1, False),
        (1, "1", False),
        (True, "true", False),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (None, None, True),
        ({"a": [1, 2]}, {"a": [1.0, 2]}, True),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),  # inside an object, list order matters (JSON equality)
        ({"a": 1}, {"a": 1, "b": 2}, False),
    ],
)
def test_values_compare_as_json(expected, actual, result):
    assert ClaimSet.of({"c": expected}).matches({"c": actual}) is result


def test_null_matches_only_a_present_null():
    cs = ClaimSet.of({"c": None})
    assert cs.matches({"c": None})
    assert not cs.matches({})
    assert not cs.matches({"c": "null"})


def test_token_list_contains_expected_scalar():
    cs = ClaimSet.of({"roles": "admin"})
    assert cs.matches({"roles": ["user", "admin"]})
    assert not cs.matches({"roles": ["user"]})
    assert not cs.matches({"roles": []})
    assert ClaimSet.of({"n": 2}).matches({"n": [1, 2.0]})
    assert not ClaimSet.of({"n": True}).matches({"n": [1]})


def test_expected_list_needs_all_elements_in_any_order():
    cs = ClaimSet.of({"roles": ["admin", "ops"]})
    assert cs.matches({"roles": ["ops", "user", "admin"]})
    assert not cs.matches({"roles": ["admin"]})
    assert not cs.matches({"roles": "admin"})
    one = ClaimSet.of({"roles": ["admin"]})
    assert one.matches({"roles": "admin"})  # a scalar counts as a one-element list
    assert one == ClaimSet.of({"roles": ["admin"]})


def test_nested_claims_by_dotted_name():
    cs = ClaimSet.of({"realm_access.roles": "admin", "address.country": "DE"})
    token = {"realm_access": {"roles": ["admin", "user"]}, "address": {"country": "DE"}}
    assert cs.matches(token)
    assert not cs.matches({"realm_access": {"roles": ["user"]}, "address": {"country": "DE"}})
    assert not cs.matches({"realm_access": ["roles"], "address": {"country": "DE"}})  # lists are not traversed
    assert ClaimSet.of({"a.b.c": 1}).matches({"a": {"b": {"c": 1}}})


def test_literal_dotted_name_wins_over_nested_path():
    cs = ClaimSet.of({"realm_access.roles": "admin"})
    both = {"realm_access.roles": "user", "realm_access": {"roles": ["admin"]}}
    assert not cs.matches(both)  # the literal member is the value; no fallback to the nested one
    assert cs.matches({"realm_access.roles": "admin", "realm_access": {"roles": []}})
    namespaced = ClaimSet.of({"https://example.com/roles": "admin"})
    assert namespaced.matches({"https://example.com/roles": ["admin"]})


def test_resolution_splits_at_each_dot_left_to_right():
    assert resolve({"a": {"b.c": 1}}, "a.b.c") == 1
    assert resolve({"a.b": {"c": 2}}, "a.b.c") == 2
    assert resolve({"a": {"b": {"c": 3}}, "a.b": {"c": 4}}, "a.b.c") == 3  # shortest head first
    assert resolve({"a": {"x": 1}, "a.b": {"c": 4}}, "a.b.c") == 4  # backtracks when a path misses
    assert resolve({"a": 1}, "a.b") is MISSING
    assert resolve({}, "a") is MISSING


def test_claim_set_refuses_meaningless_sets():
    with pytest.raises(ValueError, match="at least one claim"):
        ClaimSet.of({})
    with pytest.raises(ValueError, match="empty list"):
        ClaimSet.of({"roles": []})
    with pytest.raises(ValueError, match="JSON value"):
        ClaimSet.of({"n": float("nan")})
    import datetime

    with pytest.raises(ValueError, match="JSON value"):
        ClaimSet.of({"d": datetime.date(2020, 1, 1)})


def test_claim_sets_equal_across_spellings():
    assert ClaimSet.of({"a": 1, "b": {"x": 1, "y": 2}}) == ClaimSet.of({"b": {"y": 2, "x": 1.0}, "a": 1.0})
    assert ClaimSet.of({"a": 1}) != ClaimSet.of({"a": True})
    assert hash(ClaimSet.of({"a": [1, 2]})) == hash(ClaimSet.of({"a": [1, 2]}))


def test_expected_values_are_frozen():
    source = {"roles": ["a"], "obj": {"k": "v"}}
    cs = ClaimSet.of(source)
    source["roles"].append("b")
    source["obj"]["k"] = "changed"
    assert cs.matches({"roles": ["a"], "obj": {"k": "v"}})


def test_value_keys_follow_json_equality():
    pairs = [(1, 1.0), ({"a": [1.0]}, {"a": [1]}), ([True], [True]), ("x", "x")]
    for a, b in pairs:
        assert json_equal(a, b) and value_key(a) == value_key(b) and canonical(a) == canonical(b)
    for a, b in [(1, True), ("1", 1), (0, False), (None, "null"), ([1], 1)]:
        assert not json_equal(a, b) and value_key(a) != value_key(b)
