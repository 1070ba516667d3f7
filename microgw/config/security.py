"""Model objects for the security sections: auth servers, the local issuer, users, the JWT policy.

Only text-to-model work happens here; keys are loaded and key sources built by the runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

DEFAULT_CLOCK_SKEW = 60
DEFAULT_MAX_TOKEN_LENGTH = 8192
DEFAULT_CACHE_ENTRIES = 10000
DEFAULT_ISSUER = "microgw"
DEFAULT_EXPIRY_MINUTES = 60
DEFAULT_ALGORITHM = "RS256"
VENDOR_ALGS = frozenset({"RS256", "RS384", "RS512"})  # what tokenGeneratorConfig may name
LOCAL_SERVER_ID = "local"


@dataclass(frozen=True, slots=True)
class JwksTuning:
    refresh_interval: float = 600.0
    unknown_kid_cooldown: float = 30.0
    timeout: float = 5.0
    max_bytes: int = 262144


@dataclass(frozen=True, slots=True)
class IntrospectionTuning:
    """microgw's ``introspection`` settings of an auth server with ``remoteIntrospectionConfig``."""

    tokens: str = "opaque"  # opaque: tokens that are not JWTs; all: every token of this server's issuer
    timeout: float = 2.0  # seconds per request: a slow server must not hold requests for long
    cache_ttl: float = 300.0  # an active answer is reused at most this long (and never past its exp)
    inactive_ttl: float = 10.0  # an inactive answer is reused this long
    cache_entries: int = 10000
    failure_threshold: int = 5  # consecutive failures that open the circuit breaker
    open_seconds: float = 10.0  # the breaker stays open this long, then lets one request try


@dataclass(frozen=True, slots=True)
class IntrospectionConfig:
    """RFC 7662 remote introspection (the vendor's remoteIntrospectionConfig)."""

    endpoint: str
    client_id: str | None
    client_secret: str | None = field(repr=False, default=None)
    user: str | None = None
    tuning: IntrospectionTuning = IntrospectionTuning()


