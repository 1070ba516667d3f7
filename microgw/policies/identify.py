"""Identify & Authorize Application (the vendor's ``evaluatePolicy``): which application is calling?

Each rule names an identification type and an application lookup:

* ``jwtClaims`` — the validated token's claims against applications' claim sets (AND inside a set,
  OR across sets), or the application whose ``JWT_HSA`` secret verified the token;
* ``apiKey`` — the API key header (``extended_settings.apiKeyHeader``, default ``x-Gateway-APIKey``);
* ``httpBasicAuth`` — a gateway user (password checked) named in an application's ``basic_users``;
* ``ipAddressRange`` / ``hostNameAddress`` — the client's address / its reverse-DNS name.

Lookups: ``strict`` keeps only applications registered for this API; ``open`` any application;
``relax`` any application, else ``default_application`` when nothing identified one (also when no
credentials were presented: the default application stands for unidentified callers).

Outcomes: nothing presented -> 401 (or pass, with ``allow_anonymous``); a presented credential that
is invalid (unknown API key, wrong password, bad token) -> 401; valid credentials that identify no
application, an unregistered or suspended one, or more than one -> 403 "Unauthorized application
request". OR: any rule may identify, all that do must agree. AND: every rule must identify the same
single application. Address rules count as presented only when some application holds the address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from typing import Any

from microgw.config.model import ApiConfig
from microgw.config.policies import IdentificationRule, IdentifyPolicyConfig, parse_identify
from microgw.config.security import JwtPolicyConfig
from microgw.credentials import parse_basic
from microgw.errors import GatewayError, TokenError, invalid_credentials, missing_credentials
from microgw.policies.context import RequestContext
from microgw.policies.jwt import HMAC_SOURCE_PREFIX, AudienceCheck, JwtAuthenticate
from microgw.policies.pipeline import register
from microgw.tokens.claims import audience_values

log = logging.getLogger("microgw.identify")

UNAUTHORIZED_APP = "Unauthorized application request"


def hmac_owner(verified: Any, apps: Any):
    """The application whose JWT_HSA secret verified this token, or None for any other key.

    Such a token identifies exactly its owner — never whoever its claims would match, since the
    owner chose them — and only when its ``aud`` names one of the owner's strategy audiences.
    """
    source = verified.key_source or ""
    if not source.startswith(HMAC_SOURCE_PREFIX):
        return None
    owner = apps.by_id(source[len(HMAC_SOURCE_PREFIX):]) if apps is not None else None
    if owner is None:
        raise TokenError("the application that owns this key is unknown")
    accepted = frozenset().union(*(strategy.audiences for strategy in owner.strategies))
    if not any(value in accepted for value in audience_values(verified.claims)):
        raise GatewayError(403, "audience_not_allowed", "A token signed with an application's secret must name one of its strategy audiences")
    return owner


def applications_of_token(verified: Any, apps: Any) -> tuple:
    """What a validated token identifies: the secret's owner, else the applications its claims match."""
    owner = hmac_owner(verified, apps)
    if owner is not None:
        return (owner,)
    return tuple(apps.by_claims(verified.claims)) if apps is not None else ()


def unauthorized_app(detail: str) -> GatewayError:
    """The vendor's message, with a short reason that names no secret."""
    return GatewayError(403, "unauthorized_application", f"{UNAUTHORIZED_APP}: {detail}")


class ReverseDns:
    """Client address -> host name, asynchronously, cached (bounded, 5 minutes), 1 s timeout.

    The name counts only when it resolves back to the same address (forward-confirmed), since
    whoever controls the reverse zone of an address can otherwise claim any name.
    """

    def __init__(self, size: int = 4096, ttl: float = 300.0) -> None:
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._size = size
        self._ttl = ttl

    async def name(self, address: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(address)
        if hit and hit[1] > now:
            return hit[0]
        loop = asyncio.get_running_loop()
        try:
            host, _ = await asyncio.wait_for(loop.getnameinfo((address, 0), socket.NI_NAMEREQD), timeout=1.0)
            forward = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=1.0)
            if address not in {info[4][0] for info in forward}:
                host = None
        except (OSError, asyncio.TimeoutError, ValueError):
            host = None
        self._cache[address] = (host, now + self._ttl)
        self._cache.move_to_end(address)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return host


