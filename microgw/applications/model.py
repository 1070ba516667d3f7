"""Frozen application models: what the identify and authorize stages read, built once per config.

Both input forms (our concise one and the vendor's) become the same objects, so nothing past
:mod:`microgw.applications.parse` knows which form a user wrote. Credentials (API keys, HMAC
secrets) are left out of ``repr`` so an application can be logged without leaking them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from microgw.jose.algorithms import HMAC_ALGS

from .addresses import IpRange
from .claims import ClaimSet

@dataclass(frozen=True, slots=True)
class HmacStrategy:
    """The vendor's ``JWT_HSA`` strategy: tokens signed with the application's own shared secret.

    A token verified with ``secret`` identifies the application that owns the strategy; its
    ``aud`` must name one of ``audiences``. Only HMAC algorithms are allowed, so an RSA public key
    can never be used as this secret (RS/HS confusion).
    """

    id: str
    secret: bytes = field(repr=False)
    audiences: frozenset[str]
    algorithms: frozenset[str] = HMAC_ALGS
    auth_server: str | None = None  # the vendor's authServerAlias: whose tokens these are (None: local)


@dataclass(frozen=True, slots=True)
class Application:
    """A consumer application and the identifiers that recognise its requests.

    ``apis`` holds registrations as written: ``"name/version"`` (one version) or ``"name"`` (every
    version). ``api_ids`` holds the vendor's API ids (``apiIDs``/``consumingAPIs``), which only the
    caller can map to a name and version. Suspended applications are kept (and found by lookups) so
    the caller can answer "suspended" instead of "unknown".
    """

    id: str
    name: str
    suspended: bool = False
    api_keys: frozenset[str] = field(default=frozenset(), repr=False)
    basic_users: frozenset[str] = frozenset()
    ip_ranges: tuple[IpRange, ...] = ()
    hostnames: frozenset[str] = frozenset()
    claim_sets: tuple[ClaimSet, ...] = ()
    apis: frozenset[str] = frozenset()
    strategies: tuple[HmacStrategy, ...] = ()
    description: str = ""
    api_ids: frozenset[str] = frozenset()
    client_ids: frozenset[str] = frozenset()  # OAuth 2 clients (concise client_ids; vendor OAUTH2 strategies)

    def registered_for(self, api_name: str, api_version: str, api_id: str | None = None) -> bool:
        """Is the application registered for this API (by name and version, by name, or by id)?

        API names cannot hold a slash, so a name that does can never pass as a "name/version" key.
        """
        if api_id is not None and api_id in self.api_ids:
            return True
        if "/" in api_name:
            return False
        return api_name in self.apis or f"{api_name}/{api_version}" in self.apis


def normal_hostname(host: str) -> str:
    """Host names compare case-insensitively and without a trailing root dot (RFC 4343, RFC 1034)."""
    return host.strip().rstrip(".").lower()
