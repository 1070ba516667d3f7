"""tokens.claims: time claims at the skew edges, number types, audiences."""

from __future__ import annotations

import math

import pytest

from microgw.errors import TokenError
from microgw.tokens.claims import audience_matches, audience_values, check_time_claims, numeric_date

NOW = 1_700_000_000
SKEW = 60


def refused(claims, now=NOW, skew=SKEW, require_exp=True) -> str:
    with pytest.raises(TokenError) as info:
        check_time_claims(claims, now, skew, require_exp)
    return info.value.message


def test_valid_token_returns_its_validity_window():
    end, start = check_time_claims({"exp": NOW + 10, "nbf": NOW - 5, "iat": NOW - 100}, NOW, SKEW, True)
    assert end == NOW + 10 + SKEW
    assert start == NOW - 5 - SKEW


def test_exp_edges_with_skew():
    exp = NOW - SKEW  # expired exactly skew seconds ago
    assert refused({"exp": exp}) == "token expired"
    check_time_claims({"exp": exp + 1}, NOW, SKEW, True)
    check_time_claims({"exp": exp + 0.001}, NOW, SKEW, True)
    assert refused({"exp": NOW}, skew=0) == "token expired"
    check_time_claims({"exp": NOW + 1}, NOW, 0, True)


def test_nbf_edges_with_skew():
    check_time_claims({"exp": NOW + 999, "nbf": NOW + SKEW}, NOW, SKEW, True)
    assert refused({"exp": NOW + 999, "nbf": NOW + SKEW + 1}) == "token not yet valid"
    assert refused({"exp": NOW + 999, "nbf": NOW + 0.5}, skew=0) == "token not yet valid"


def test_iat_in_the_future_beyond_skew():
    check_time_claims({"exp": NOW + 999, "iat": NOW + SKEW}, NOW, SKEW, True)
    assert refused({"exp": NOW + 999, "iat": NOW + SKEW + 1}) == "token issued in the future"
    _, start = check_time_claims({"exp": NOW + 999, "iat": NOW + 30, "nbf": NOW - 30}, NOW, SKEW, True)
    assert start == NOW + 30 - SKEW


def test_missing_exp():
    assert refused({}) == "token has no expiry"
    assert check_time_claims({}, NOW, SKEW, False) == (None, -math.inf)


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False, None, "1700000000", [NOW], {"t": NOW}, math.nan, math.inf, -math.inf])
def test_time_claims_must_be_finite_numbers(name, value):
    claims = {"exp": NOW + 100, name: value}
    assert refused(claims, require_exp=False) == f"token {name} claim is not a number"


def test_floats_are_numbers():
    check_time_claims({"exp": NOW + 0.5, "nbf": NOW - 0.5, "iat": float(NOW)}, NOW, 0, True)
    assert numeric_date({"exp": 1.5}, "exp") == 1.5
    assert numeric_date({}, "exp") is None


def test_huge_integers_are_handled_without_overflow():
    check_time_claims({"exp": 10**30}, NOW, SKEW, True)
    assert refused({"exp": -(10**30)}) == "token expired"


@pytest.mark.parametrize(
    "claims, values",
    [({"aud": "api"}, ("api",)), ({"aud": ["a", "b"]}, ("a", "b")), ({"aud": []}, ()), ({}, ())],
)
def test_audience_values(claims, values):
    assert audience_values(claims) == values


@pytest.mark.parametrize("aud", [1, None, True, {"a": 1}, ["a", 2], [["a"]], ["a", None]])
def test_audience_values_refuse_other_types(aud):
    with pytest.raises(TokenError) as info:
        audience_values({"aud": aud})
    assert info.value.message == "token aud claim is not a string or a list of strings"


def test_audience_matches_any_listed_value_exactly():
    accepted = frozenset({"orders", "billing"})
    assert audience_matches(("x", "billing"), accepted)
    assert audience_matches(("orders",), {"orders"})
    assert not audience_matches(("Orders",), accepted)
    assert not audience_matches((), accepted)
    assert not audience_matches(("orders",), frozenset())
