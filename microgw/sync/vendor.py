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

    The form is told exactly as the loader tells it (:func:`is_vendor_form`), so an application is
    never read one way here and another way there. Registrations travel as ``apis`` (``name/version``
    or ``name``), which microgw children read; strategies travel inline, so no separate strategy
    lookup is needed.
    """
    from microgw.applications.parse import is_vendor_form

    if is_vendor_form(item):
        return copy.deepcopy(dict(item))
    identifiers = []
    for field, key, name in _IDENTIFIERS:
        if item.get(field):
            identifiers.append({"key": key, "name": name, "value": list(item[field])})
    for index, claim_set in enumerate(item.get("claim_sets") or ()):
        identifiers.append({"key": "jwtClaims", "name": f"Claim set {index + 1}", "value": [json.dumps(claim_set, sort_keys=True)]})
    app_id = item["id"]  # an item with the vendor's `applicationID` is vendor form and passed above
    out: dict[str, Any] = {
        "id": app_id,
        "name": item.get("name") or app_id,
        "description": item.get("description"),
        "isSuspended": bool(item.get("suspended", False)),
        "identifiers": identifiers,
        "apis": list(item.get("apis") or ()),
    }
    strategies = [strategy_to_vendor(s, app_id, i) for i, s in enumerate(item.get("strategies") or ())]
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


def served_aliases(
    raw: Mapping[str, Any], own_issuer: str | None, base_url: str, withheld: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Auth servers and simple aliases as ``GET /rest/apigateway/alias`` lists them.

    This gateway's own issuer is offered as the ``local`` auth server with its JWKS URI, so children
    validate its tokens locally; token generation settings stay with the parent. A child can only
    use what it can fetch: servers without a JWKS URI (certificate or introspection only) are not
    served, and ``(id, why)`` of each is added to ``withheld``; truststore and certificate aliases
    (names in this gateway's truststores) are left out of the rest.
    """
    withheld = [] if withheld is None else withheld
    servers = [dict(s) for s in ((raw.get("security_settings") or {}).get("auth_servers") or [])]
    out = []
    for server in servers:
        local = dict(server.get("localIntrospectionConfig") or {})
        issuer = local.get("issuer")
        if own_issuer and (server.get("id") == LOCAL_SERVER_ID or issuer == own_issuer):
            continue  # replaced by the entry below
        if not local.get("jwksuri"):
            why = "it has a certificate but no JWKS URI" if local.get("certificateAlias") else "it has no JWKS URI"
            withheld.append((str(server.get("id")), why))
            continue
        for name in ("trustStoreAlias", "certificateAlias"):
            local.pop(name, None)
        server.pop("tokenGeneratorConfig", None)
        server.pop("jwks_inline", None)
        out.append({**server, "localIntrospectionConfig": local, "type": "authServerAlias"})
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

PARENT_LOCAL_ID = "parent-local"  # the parent's `local` auth server, as a child keeps it

_AUTH_SERVER_FIELDS = {
    "id", "name", "description", "type", "owner", "authServerType", "localIntrospectionConfig",
    "remoteIntrospectionConfig", "algorithms", "jwks",
}
_CERTIFICATE_FIELDS = ("trustStoreAlias", "certificateAlias")


class VendorShapeError(ValueError):
    """A parent's answer does not have the shape the vendor's REST API gives it."""


def objects(items: Any, what: str) -> list[Mapping[str, Any]]:
    """``items`` as a list of objects, or VendorShapeError: nothing below may trip over a stray value."""
    if not isinstance(items, list):
        raise VendorShapeError(f"{what} is not a list")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise VendorShapeError(f"{what}[{index}] is not an object")
    return items


