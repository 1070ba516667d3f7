"""IP ranges (vendor a-b form, CIDR, single, IPv6) and the bisect lookup table."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgw.applications.addresses import AddressTable, IpRange, address_value, parse_range


def _ident(item):
    return item


def test_vendor_range_is_inclusive():
    rng = parse_range("10.0.0.1-10.0.0.9")
    assert "10.0.0.1" in rng and "10.0.0.9" in rng and "10.0.0.5" in rng
    assert "10.0.0.0" not in rng and "10.0.0.10" not in rng


def test_cidr_and_single_and_v6():
    assert parse_range("192.168.0.0/24") == parse_range("192.168.0.0-192.168.0.255")
    assert parse_range(" 10.1.2.3 ") == IpRange(4, 0x0A010203, 0x0A010203)
    v6 = parse_range("2001:db8::/126")
    assert "2001:db8::3" in v6 and "2001:db8::4" not in v6
    assert "::1" in parse_range("::1")
    assert "127.0.0.1" not in parse_range("::1")
    assert parse_range("2001:db8::1 - 2001:db8::ff") == IpRange(6, int(ipaddress.ip_address("2001:db8::1")),
                                                               int(ipaddress.ip_address("2001:db8::ff")))


def test_ipv4_mapped_is_ipv4():
    assert parse_range("::ffff:10.0.0.1") == parse_range("10.0.0.1")
    assert parse_range("::ffff:10.0.0.0/104") == parse_range("10.0.0.0/8")
    assert address_value("::ffff:10.0.0.1") == (4, 0x0A000001)
    assert "::ffff:10.0.0.5" in parse_range("10.0.0.1-10.0.0.9")


@pytest.mark.parametrize(
    "text, message",
    [
        ("10.0.0.9-10.0.0.1", "starts after it ends"),
        ("10.0.0.1-::1", "mixes IPv4 and IPv6"),
        ("192.168.0.1/24", "did you mean 192.168.0.0/24"),
        ("10.0.0.0/33", "not a CIDR range"),
        ("10.0.0.256", "not an IP address"),
        ("010.0.0.1", "not an IP address"),
        ("example.com", "not an IP address"),
        ("10.0.0.1-", "not an IP address"),
        ("", "empty"),
    ],
)
def test_bad_ranges_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_range(text)


def test_address_value_is_strict():
    assert address_value("10.0.0.1") == (4, 0x0A000001)
    assert address_value("fe80::1%eth0") == (6, int(ipaddress.ip_address("fe80::1")))
    for bad in ("1.2.3", "10.0.0.01x", "", "host", "1.2.3.4.5", "::g"):
        assert address_value(bad) is None


def test_table_overlaps_edges_and_misses():
    wide, narrow, other, v6 = "wide", "narrow", "other", "v6"
    table = AddressTable(
        [
            (parse_range("10.0.0.0/8"), wide),
            (parse_range("10.0.0.1-10.0.0.9"), narrow),
            (parse_range("10.0.0.5"), other),
            (parse_range("2001:db8::/32"), v6),
            (parse_range("10.0.0.7"), narrow),  # same item twice: listed once
        ],
        key=_ident,
    )
    assert table.lookup("10.0.0.0") == (wide,)
    assert table.lookup("10.0.0.1") == (narrow, wide)
    assert table.lookup("10.0.0.5") == (narrow, other, wide)
    assert table.lookup("10.0.0.7") == (narrow, wide)
    assert table.lookup("10.0.0.9") == (narrow, wide)
    assert table.lookup("10.0.0.10") == (wide,)
    assert table.lookup("10.255.255.255") == (wide,)
    assert table.lookup("11.0.0.0") == ()
    assert table.lookup("9.255.255.255") == ()
    assert table.lookup("0.0.0.0") == ()
    assert table.lookup("2001:db8:ffff::1") == (v6,)
    assert table.lookup("2001:db9::") == ()
    assert table.lookup("::ffff:10.0.0.3") == (narrow, wide)
    assert table.lookup("not an address") == ()
    assert AddressTable([], key=_ident).lookup("10.0.0.1") == ()


def test_whole_space_edges():
    table = AddressTable([(parse_range("0.0.0.0/0"), "all4"), (parse_range("::/0"), "all6")], key=_ident)
    assert table.lookup("0.0.0.0") == ("all4",)
    assert table.lookup("255.255.255.255") == ("all4",)
    assert table.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == ("all6",)
    assert table.lookup("::") == ("all6",)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    ranges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20), st.sampled_from("abcdef")), max_size=12),
    probes=st.lists(st.integers(0, 90), min_size=1, max_size=20),
)
def test_table_equals_brute_force(ranges, probes):
    entries = [(IpRange(4, start, start + length), name) for start, length, name in ranges]
    table = AddressTable(entries, key=_ident)
    for probe in probes:
        expected = tuple(sorted({name for rng, name in entries if rng.first <= probe <= rng.last}))
        assert table.lookup(str(ipaddress.IPv4Address(probe))) == expected