@dataclass(frozen=True, slots=True)
class AuthServerConfig:
    id: str
    name: str
    issuer: str | None
    jwks_uri: str | None
    truststore_alias: str | None
    certificate_alias: str | None
    clock_skew: int | None  # None: security_settings.clock_skew
    algorithms: frozenset[str] | None
    jwks: JwksTuning
    introspection: IntrospectionConfig | None
    token_generator: Mapping[str, Any] | None
    jwks_inline: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    clock_skew: int = DEFAULT_CLOCK_SKEW
    max_token_length: int = DEFAULT_MAX_TOKEN_LENGTH
    token_cache_entries: int = DEFAULT_CACHE_ENTRIES
    auth_servers: tuple[AuthServerConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """This gateway as a token issuer. ``key_alias`` None: keys managed in ``state_dir/keys``."""

    issuer: str
    algorithm: str
    expiry_seconds: int
    audience: tuple[str, ...]
    keystore_alias: str | None
    key_alias: str | None
    https_only: bool


@dataclass(frozen=True, slots=True)
class UserConfig:
    name: str
    password: str  # a hash, or plain text decoded from {encoded}


def parse_security(data: Mapping[str, Any] | None) -> SecurityConfig:
    data = data or {}
    return SecurityConfig(
        clock_skew=data.get("clock_skew", DEFAULT_CLOCK_SKEW),
        max_token_length=data.get("max_token_length", DEFAULT_MAX_TOKEN_LENGTH),
        token_cache_entries=data.get("token_cache_entries", DEFAULT_CACHE_ENTRIES),
        auth_servers=tuple(parse_auth_server(item) for item in data.get("auth_servers", [])),
    )


def _skew(local: Mapping[str, Any]) -> int | None:
    """The vendor keeps an auth server's clock skew in ``description`` and uses it when asked to."""
    if not local.get("useLocalClockSkew"):
        return None
    value = local.get("description")
    try:
        return max(0, int(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        raise ValueError("localIntrospectionConfig.description holds the clock skew and must be a whole number of seconds") from None


def parse_auth_server(item: Mapping[str, Any]) -> AuthServerConfig:
    local = item.get("localIntrospectionConfig") or {}
    remote = item.get("remoteIntrospectionConfig") or {}
    jwks = item.get("jwks", {})
    introspection = None
    if remote.get("introspectionEndpoint"):
        tuning = item.get("introspection") or {}
        introspection = IntrospectionConfig(
            remote["introspectionEndpoint"], remote.get("clientId"), remote.get("clientSecret"), remote.get("user"),
            IntrospectionTuning(**{k: tuning[k] for k in IntrospectionTuning.__dataclass_fields__ if k in tuning}),
        )
    algorithms = item.get("algorithms")
    return AuthServerConfig(
        id=item["id"],
        name=item.get("name") or item["id"],
        issuer=local.get("issuer") or None,
        jwks_uri=local.get("jwksuri") or None,
        truststore_alias=local.get("trustStoreAlias") or None,
        certificate_alias=local.get("certificateAlias") or None,
        clock_skew=_skew(local),
        algorithms=frozenset(algorithms) if algorithms else None,
        jwks=JwksTuning(**{k: jwks[k] for k in ("refresh_interval", "unknown_kid_cooldown", "timeout", "max_bytes") if k in jwks}),
        introspection=introspection,
        token_generator=item.get("tokenGeneratorConfig") or None,
        jwks_inline=item.get("jwks_inline") or None,
    )


def parse_issuer(data: Mapping[str, Any] | None, security: SecurityConfig, https_default: bool) -> IssuerConfig | None:
    """Our ``issuer`` section, or the vendor's ``tokenGeneratorConfig`` on the ``local`` auth server."""
    local = next((s for s in security.auth_servers if s.id == LOCAL_SERVER_ID), None)
    generator = dict(local.token_generator) if local and local.token_generator else None
    if data is None and generator is None:
        return None
    data = dict(data or {})
    expiry_seconds = int(float(data.get("expiry_minutes", DEFAULT_EXPIRY_MINUTES)) * 60)
    algorithm = data.get("algorithm", DEFAULT_ALGORITHM)
    audience = data.get("audience")
    if data.get("expiry_minutes") is None and generator:
        vendor = settings_from_token_generator_config(generator)
        expiry_seconds = vendor["expiry_seconds"]
        algorithm = data.get("algorithm", vendor["alg"])
        audience = audience if audience is not None else vendor["audience"]
    if isinstance(audience, str):
        audience = [audience] if audience else []
    signing = data.get("signing_key") or {}
    return IssuerConfig(
        issuer=data.get("issuer") or (local.issuer if local and local.issuer else DEFAULT_ISSUER),
        algorithm=algorithm,
        expiry_seconds=expiry_seconds,
        audience=tuple(audience or ()),
        keystore_alias=signing.get("keystore") if signing else None,
        key_alias=signing.get("key_alias"),
        https_only=data.get("https_only", https_default),
    )


def settings_from_token_generator_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Constructor arguments (``alg``, ``expiry_seconds``, ``audience``) from the vendor's
    ``tokenGeneratorConfig {expiry (minutes), algorithm, audience, accessTokenExpInterval (seconds)}``.

    ``accessTokenExpInterval`` wins when it is set and positive (it is the finer unit, and the vendor
    added it later); otherwise ``expiry`` minutes; otherwise :data:`DEFAULT_EXPIRY_MINUTES`.
    ``algorithm`` defaults to RS256 and must be one of the vendor's RS256/RS384/RS512. An empty ``audience`` means none.
    Raises ValueError for values the vendor would not accept either.
    """
    config = config or {}

    def number(name: str) -> int | None:
        value = config.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"tokenGeneratorConfig.{name} must be a non-negative integer")
        return value

    interval, minutes = number("accessTokenExpInterval"), number("expiry")
    if interval:
        expiry_seconds = interval
    elif minutes:
        expiry_seconds = minutes * 60
    else:
        expiry_seconds = DEFAULT_EXPIRY_MINUTES * 60

    alg = config.get("algorithm") or DEFAULT_ALGORITHM
    if alg not in VENDOR_ALGS:
        raise ValueError(f"tokenGeneratorConfig.algorithm must be one of {sorted(VENDOR_ALGS)}")

    audience = config.get("audience")
    if audience in ("", None, []):
        audience = None
    elif not isinstance(audience, (str, list)):
        raise ValueError("tokenGeneratorConfig.audience must be a string or a list of strings")
    return {"alg": alg, "expiry_seconds": expiry_seconds, "audience": audience}


def parse_users(items: list[Mapping[str, Any]] | None) -> tuple[UserConfig, ...]:
    return tuple(UserConfig(item["name"], item["password"]) for item in items or [])


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "microgw")
