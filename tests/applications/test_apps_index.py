"""ApplicationIndex lookups, and by_claims against a brute-force scan (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applications.forms import API_KEY, concise, vendor, vendor_strategies
from microgw.applications import Application, ApplicationIndex, ClaimSet, parse, parse_range


def app(app_id: str, *sets: dict, **fields) -> Application:
    return Application(id=app_id, name=app_id, claim_sets=tuple(ClaimSet.of(s) for s in sets), **fields)


@pytest.fixture
def index() -> ApplicationIndex:
    return ApplicationIndex([
        app("tutorial", {"sub": "Administrator", "name": "srna"}, {"sub": "Developer", "name": "lnar"},
            api_keys=frozenset({"key-t"}), basic_users=frozenset({"alice"}), hostnames=frozenset({"a.example.com"}),
            ip_ranges=(parse_range("10.0.0.1-10.0.0.9"),)),
        app("roles", {"iss": "idp", "realm_access.roles": ["admin", "ops"]},
            basic_users=frozenset({"alice", "bob"}), ip_ranges=(parse_range("10.0.0.0/24"), parse_range("2001:db8::/64")),
            suspended=True),
        app("numbers", {"iss": "idp", "tier": 1}, {"iss": "idp", "flag": True}),
        app("all-admins", {"sub": "Administrator"}, hostnames=frozenset({"a.example.com"})),
    ])


def ids(apps) -> list[str]:
    return [a.id for a in apps]


def test_by_claims(index):
    assert ids(index.by_claims({"sub": "Developer", "name": "lnar"})) == ["tutorial"]
    assert ids(index.by_claims({"sub": "Administrator", "name": "srna"})) == ["all-admins", "tutorial"]  # sorted by id
    assert ids(index.by_claims({"sub": "Administrator", "name": "lnar"})) == ["all-admins"]
    assert ids(index.by_claims({"sub": "Developer", "name": "srna"})) == []
    assert ids(index.by_claims({"name": "lnar"})) == []
    assert ids(index.by_claims({"iss": "idp", "realm_access": {"roles": ["ops", "admin", "x"]}})) == ["roles"]
    assert ids(index.by_claims({"iss": "idp", "realm_access": {"roles": ["ops"]}})) == []
    assert ids(index.by_claims({"iss": "idp", "tier": 1.0})) == ["numbers"]
    assert ids(index.by_claims({"iss": "idp", "tier": "1"})) == []
    assert ids(index.by_claims({"iss": "idp", "tier": True})) == []
    assert ids(index.by_claims({"iss": "idp", "flag": [False, True]})) == ["numbers"]
    assert ids(index.by_claims({"iss": "idp", "flag": 1})) == []
    assert index.by_claims({}) == () and index.by_claims("not claims") == ()
    assert ApplicationIndex([]).by_claims({"sub": "x"}) == ()


def test_other_lookups(index):
    assert index.by_api_key("key-t").id == "tutorial"
    assert index.by_api_key("KEY-T") is None and index.by_api_key("") is None
    assert ids(index.by_basic_user("alice")) == ["roles", "tutorial"]
    assert ids(index.by_basic_user("bob")) == ["roles"] and index.by_basic_user("Bob") == ()
    assert ids(index.by_hostname("A.Example.COM.")) == ["all-admins", "tutorial"]
    assert index.by_hostname("b.example.com") == ()
    assert ids(index.by_address("10.0.0.5")) == ["roles", "tutorial"]
    assert ids(index.by_address("10.0.0.200")) == ["roles"]
    assert ids(index.by_address("::ffff:10.0.0.9")) == ["roles", "tutorial"]
    assert ids(index.by_address("2001:db8::42")) == ["roles"]
    assert index.by_address("10.0.1.0") == () and index.by_address("garbage") == ()
    assert index.by_id("numbers").id == "numbers" and index.by_id("nope") is None
    assert ids(index.all()) == ["all-admins", "numbers", "roles", "tutorial"] and len(index) == 4


def test_suspended_applications_are_found(index):
    assert index.by_id("roles").suspended
    assert ids(index.by_basic_user("bob")) == ["roles"]


def test_hmac_strategies_from_parsed_forms():
    parsed = parse([vendor(), {**concise(), "id": "second", "api_keys": [], "strategies": []}], strategies=vendor_strategies())
    assert parsed.problems == []
    index = ApplicationIndex(parsed.applications)
    assert [(a.id, s.id) for a, s in index.hmac_strategies()] == [("orders-app", "orders-hmac")]
    assert index.by_api_key(API_KEY).id == "orders-app"
    assert ids(index.by_claims({"sub": "Developer", "name": "lnar"})) == ["orders-app", "second"]


def test_index_refuses_ambiguous_inputs():
    with pytest.raises(ValueError, match="same API key"):
        ApplicationIndex([app("a", api_keys=frozenset({"k"})), app("b", api_keys=frozenset({"k"}))])
    with pytest.raises(ValueError, match="used twice"):
        ApplicationIndex([app("a"), app("a")])


def test_common_claim_does_not_become_the_anchor():
    apps = [app(f"app-{i:03}", {"iss": "idp", "sub": f"user-{i}"}) for i in range(200)]
    index = ApplicationIndex(apps)
    assert ids(index.by_claims({"iss": "idp", "sub": "user-7"})) == ["app-007"]
    assert set(index._claims) == {"sub"}  # every set was filed under its rare claim


def test_names_reached_through_token_members():
    # more anchor names than token claims: the lookup goes through the token's own members
    apps = [app(f"a{i}", {f"claim{i}.inner": i}) for i in range(10)] + [app("lit", {"x.y": 1})]
    index = ApplicationIndex(apps)
    assert ids(index.by_claims({"claim3": {"inner": 3}})) == ["a3"]
    assert ids(index.by_claims({"claim3.inner": 3})) == ["a3"]
    assert ids(index.by_claims({"x.y": 1})) == ["lit"]
    assert ids(index.by_claims({"x": {"y": [1]}})) == ["lit"]


# --- by_claims == brute force ------------------------------------------------------------------

NAMES = ["sub", "name", "roles", "a", "a.b", "a.b.c", "realm.roles", "n"]
TOP = ["sub", "name", "roles", "a", "a.b", "realm", "realm.roles", "n", "other"]
INNER = ["b", "c", "b.c", "roles", "k"]
scalars = st.sampled_from(["x", "y", "1", 1, 1.0, 2, 0, -0.0, True, False, None])
expected_values = scalars | st.lists(scalars, min_size=1, max_size=3) | st.dictionaries(st.just("k"), scalars, min_size=1)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(INNER), inner, max_size=3),
    max_leaves=8,
)
claim_sets = st.dictionaries(st.sampled_from(NAMES), expected_values, min_size=1, max_size=3)
applications = st.lists(st.lists(claim_sets, min_size=1, max_size=3), max_size=8)


def _satisfy(token: dict, claims: dict) -> dict:
    """Write ``claims`` into ``token`` along their dotted paths (later writes may undo earlier ones)."""
    for name, value in claims.items():
        *heads, leaf = name.split(".")
        node = token
        for head in heads:
            if not isinstance(node.get(head), dict):
                node[head] = {}
            node = node[head]
        node[leaf] = value
    return token


@settings(max_examples=250, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(apps_sets=applications, noise=st.dictionaries(st.sampled_from(TOP), json_values, max_size=6), data=st.data())
def test_by_claims_equals_brute_force(apps_sets, noise, data):
    apps = [app(f"app{i}", *sets) for i, sets in enumerate(apps_sets)]
    token = dict(noise)
    every_set = [s for sets in apps_sets for s in sets]
    if every_set and data.draw(st.booleans()):
        _satisfy(token, data.draw(st.sampled_from(every_set)))
    expected = [a.id for a in sorted(apps, key=lambda a: a.id) if any(cs.matches(token) for cs in a.claim_sets)]
    assert ids(ApplicationIndex(apps).by_claims(token)) == expected


def test_by_client_id_finds_declared_clients_and_application_ids():
    index = ApplicationIndex([
        app("b-app", client_ids=frozenset({"shared", "a-app"})),
        app("a-app"),
        app("c-app", client_ids=frozenset({"shared"})),
        app("lone"),
    ])
    assert ids(index.by_client_id("shared")) == ["b-app", "c-app"]
    assert ids(index.by_client_id("a-app")) == ["a-app", "b-app"]  # its own id, and a client b-app declares
    assert ids(index.by_client_id("lone")) == ["lone"]
    assert ids(index.by_client_id("nobody")) == []