def _text_or_none(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise VendorShapeError(f"{what} is not text")
    return value


def auth_servers_from_aliases(aliases: Iterable[Mapping[str, Any]], warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """The ``authServerAlias`` entries, minus what only the parent uses (token generation).

    A child has neither the parent's truststores nor its introspection client: a server without a
    JWKS URI could validate nothing here (and a certificate alias would name a truststore the child
    lacks, refusing the whole download), nor could one without an issuer; such servers are dropped
    and certificate fields removed, each with a warning.
    """
    warnings = [] if warnings is None else warnings
    servers = []
    for index, alias in enumerate(objects(list(aliases), "alias")):
        if alias.get("type") != "authServerAlias":
            continue
        if not isinstance(alias.get("id"), str) or not alias["id"]:
            raise VendorShapeError(f"alias[{index}]: an auth server needs a text id")
        local = alias.get("localIntrospectionConfig")
        if local is not None and not isinstance(local, Mapping):
            raise VendorShapeError(f"alias[{index}].localIntrospectionConfig is not an object")
        local = dict(local or {})
        issuer = _text_or_none(local.get("issuer"), f"alias[{index}].localIntrospectionConfig.issuer")
        if not _text_or_none(local.get("jwksuri"), f"alias[{index}].localIntrospectionConfig.jwksuri"):
            warnings.append(f"auth server {alias['id']!r} of the parent has no JWKS URI (a certificate or remote introspection only); not used here")
            continue
        if not issuer:
            warnings.append(f"auth server {alias['id']!r} of the parent has no issuer (tokens are matched to servers by `iss`); not used here")
            continue
        if any(local.get(name) for name in _CERTIFICATE_FIELDS):
            warnings.append(f"auth server {alias['id']!r} of the parent names a certificate of the parent's truststore; only its JWKS URI is used here")
        for name in _CERTIFICATE_FIELDS:
            local.pop(name, None)
        server = {k: v for k, v in alias.items() if k in _AUTH_SERVER_FIELDS}
        server["localIntrospectionConfig"] = local
        servers.append(server)
    return servers


def simple_aliases(aliases: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        a["name"]: {"type": "simple", "value": a["value"]}
        for a in objects(list(aliases), "alias")
        if a.get("type") == "simple" and isinstance(a.get("name"), str) and a["name"] and isinstance(a.get("value"), str)
    }


def applications_with_strategies(apps: Iterable[Mapping[str, Any]], strategies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Vendor applications with their ``authStrategyIds`` resolved inline (as the loader reads them)."""
    by_id = {s["id"]: dict(s) for s in objects(list(strategies), "strategies") if isinstance(s.get("id"), str) and s["id"]}
    out = []
    for index, app in enumerate(objects(list(apps), "applications")):
        item = dict(app)
        ids = item.pop("authStrategyIds", None) or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise VendorShapeError(f"applications[{index}].authStrategyIds is not a list of ids")
        inline = list(objects(item.get("strategies") or [], f"applications[{index}].strategies"))
        known = {s.get("id") for s in inline}
        inline += [by_id[i] for i in ids if i in by_id and i not in known]
        if inline:
            item["strategies"] = inline
        out.append(item)
    return out


def rename_parent_local(document: dict[str, Any]) -> str | None:
    """Keep the parent's ``local`` auth server as ``parent-local``; the child's own ``local`` stays its own.

    ``local`` is the issuing gateway itself. Taken over as it is, it would replace the child's own
    ``local`` server (or lend the child the parent's issuer name), so the child's tokens would stop
    validating. The references the download makes to it move along: ``jwt.auth_servers`` of its
    APIs (and of their scopes), the same of ``oauth2``, and the ``authServerAlias`` of its applications' strategies (absent means ``local``).
    Returns the new id, or None when the parent offered no ``local`` server.
    """
    servers = (document.get("security_settings") or {}).get("auth_servers") or []
    taken = {s.get("id") for s in servers}
    if LOCAL_SERVER_ID not in taken:
        return None
    new_id, number = PARENT_LOCAL_ID, 1
    while new_id in taken:  # the parent is itself a child: its own parent is already parent-local
        number += 1
        new_id = f"{PARENT_LOCAL_ID}-{number}"
    for server in servers:
        if server.get("id") == LOCAL_SERVER_ID:
            server["id"] = new_id
            if server.get("name") in (None, LOCAL_SERVER_ID):
                server["name"] = new_id
    def rename_in(policies: Any) -> None:
        if not isinstance(policies, dict):
            return
        for name in ("jwt", "oauth2"):  # both name auth servers the same way
            token = policies.get(name)
            if isinstance(token, dict) and isinstance(token.get("auth_servers"), list):
                token["auth_servers"] = [new_id if s == LOCAL_SERVER_ID else s for s in token["auth_servers"]]
        for scope in policies.get("scopes") or ():  # a scope's jwt means the parent's server too
            if isinstance(scope, dict):
                rename_in(scope.get("policies"))

    for api in document.get("apis") or []:
        rename_in(api.get("policies"))
    for app in document.get("applications") or []:
        for strategy in app.get("strategies") or []:
            if not isinstance(strategy, dict) or strategy.get("type") != "JWT_HSA":
                continue
            key = "auth_server" if "auth_server" in strategy else "authServerAlias"
            if strategy.get(key) in (None, "", LOCAL_SERVER_ID):
                strategy[key] = new_id
    return new_id
