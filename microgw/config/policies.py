"""Model objects of the identify and outbound policies (the jwt policy is in config.security)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

LOOKUPS = ("strict", "open", "relax")


@dataclass(frozen=True, slots=True)
class IdentificationRule:
    type: str  # jwtClaims | apiKey | httpBasicAuth | ipAddressRange | hostNameAddress
    lookup: str  # strict | open | relax


@dataclass(frozen=True, slots=True)
class IdentifyPolicyConfig:
    rules: tuple[IdentificationRule, ...]
    connector: str = "OR"
    allow_anonymous: bool = False
    default_application: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityHeaders:
    application_id: str | None = None
    application_name: str | None = None
    claims: tuple[tuple[str, str], ...] = ()  # (header, dotted claim)

    def names(self) -> set[str]:
        found = {h for h in (self.application_id, self.application_name) if h}
        return {n.lower() for n in found | {h for h, _ in self.claims}}


@dataclass(frozen=True, slots=True)
class OutboundPolicyConfig:
    auth: str = "NONE"
    basic_user: str | None = None
    basic_password: str | None = None
    remove_headers: frozenset[str] = frozenset()  # lower-case
    identity: IdentityHeaders = IdentityHeaders()


def parse_identify(data: Mapping[str, Any]) -> IdentifyPolicyConfig:
    default_lookup = data.get("lookup", "strict")
    rules = []
    for item in data["rules"]:
        if isinstance(item, str):
            rules.append(IdentificationRule(item, default_lookup))
        else:
            rules.append(IdentificationRule(item["type"], item.get("lookup", default_lookup)))
    return IdentifyPolicyConfig(
        rules=tuple(rules),
        connector=data.get("connector", "OR"),
        allow_anonymous=data.get("allow_anonymous", False),
        default_application=data.get("default_application"),
    )


def parse_outbound(data: Mapping[str, Any]) -> OutboundPolicyConfig:
    basic = data.get("basic") or {}
    identity = data.get("identity_headers") or {}
    return OutboundPolicyConfig(
        auth=data.get("auth", "NONE"),
        basic_user=basic.get("user"),
        basic_password=basic.get("password"),
        remove_headers=frozenset(h.lower() for h in data.get("remove_headers", ())),
        identity=IdentityHeaders(
            application_id=identity.get("application_id"),
            application_name=identity.get("application_name"),
            claims=tuple((identity.get("claims") or {}).items()),
        ),
    )
