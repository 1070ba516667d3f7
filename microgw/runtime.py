"""The immutable runtime: everything a request needs, built once from Settings.

A reload builds a new Runtime and swaps one reference; requests in flight keep the one they started
with. Building never touches the network: remote key sources start their fetches in the background.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import aiohttp
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from microgw.config.errors import ConfigError, ConfigProblem
from microgw.config.model import ApiConfig, Settings
from microgw.applications.index import ApplicationIndex
from microgw.config.security import LOCAL_SERVER_ID
from microgw.keys.providers import FallbackKeySource, KeyFolderWatcher, KeyProblem, key_sources, signing_keyring
from microgw.keys.static import StaticKeySource
from microgw.keys.tls import TlsConfigError, client_context
from microgw.policies import app_signed, pipeline
from microgw.policies.transport import transport_stages
from microgw.services import Services
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.introspection import Introspector
from microgw.tokens.issuer import TokenIssuer
from microgw.tokens.validator import AuthServer, TokenValidator
from microgw.routing import Route, UpstreamTarget
from microgw.users import UserDirectory


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    routes: Mapping[tuple[str, str], Route]
    services: Services
    built_at: float = field(default_factory=time.time)

    async def start(self, previous: "Runtime | None" = None) -> None:
        """Start the background parts this runtime brought; those kept from ``previous`` already run."""
        running = {id(p) for p in previous.services.background} if previous else set()
        for part in self.services.background:
            if id(part) not in running:
                await part.start()

    async def close(self, successor: "Runtime | None" = None) -> None:
        """Close the background parts, except those the ``successor`` runtime took over."""
        kept = {id(p) for p in successor.services.background} if successor else set()
        for part in self.services.background:
            if id(part) not in kept:
                await part.close()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when every background part (e.g. a remote JWKS) has what it needs at least once.

        A JWKS that was never fetched but has keys saved with the parent's download does not hold
        readiness back: tokens validate with the saved keys (see :meth:`degraded`). A probe that
        took such a pod out of service would remove the one that still works while the parent is down.
        """
        covered = {id(part) for part in self.services.saved_keys_for}
        details: dict[str, Any] = {}
        ready = True
        for part in self.services.background:
            has = bool(getattr(part, "ready", True))
            details[getattr(part, "description", repr(part))] = has
            ready = ready and (has or id(part) in covered)
        return ready, details

    def degraded(self) -> list[str]:
        """What works only on saved keys right now (ready, but worth a look)."""
        covered = {id(part) for part in self.services.saved_keys_for}
        return [
            f"{getattr(part, 'description', repr(part))}: not fetched yet, validating with the keys saved with the download"
            for part in self.services.background
            if id(part) in covered and not getattr(part, "ready", True)
        ]


def build_runtime(settings: Settings, previous: Runtime | None = None) -> Runtime:
    """Blocking (reads key files, may create the first managed key): run it off the event loop.

    With ``previous``, unchanged remote key sources are carried over instead of fetched anew.
    """
    problems: list[ConfigProblem] = []
    try:
        client_ssl = client_context(settings.trust_store)
    except TlsConfigError as exc:
        raise ConfigError([ConfigProblem("configuration", "trust_store", str(exc))]) from None
    try:
        services = _security_services(settings, client_ssl, previous)
    except KeyProblem as exc:
        raise ConfigError([ConfigProblem("configuration", exc.path, str(exc))]) from None
    routes: dict[tuple[str, str], Route] = {}
    for index, api in enumerate(settings.apis):
        if not api.active:
            continue
        try:
            routes[api.key] = _route(api, services)
        except (ValueError, ConfigError) as exc:
            problems.append(ConfigProblem("configuration", f"apis[{index}]", str(exc)))
    if problems:
        raise ConfigError(problems)
    return Runtime(settings=settings, routes=MappingProxyType(routes), services=services)


