"""The shared parts a runtime builds once and its policies and endpoints use.

A room of its own, below ``policies`` and ``endpoints`` (which receive it) and ``runtime`` (which
builds it), so policy builders are typed against it without importing the runtime.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping

from microgw.applications.hostnames import ReverseDns
from microgw.applications.index import ApplicationIndex
from microgw.config.model import Settings
from microgw.keys.signing import KeyringRef
from microgw.tokens.issuer import TokenIssuer
from microgw.tokens.validator import TokenValidator
from microgw.users import UserDirectory


@dataclass(frozen=True)
class Services:
    """Shared parts the policies and endpoints use; built once per runtime."""

    settings: Settings
    client_ssl: ssl.SSLContext
    background: tuple[Any, ...] = ()  # objects with async start()/close() and a `ready` flag
    saved_keys_for: tuple[Any, ...] = ()  # background JWKS sources with saved keys to validate with until fetched
    validator: TokenValidator | None = None
    keyring: KeyringRef | None = None
    issuer: TokenIssuer | None = None
    users: UserDirectory = field(default_factory=lambda: UserDirectory({}))  # gateway users, async checks
    admin_users: UserDirectory = field(default_factory=lambda: UserDirectory({}))  # the admin user alone
    applications: ApplicationIndex | None = None
    reverse_dns: ReverseDns = field(default_factory=ReverseDns)
    # RFC 7662 introspectors by auth server id (issue 13). A policy unit cannot bring runtime-wide
    # parts of its own; the introspection cache and circuit breaker must be shared by every API and
    # survive reloads, so they live here and in `background` like the remote JWKS sources.
    introspectors: Mapping[str, Any] = field(default_factory=dict)
