"""IPv4/IPv6 address ranges and a lookup table that answers "who holds this address" in O(log n).

Accepted forms: the vendor's ``10.0.0.1-10.0.0.9`` (inclusive), CIDR ``192.168.0.0/24`` and a single
address (``::1``). IPv4-mapped IPv6 (``::ffff:10.0.0.1``, what a dual-stack listener reports) is
treated as the IPv4 address, in ranges and in lookups, so one rule covers both listeners.

The table cuts the address space at every range boundary into disjoint segments, each holding
the items that cover it; a lookup is one bisect. Building is O(b log b) for b boundaries (plus the
output: nested ranges put an item into every segment they span).
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, repr=False)
class IpRange:
    """An inclusive range of addresses of one IP version; ``text`` is what the user wrote."""

    version: int
    first: int
    last: int
    text: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return f"IpRange({self.text or self.first!r})"

    def __contains__(self, address: str) -> bool:
        found = address_value(address)
        return found is not None and found[0] == self.version and self.first <= found[1] <= self.last


def _unmap(version: int, value: int) -> tuple[int, int]:
    if version == 6 and value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
        return 4, value & 0xFFFFFFFF
    return version, value


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an IP address") from None


def parse_range(text: str) -> IpRange:
    """Parse one range; ValueError says what is wrong (and suggests the fix where one is obvious)."""
    spec = text.strip()
    if not spec:
        raise ValueError("an empty IP range")
    if "/" in spec:
        try:
            net = ipaddress.ip_network(spec, strict=True)
        except ValueError as exc:
            try:
                loose = ipaddress.ip_network(spec, strict=False)
            except ValueError:
                raise ValueError(f"{spec!r} is not a CIDR range ({exc})") from None
            raise ValueError(f"{spec!r} has host bits set; did you mean {loose}?") from None
        version, first, last = net.version, int(net.network_address), int(net.broadcast_address)
    elif "-" in spec:
        low_text, high_text = spec.split("-", 1)
        low, high = _address(low_text), _address(high_text)
        if low.version != high.version:
            raise ValueError(f"{spec!r} mixes IPv4 and IPv6")
        if int(low) > int(high):
            raise ValueError(f"{spec!r} starts after it ends")
        version, first, last = low.version, int(low), int(high)
    else:
        single = _address(spec)
        version, first, last = single.version, int(single), int(single)
    if version == 6 and first >> 32 == 0xFFFF and last >> 32 == 0xFFFF:  # wholly IPv4-mapped
        version, first, last = 4, first & 0xFFFFFFFF, last & 0xFFFFFFFF
    return IpRange(version, first, last, spec)


def address_value(address: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an address as a client connection reports it; None when not one.

    ``inet_pton`` is strict (no ``010.1``, no ``1.2.3``) and several times faster than ``ipaddress``.
    A zone (``fe80::1%eth0``) is dropped: ranges do not carry zones.
    """
    if not isinstance(address, str):
        address = str(address)
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
    except OSError:
        pass
    percent = address.find("%")
    if percent != -1:
        address = address[:percent]
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
    except OSError:
        return None
    return _unmap(6, value)


class AddressTable(Generic[T]):
    """Immutable ``address -> items`` lookup over possibly overlapping ranges.

    Items of a segment come out sorted by ``key`` and without duplicates, so answers are stable.
    """

    __slots__ = ("_starts", "_items")

    def __init__(self, entries: Iterable[tuple[IpRange, T]], key: Callable[[T], object]) -> None:
        by_version: dict[int, list[tuple[IpRange, T]]] = {4: [], 6: []}
        for rng, item in entries:
            by_version[rng.version].append((rng, item))
        self._starts: dict[int, list[int]] = {}
        self._items: dict[int, list[tuple[T, ...]]] = {}
        for version, pairs in by_version.items():
            self._starts[version], self._items[version] = _segments(pairs, key)

    def lookup(self, address: str) -> tuple[T, ...]:
        """Items whose ranges contain ``address``; ``()`` for none or for text that is no address."""
        found = address_value(address)
        if found is None:
            return ()
        version, value = found
        index = bisect_right(self._starts[version], value) - 1
        return self._items[version][index] if index >= 0 else ()


def _segments(pairs: list[tuple[IpRange, T]], key: Callable[[T], object]) -> tuple[list[int], list[tuple[T, ...]]]:
    """Sweep the boundaries; segment i covers ``[starts[i], starts[i+1])``."""
    items: list[T] = []
    slot: dict[int, int] = {}  # id(item) -> position in items (items need not be hashable)
    events: dict[int, list[tuple[int, int]]] = {}
    for rng, item in pairs:
        position = slot.setdefault(id(item), len(items))
        if position == len(items):
            items.append(item)
        events.setdefault(rng.first, []).append((position, 1))
        events.setdefault(rng.last + 1, []).append((position, -1))
    starts: list[int] = []
    members: list[tuple[T, ...]] = []
    previous: tuple[int, ...] | None = None
    active: dict[int, int] = {}
    for point in sorted(events):
        for position, delta in events[point]:
            count = active.get(position, 0) + delta
            if count:
                active[position] = count
            else:
                del active[position]
        current = tuple(sorted(active, key=lambda p: key(items[p])))
        if current == previous:
            continue  # same holders as the segment before: extend it
        previous = current
        starts.append(point)
        members.append(tuple(items[p] for p in current))
    return starts, members