def _security_services(settings: Settings, client_ssl: ssl.SSLContext, previous: Runtime | None) -> Services:
    security = settings.security
    keyring = signing_keyring(settings)
    issuer = None
    if settings.issuer is not None and keyring is not None:
        config = settings.issuer
        try:
            issuer = TokenIssuer(config.issuer, keyring, config.algorithm, config.expiry_seconds, list(config.audience) or None)
        except ValueError as exc:
            raise KeyProblem("issuer", str(exc)) from None
    applications = ApplicationIndex(settings.applications)
    reuse = {getattr(p, "reuse_key", None): p for p in previous.services.background} if previous else {}
    built, remotes = key_sources(settings, client_ssl, keyring, _hmac_sources(applications), reuse)
    servers = [
        AuthServer(
            id=b.config.id,
            name=b.config.name,
            issuer=b.issuer,
            key_sources=b.sources,
            clock_skew=b.config.clock_skew,
            allowed_algs=b.config.algorithms,
        )
        for b in built
    ]
    validator = None
    if servers:
        cache = VerifiedTokenCache(security.token_cache_entries) if security.token_cache_entries else None
        try:
            validator = TokenValidator(servers, default_skew=security.clock_skew, cache=cache, max_token_length=security.max_token_length)
        except ValueError as exc:
            raise KeyProblem("security_settings.auth_servers", str(exc)) from None
    introspectors = _introspectors(settings, client_ssl, reuse)
    background: list = list(remotes) + list(introspectors.values())
    if keyring is not None and settings.issuer.key_alias is None:  # managed keys: follow rotations
        background.append(KeyFolderWatcher(keyring, Path(settings.state_dir) / "keys"))
    saved = tuple(s.remote for b in built for s in b.sources if isinstance(s, FallbackKeySource))
    return Services(
        settings=settings,
        client_ssl=client_ssl,
        background=tuple(background),
        saved_keys_for=saved,
        validator=validator,
        keyring=keyring,
        issuer=issuer,
        users=UserDirectory({u.name: u.password for u in settings.users}, warn_plain=False),  # the loader warns
        admin_users=UserDirectory({settings.admin.user: settings.admin.password} if settings.admin else {}, warn_plain=False),
        applications=applications,
        introspectors=MappingProxyType(introspectors),
    )


def _introspectors(settings: Settings, client_ssl: ssl.SSLContext, reuse: dict) -> dict[str, Introspector]:
    """One RFC 7662 introspector per auth server with ``remoteIntrospectionConfig``; an unchanged one
    of the previous runtime is kept, cache and breaker included."""
    found: dict[str, Introspector] = {}
    for index, server in enumerate(settings.security.auth_servers):
        if server.introspection is None:
            continue
        skew = settings.security.clock_skew if server.clock_skew is None else server.clock_skew
        try:
            made = Introspector(server.id, server.name, server.issuer, server.introspection, clock_skew=skew, ssl_context=client_ssl)
        except ValueError as exc:
            raise KeyProblem(f"security_settings.auth_servers[{index}].remoteIntrospectionConfig", str(exc)) from None
        found[server.id] = reuse.get(made.reuse_key, made)
    return found


def _hmac_sources(applications: ApplicationIndex) -> dict[str, list]:
    """Applications' JWT_HSA secrets, as key sources of the auth server each strategy names.

    The source is named after the application (:func:`app_signed.source_name`) so a token it
    verifies identifies that application.
    """
    extra: dict[str, list] = {}
    for app, strategy in applications.hmac_strategies():
        server = getattr(strategy, "auth_server", None) or LOCAL_SERVER_ID
        source = StaticKeySource.from_hmac_secret(
            strategy.secret, source=app_signed.source_name(app.id), allowed_algs=strategy.algorithms
        )
        extra.setdefault(server, []).append(source)
    return extra


def _route(api: ApiConfig, services: Services) -> Route:
    stages, exchanges = pipeline.build_pipeline(api, services, transport_stages(api))
    scoped = pipeline.build_scoped(api, services, lambda scoped_api: transport_stages(scoped_api, scoped=True))
    upstream = UpstreamTarget.parse(api.endpoint, append_resource=api.append_resource) if api.endpoint else None
    tls: Any = True
    if upstream is not None and upstream.prefix.startswith("https:"):
        tls = services.client_ssl if api.tls_verify else False
    # connect covers waiting for a free pooled connection too, so one slow API cannot stall others
    timeout = aiohttp.ClientTimeout(total=None, connect=api.connect_timeout, sock_connect=api.connect_timeout, sock_read=api.read_timeout)
    return Route(api=api, stages=stages, upstream=upstream, ssl=tls, timeout=timeout, exchanges=exchanges, scoped=scoped)
