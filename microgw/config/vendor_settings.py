"""The vendor Microgateway's settings as users write them: what maps to microgw, what has no effect.

People bring their ``custom-settings.yml`` along. The schema accepts the vendor's spellings (quoted
numbers, ``applications_sync`` as a mapping, ``admin_api``, ``api_endpoint``, ``gateway_destination``,
``es_destination``, ``faults``, ``logging.path``, ``ports.key_alias``, ``downloads.applications`` as a
list of names, ``downloads.policies``, ``security_settings.providers`` with ``!<clientMetadataMapping>``
items); this module reads the ones that map to a microgw feature and lists the others, so the
loader reports each once (``microgw check`` and the log at start) instead of refusing the file or
ignoring it silently.
"""

from __future__ import annotations

from typing import Any, Mapping

GATEWAY_BASE_PATH = "/gateway"

# Top-level sections with no counterpart in microgw, and why.
_NO_EFFECT_SECTIONS = {
    "gateway_destination": "microgw sends no analytics events to API Gateway (see /rest/microgateway/metrics)",
    "es_destination": "microgw sends no events to Elasticsearch (see /rest/microgateway/metrics)",
    "faults": "microgw answers errors with its own JSON bodies (and RFC 6750 WWW-Authenticate)",
}


def port(value: Any) -> int | None:
    """``4485`` or the quoted ``"4485"`` (the schema allows only digits); None stays None."""
    return int(str(value).strip()) if value is not None else None


def flag(value: Any, default: bool = True) -> bool:
    """A boolean as the vendor writes it: true/false, "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


def sync_applications(data: Mapping[str, Any]) -> bool:
    """Download applications from the parent? ``downloads.applications`` (a flag, or the vendor's
    list of names: on) wins over ``applications_sync`` (a flag, or the vendor's ``{enabled: ...}``)."""
    downloads = data.get("downloads") or {}
    if "applications" in downloads:
        chosen = downloads["applications"]
        return bool(chosen) if isinstance(chosen, (list, str)) else flag(chosen)
    sync = data.get("applications_sync", True)
    if isinstance(sync, Mapping):
        return flag(sync.get("enabled"), True)
    return flag(sync)


def admin_credentials(data: Mapping[str, Any]) -> dict[str, str] | None:
    """``admin`` as written, else the user and password of the vendor's ``admin_api`` section."""
    if data.get("admin"):
        return dict(data["admin"])
    section = data.get("admin_api") or {}
    user = section.get("user") or section.get("admin_user")
    password = section.get("password") or section.get("admin_password")
    return {"user": user, "password": password} if user and password else None


def no_effect(data: Mapping[str, Any]) -> list[tuple[list, str]]:
    """(path, why) for each vendor setting given that microgw accepts but does not use."""
    found: list[tuple[list, str]] = []
    for key, why in _NO_EFFECT_SECTIONS.items():
        if data.get(key) is not None:
            found.append(([key], f"the vendor's {key} has no effect here: {why}"))
    if (data.get("logging") or {}).get("path"):
        found.append((["logging", "path"], "logging.path has no effect here: microgw logs to stderr (redirect it, or let the container runtime collect it)"))
    base = (data.get("api_endpoint") or {}).get("base_path")
    if base is not None and "/" + str(base).strip("/") != GATEWAY_BASE_PATH:
        found.append((["api_endpoint", "base_path"], f"api_endpoint.base_path {base!r} has no effect here: microgw serves APIs at {GATEWAY_BASE_PATH}/<name>/<version>/"))
    for key in sorted(set(data.get("api_endpoint") or {}) - {"base_path"}):
        found.append((["api_endpoint", key], f"api_endpoint.{key} has no effect here"))
    sync = data.get("applications_sync")
    if isinstance(sync, Mapping):
        for key in sorted(set(sync) - {"enabled"}):
            found.append((["applications_sync", key], f"applications_sync.{key} has no effect here: microgw synchronises every application of the parent"))
    downloads = data.get("downloads") or {}
    if isinstance(downloads.get("applications"), (list, str)):
        found.append((["downloads", "applications"], "downloads.applications names have no effect here: every application of the parent is downloaded"))
    if downloads.get("policies"):
        found.append((["downloads", "policies"], "downloads.policies has no effect here: microgw applies no global policies"))
    admin_api = data.get("admin_api") or {}
    used = {"user", "admin_user", "password", "admin_password"}
    if admin_api and data.get("admin"):
        found.append((["admin_api"], "admin_api has no effect here: admin is set"))
    else:
        for key in sorted(set(admin_api) - used):
            found.append((["admin_api", key], f"admin_api.{key} has no effect here"))
    providers = (data.get("security_settings") or {}).get("providers")
    if providers:
        found.append((["security_settings", "providers"], "security_settings.providers (clientMetadataMapping) has no effect here: microgw registers no OAuth clients"))
    return found
