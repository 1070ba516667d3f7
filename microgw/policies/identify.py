"""Identify & Authorize Application (the vendor's ``evaluatePolicy``): which application is calling?

Each rule names an identification type and an application lookup:

* ``jwtClaims`` — the validated token's claims against applications' claim sets (AND inside a set,
  OR across sets), or the application whose ``JWT_HSA`` secret verified the token;
* ``oAuth2Token`` — the OAuth 2 client of the validated or introspected token: its ``client_id``
  (else ``azp``) against applications' ``client_ids`` and ids (:meth:`ApplicationIndex.by_client_id`);
  a token an application signed with its own secret names whatever client it likes, so it never
  identifies by client;
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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.credentials import presented_basic
from microgw.errors import GatewayError, invalid_credentials, missing_credentials
from microgw.policies import jwt
from microgw.policies import oauth2
from microgw.policies.app_signed import applications_of_token, is_app_signed
from microgw.policies.unit import Policy, Staged

if TYPE_CHECKING:
    from microgw.services import Services

UNAUTHORIZED_APP = "Unauthorized application request"
IDENTIFICATION_TYPES = ("jwtClaims", "oAuth2Token", "apiKey", "httpBasicAuth", "ipAddressRange", "hostNameAddress")
TOKEN_TYPES = frozenset({"jwtClaims", "oAuth2Token"})
LOOKUPS = ("strict", "open", "relax")


@dataclass(frozen=True, slots=True)
class IdentificationRule:
    type: str  # one of IDENTIFICATION_TYPES
    lookup: str  # one of LOOKUPS


@dataclass(frozen=True, slots=True)
class IdentifyConfig:
    rules: tuple[IdentificationRule, ...]
    connector: str = "OR"
    allow_anonymous: bool = False
    default_application: str | None = None

    @property
    def reads_token(self) -> bool:
        """jwtClaims and oAuth2Token need a validated token: this policy validates one when no jwt
        or oauth2 policy does."""
        return any(rule.type in TOKEN_TYPES for rule in self.rules)


_TYPE = {"enum": list(IDENTIFICATION_TYPES)}
_LOOKUP = {"enum": list(LOOKUPS)}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Identify & Authorize Application (the vendor's evaluatePolicy).",
    "required": ["rules"],
    "properties": {
        "rules": {
            "type": "array",
            "minItems": 1,
            "description": "Identification types, each a name or {type, lookup}.",
            "items": {
                "oneOf": [
                    _TYPE,
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type"],
                        "properties": {"type": _TYPE, "lookup": _LOOKUP},
                    },
                ]
            },
        },
        "lookup": {**_LOOKUP, "description": "Default for rules that name none (default strict)."},
        "connector": {
            "enum": ["OR", "AND"],
            "description": "OR: any rule may identify; AND: every rule must identify the same application (default OR).",
        },
        "allow_anonymous": {
            "type": "boolean",
            "description": "Requests that present no credentials pass without an application (default false).",
        },
        "default_application": {
            "type": "string",
            "description": "relax lookup: the application used when no registered one is identified.",
        },
    },
}


def parse(data: Mapping[str, Any]) -> IdentifyConfig:
    default_lookup = data.get("lookup", "strict")
    rules = []
    for item in data["rules"]:
        if isinstance(item, str):
            rules.append(IdentificationRule(item, default_lookup))
        else:
            rules.append(IdentificationRule(item["type"], item.get("lookup", default_lookup)))
    return IdentifyConfig(
        rules=tuple(rules),
        connector=data.get("connector", "OR"),
        allow_anonymous=data.get("allow_anonymous", False),
        default_application=data.get("default_application"),
    )


def check(config: IdentifyConfig, checks: PolicyChecks) -> None:
    default = config.default_application
    if default is not None and default not in checks.application_ids:
        checks.fail_unknown(["default_application"], f"no application with id {default!r}")


def unauthorized_app(detail: str) -> GatewayError:
    """The vendor's message, with a short reason that names no secret."""
    return GatewayError(403, "unauthorized_application", f"{UNAUTHORIZED_APP}: {detail}")


class IdentifyStage:
    __slots__ = ("api", "config", "apps", "users", "api_key_header", "dns", "challenge")

    def __init__(self, api: ApiConfig, config: IdentifyConfig, services: "Services") -> None:
        self.api = api
        self.config = config
        self.apps = services.applications
        self.users = services.users
        self.api_key_header = services.settings.api_key_header
        self.dns = services.reverse_dns
        types = {rule.type for rule in config.rules}
        self.challenge = "Bearer" if types & TOKEN_TYPES else "Basic" if "httpBasicAuth" in types else "APIKey"

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
        if kind == "oAuth2Token":
            verified = ctx.jwt
            if verified is None:
                return None
            if is_app_signed(verified):
                return ()
            client = verified.claims.get("client_id")
            if not isinstance(client, str):
                client = verified.claims.get("azp")
            return apps.by_client_id(client) if apps and isinstance(client, str) and client else ()
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
            credentials = presented_basic(ctx.request.headers.get("Authorization"))
            if credentials is None:
                return None
            user, password = credentials
            if not await self.users.verify(user, password, client=ctx.request.remote or ""):
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


def build(api: ApiConfig, config: IdentifyConfig, services: "Services") -> Staged:
    stages: Staged = [("identify", IdentifyStage(api, config, services))]
    if "jwt" not in api.policies and "oauth2" not in api.policies and config.reads_token:
        # jwtClaims / oAuth2Token need a validated token: validate one when present, with every auth
        # server; oAuth2Token also takes tokens that must be introspected.
        optional = jwt.JwtConfig(required=False)
        if any(rule.type == "oAuth2Token" for rule in config.rules):
            stages += oauth2.stages(oauth2.OAuth2Config(token=optional), services)
        else:
            stages += jwt.stages(optional, services)
    return stages


POLICY = Policy(
    name="identify",
    schema=SCHEMA,
    parse=parse,
    build=build,
    check=check,
    provides=lambda config: frozenset({jwt.TOKEN}) if config.reads_token else frozenset(),
)
