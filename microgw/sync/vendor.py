"""Settings in the central gateway's REST shapes (alias, applications, strategies), both ways.

A microgw parent serves its loaded settings in these shapes so a child (microgw or anything that
speaks the vendor's API) can download them; a microgw child turns what it downloads back into the
YAML form the loader validates. Only the subset listed in the README is used.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping

from microgw.config.security import LOCAL_SERVER_ID

JWKS_PATH = "/rest/pub/apigateway/jwt/certs"

# Concise application fields -> the vendor's identifier keys.
_IDENTIFIERS = (
    ("api_keys", "apiKey", "API key"),
    ("basic_users", "httpBasicAuth", "Username"),
    ("ip_ranges", "ipAddressRange", "IP address range"),
    ("hostnames", "hostNameAddress", "Host name"),
)


def application_to_vendor(item: Mapping[str, Any]) -> dict[str, Any]:
    """A configured application (either form) in the vendor's shape; vendor items pass unchanged.

    Registrations travel as ``apis`` (``name/version`` or ``name``), which microgw children read;
    strategies travel inline, so no separate strategy lookup is needed.
    """
    if not {"api_keys", "basic_users", "ip_ranges", "hostnames", "claim_sets", "suspended", "strategies"} & set(item) and (
        "identifiers" in item or "isSuspended" in item or "accessTokens" in item
    ):
        return copy.deepcopy(dict(item))
    identifiers = []
    for field, key, name in _IDENTIFIERS:
        if item.get(field):
            identifiers.append({"key": key, "name": name, "value": list(item[field])})
    for index, claim_set in enumerate(item.get("claim_sets") or ()):
        identifiers.append({"key": "jwtClaims", "name": f"Claim set {index + 1}", "value": [json.dumps(claim_set, sort_keys=True)]})
    out: dict[str, Any] = {
        "id": item["id"],
        "name": item.get("name") or item["id"],
        "description": item.get("description"),
        "isSuspended": bool(item.get("suspended", False)),
        "identifiers": identifiers,
        "apis": list(item.get("apis") or ()),
    }
    strategies = [strategy_to_vendor(s, item["id"], i) for i, s in enumerate(item.get("strategies") or ())]
    if strategies:
        out["strategies"] = strategies
    return out


def strategy_to_vendor(strategy: Mapping[str, Any], app_id: str, index: int) -> dict[str, Any]:
    out = dict(strategy)
    out.setdefault("id", f"{app_id}#strategy-{index}")
    out.setdefault("name", out["id"])
    if isinstance(out.get("secret"), str):
        out["secret"] = {"secret": out["secret"]}
    return out


def served_aliases(raw: Mapping[str, Any], own_issuer: str | None, base_url: str) -> list[dict[str, Any]]:
    """Auth servers and simple aliases as ``GET /rest/apigateway/alias`` lists them.

    This gateway's own issuer is offered as the ``local`` auth server with its JWKS URI, so children
    validate its tokens locally; token generation settings stay with the parent.
    """
    servers = [dict(s) for s in ((raw.get("security_settings") or {}).get("auth_servers") or [])]
    out = []
    for server in servers:
        issuer = (server.get("localIntrospectionConfig") or {}).get("issuer")
        if own_issuer and (server.get("id") == LOCAL_SERVER_ID or issuer == own_issuer):
            continue  # replaced by the entry below
        server.pop("tokenGeneratorConfig", None)
        out.append({**server, "type": "authServerAlias"})
    if own_issuer:
        out.insert(
            0,
            {
                "id": LOCAL_SERVER_ID,
                "name": LOCAL_SERVER_ID,
                "type": "authServerAlias",
                "description": "The parent gateway as an authorization server.",
                "localIntrospectionConfig": {"issuer": own_issuer, "jwksuri": base_url.rstrip("/") + JWKS_PATH},
            },
        )
    for name, alias in (raw.get("aliases") or {}).items():
        out.append({"id": name, "name": name, "type": alias.get("type", "simple"), "value": alias["value"]})
    return out


def served_strategies(applications: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in applications:
        vendor = application_to_vendor(item)
        found.extend(vendor.get("strategies") or ())
    return found


# --- the child's side: vendor answers -> our YAML form ----------------------------------------

_AUTH_SERVER_FIELDS = {
    "id", "name", "description", "type", "owner", "authServerType", "localIntrospectionConfig",
    "remoteIntrospectionConfig", "algorithms", "jwks",
}


def auth_servers_from_aliases(aliases: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``authServerAlias`` entries, minus what only the parent uses (token generation)."""
    servers = []
    for alias in aliases:
        if alias.get("type") != "authServerAlias":
            continue
        server = {k: v for k, v in alias.items() if k in _AUTH_SERVER_FIELDS and k != "tokenGeneratorConfig"}
        servers.append(server)
    return servers


def simple_aliases(aliases: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        a["name"]: {"type": "simple", "value": a["value"]}
        for a in aliases
        if a.get("type") == "simple" and a.get("name") and isinstance(a.get("value"), str)
    }


def applications_with_strategies(apps: Iterable[Mapping[str, Any]], strategies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Vendor applications with their ``authStrategyIds`` resolved inline (as the loader reads them)."""
    by_id = {s["id"]: dict(s) for s in strategies if isinstance(s, Mapping) and s.get("id")}
    out = []
    for app in apps:
        item = dict(app)
        ids = item.pop("authStrategyIds", None) or []
        inline = list(item.get("strategies") or [])
        known = {s.get("id") for s in inline}
        inline += [by_id[i] for i in ids if i in by_id and i not in known]
        if inline:
            item["strategies"] = inline
        out.append(item)
    return out