class IdentifyStage:
    __slots__ = ("api", "config", "apps", "users", "api_key_header", "dns", "challenge")

    def __init__(self, api: ApiConfig, config: IdentifyPolicyConfig, services: Any) -> None:
        self.api = api
        self.config = config
        self.apps = services.applications
        self.users = services.users
        self.api_key_header = services.settings.api_key_header
        self.dns = services.reverse_dns
        types = {rule.type for rule in config.rules}
        self.challenge = "Bearer" if "jwtClaims" in types else "Basic" if "httpBasicAuth" in types else "APIKey"

    async def apply(self, ctx: RequestContext) -> None:
        config = self.config
        results: list[tuple[IdentificationRule, tuple]] = []
        for rule in config.rules:
            found = await self._identify(rule.type, ctx)
            if found is not None:
                results.append((rule, found))
        if not results:
            default = self._default()
            if default is not None and default.suspended:
                raise unauthorized_app("the application is suspended")
            if default is not None:
                ctx.application = default
                ctx.identified_by = "default"
                return
            if config.allow_anonymous:
                return
            if config.connector == "OR" or len(config.rules) == 1:
                raise missing_credentials("Credentials that identify an application are required", self.challenge)
        if config.connector == "AND" and len(results) < len(config.rules):
            raise missing_credentials("Every identification of this API must be presented", self.challenge)
        app = self._decide(results)
        if app.suspended:
            raise unauthorized_app("the application is suspended")
        ctx.application = app
        ctx.identified_by = ",".join(rule.type for rule, _ in results)

    def _decide(self, results: list[tuple[IdentificationRule, tuple]]):
        api = self.api
        chosen: set | None = None
        unregistered = False
        for rule, apps in results:
            if rule.lookup == "strict":
                kept = tuple(a for a in apps if a.registered_for(api.name, api.version, api.id))
                unregistered = unregistered or (bool(apps) and not kept)
                apps = kept
            ids = {a.id for a in apps}
            if self.config.connector == "AND":
                chosen = ids if chosen is None else chosen & ids
            else:
                chosen = ids if chosen is None else chosen | ids
        chosen = chosen or set()
        if not chosen:
            default = self._default()
            if default is not None:
                return default
        if len(chosen) > 1:
            raise unauthorized_app("the credentials match more than one application")
        if not chosen:
            raise unauthorized_app("the application is not registered for this API" if unregistered else "no application matches")
        return self.apps.by_id(next(iter(chosen)))

    def _default(self):
        """relax: the default application, when one is configured."""
        if self.config.default_application and self.apps and any(r.lookup == "relax" for r in self.config.rules):
            return self.apps.by_id(self.config.default_application)
        return None

    async def _identify(self, kind: str, ctx: RequestContext) -> tuple | None:
        """The applications one identification type finds; None when nothing of that type was presented."""
        apps = self.apps
        if kind == "jwtClaims":
            verified = ctx.jwt
            if verified is None:
                return None
            return applications_of_token(verified, apps)
        if kind == "apiKey":
            key = ctx.request.headers.get(self.api_key_header)
            if key is None:
                return None
            ctx.remove_headers.add(self.api_key_header.lower())
            app = apps.by_api_key(key) if apps else None
            if app is None:
                raise invalid_credentials("Unknown API key", "APIKey")
            return (app,)
        if kind == "httpBasicAuth":
            try:
                credentials = parse_basic(ctx.request.headers.get("Authorization"))
            except ValueError:
                raise invalid_credentials("Malformed Basic credentials") from None
            if credentials is None:
                return None
            user, password = credentials
            if not await self.users.verify(user, password):
                raise invalid_credentials("Invalid user name or password")
            ctx.remove_headers.add("authorization")
            ctx.basic_user = user
            return apps.by_basic_user(user) if apps else ()
        if kind == "ipAddressRange":
            found = apps.by_address(ctx.client_ip) if apps and ctx.client_ip else ()
            return found or None
        if kind == "hostNameAddress":
            if not apps or not ctx.client_ip:
                return None
            host = await self.dns.name(ctx.client_ip)
            found = apps.by_hostname(host) if host else ()
            return found or None
        raise AssertionError(f"unknown identification type {kind}")  # the schema lists every type


@register("identify")
def build(api: ApiConfig, raw: Any, services: Any) -> list[tuple[str, Any]]:
    config = parse_identify(raw)
    stages: list[tuple[str, Any]] = [("identify", IdentifyStage(api, config, services))]
    if "jwt" not in api.policies and any(rule.type == "jwtClaims" for rule in config.rules):
        # jwtClaims needs a validated token: validate one when present, with every auth server.
        implicit = JwtPolicyConfig(required=False)
        issuer = services.settings.issuer
        own = frozenset(issuer.audience) if issuer else frozenset()
        public = services.settings.server.public_urls
        stages += [("authenticate", JwtAuthenticate(implicit, services.validator)), ("authorize", AudienceCheck(implicit, own, public))]
    return stages
