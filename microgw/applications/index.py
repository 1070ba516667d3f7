"""Which application sent this request? Lookups built once, never a scan over all applications.

Every lookup costs O(1) or O(log n) in the number of applications n; answers that may hold several
applications come sorted by id, and the caller decides what ambiguity means (the vendor answers
"Unable to uniquely identify application"). Suspended applications are found like the others; the
caller refuses them with a better message than "unknown".

Claims (:meth:`ApplicationIndex.by_claims`): every claim set is filed under one *anchor*, a
``(claim name, value)`` pair any matching token must carry - one expected scalar, or one element
of an expected list. The anchor chosen is the rarest pair over all sets, so a claim every set shares
(``iss``) does not pile all sets into one bucket. A lookup resolves only the anchor claim names
the token can have, looks each value (or each element of a list value) up in a dict, and checks
the few candidate sets in full. Cost: O(c + v + m*s) for c anchor names considered (at most the
token's top-level claims, or the distinct anchor names if fewer), v values looked up, m candidate
sets of s claims - independent of n unless many sets share their rarest pair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .addresses import AddressTable
from .claims import MISSING, ClaimSet, resolve, value_key
from .model import Application, HmacStrategy, normal_hostname


def _by_id(app: Application) -> str:
    return app.id


class ApplicationIndex:
    """An immutable set of applications with fast identification lookups.

    Raises ValueError when two applications share an id or an API key (``parse`` reports both as
    problems, so this only guards hand-built inputs).
    """

    __slots__ = ("_all", "_ids", "_keys", "_users", "_hosts", "_addresses", "_claims", "_claim_names",
                 "_names_by_member", "_hmac", "_clients")

    def __init__(self, apps: Iterable[Application]) -> None:
        self._all: tuple[Application, ...] = tuple(sorted(apps, key=_by_id))
        self._ids: dict[str, Application] = {}
        self._keys: dict[str, Application] = {}
        users: dict[str, list[Application]] = {}
        hosts: dict[str, list[Application]] = {}
        for app in self._all:
            if self._ids.setdefault(app.id, app) is not app:
                raise ValueError(f"application id {app.id!r} is used twice")
            for key in app.api_keys:
                if self._keys.setdefault(key, app) is not app:
                    raise ValueError(f"applications {self._keys[key].id!r} and {app.id!r} hold the same API key")
            for user in app.basic_users:
                users.setdefault(user, []).append(app)
            for host in app.hostnames:
                hosts.setdefault(normal_hostname(host), []).append(app)
        self._users = {user: tuple(found) for user, found in users.items()}
        self._hosts = {host: tuple(found) for host, found in hosts.items()}
        self._addresses = AddressTable(((rng, app) for app in self._all for rng in app.ip_ranges), key=_by_id)
        self._claims, self._claim_names, self._names_by_member = _claim_index(self._all)
        self._hmac = tuple((app, strategy) for app in self._all for strategy in app.strategies)
        # Only client ids written as such: an application id alone is found in _ids (a tuple of one per
        # application here was 1 MB for 10,000 of them).
        clients: dict[str, set[str]] = {}
        for app in self._all:
            for client_id in app.client_ids:
                clients.setdefault(client_id, set()).add(app.id)
        for client_id, ids in clients.items():
            if client_id in self._ids:
                ids.add(client_id)
        self._clients = {cid: tuple(self._ids[i] for i in sorted(ids)) for cid, ids in clients.items()}

    def all(self) -> tuple[Application, ...]:
        return self._all

    def __len__(self) -> int:
        return len(self._all)

    def by_id(self, app_id: str) -> Application | None:
        return self._ids.get(app_id)

    def by_api_key(self, key: str) -> Application | None:
        """Exact match; API keys are unique across applications."""
        return self._keys.get(key)

    def by_basic_user(self, user: str) -> tuple[Application, ...]:
        """Applications listing this HTTP Basic user name (exact, case-sensitive)."""
        return self._users.get(user, ())

    def by_client_id(self, client_id: str) -> tuple[Application, ...]:
        """Applications an OAuth 2 ``client_id`` names: those listing it in ``client_ids``, and the
        application whose id it is (this gateway's own tokens carry ``client_id`` = application id)."""
        found = self._clients.get(client_id)
        if found is not None:
            return found
        app = self._ids.get(client_id)
        return (app,) if app is not None else ()

    def by_hostname(self, host: str) -> tuple[Application, ...]:
        """Applications listing this host name (case-insensitive, trailing dot ignored)."""
        return self._hosts.get(normal_hostname(host), ())

    def by_address(self, ip: str) -> tuple[Application, ...]:
        """Applications whose IP ranges contain ``ip``; ``()`` for text that is not an address."""
        return self._addresses.lookup(ip)

    def by_claims(self, claims: Mapping[str, Any]) -> tuple[Application, ...]:
        """Applications with at least one claim set that the token's claims match."""
        if not self._claims or (claims.__class__ is not dict and not isinstance(claims, Mapping)):
            return ()
        found: dict[str, Application] = {}
        for name in self._names_in(claims):
            value = resolve(claims, name)
            if value is MISSING:
                continue
            buckets = self._claims[name]
            for element in value if isinstance(value, (list, tuple)) else (value,):
                candidates = buckets.get(value_key(element))
                if candidates:
                    for claim_set, app in candidates:
                        if app.id not in found and claim_set.matches(claims):
                            found[app.id] = app
        if len(found) < 2:
            return tuple(found.values())
        return tuple(found[app_id] for app_id in sorted(found))

    def hmac_strategies(self) -> tuple[tuple[Application, HmacStrategy], ...]:
        """Every HMAC strategy with its application, applications sorted by id."""
        return self._hmac

    def _names_in(self, claims: Mapping[str, Any]) -> Iterable[str]:
        """Anchor names the token can resolve: all of them when they are few, otherwise only those
        reachable from the token's own top-level members (a dotted name is reachable from its whole
        self or from any prefix ending before a dot)."""
        if len(self._claim_names) <= len(claims):
            return self._claim_names
        names: dict[str, None] = {}
        for member in claims:
            for name in self._names_by_member.get(member, ()):
                names[name] = None
        return names


def _claim_index(apps: tuple[Application, ...]):
    """``name -> value key -> ((set, app), ...)`` with each set filed under its rarest anchor."""
    frequency: Counter = Counter()
    for app in apps:
        for claim_set in app.claim_sets:
            frequency.update(set(claim_set.anchors()))
    buckets: dict[str, dict[Any, list[tuple[ClaimSet, Application]]]] = {}
    for app in apps:
        for claim_set in app.claim_sets:
            name, key = min(set(claim_set.anchors()), key=lambda a: (frequency[a], a[0], repr(a[1])))
            buckets.setdefault(name, {}).setdefault(key, []).append((claim_set, app))
    frozen = {name: {key: tuple(sets) for key, sets in by_key.items()} for name, by_key in buckets.items()}
    names = tuple(sorted(frozen))
    by_member: dict[str, list[str]] = {}
    for name in names:
        by_member.setdefault(name, []).append(name)
        dot = name.find(".")
        while dot != -1:
            by_member.setdefault(name[:dot], []).append(name)
            dot = name.find(".", dot + 1)
    return frozen, names, {member: tuple(found) for member, found in by_member.items()}
