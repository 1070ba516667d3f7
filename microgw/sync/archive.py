"""The vendor's asset archives (``-a archive.zip``, ``GET /rest/apigateway/archive?apis=<id>``), both ways.

Layout, as the vendor exports it::

    APIGatewayAssets.acdl                          XML manifest: assets API.<id>, Policy.<id>, PolicyAction.<id>
    ExportReport.json                              what the export did, per asset
    API/API.<id>/API.<id>                          the API (apiName, apiVersion, isActive, nativeEndpoint, policies, scopes)
    API/API.<id>/Policy/Policy.<pid>/Policy.<pid>  its policy: policyEnforcements [{stageKey, enforcements}]
    .../Policy.<pid>/PolicyAction/PolicyAction.<aid>   one action: templateKey, parameters

:func:`load_archive` turns an archive into API dicts in microgw's YAML form (validated against
``api.schema.json``) and :func:`build_archive` writes our APIs in the same layout. Policies map as
described in :mod:`microgw.sync.policies_map`. Decisions of this module:

* Members are found by file name (``API.<id>``, ``Policy.<id>``, ``PolicyAction.<id>``) wherever
  they sit, so global policies under ``Global Policy/`` and re-zipped folders are read too. Only the
  policies an API lists apply; an active *global* policy in the archive gives a warning (not applied).
* API JSON may be wrapped as the REST answers are (``{"apiResponse": {"api": {...}}}``, ``{"api":
  ...}``); policies as ``{"policy": ...}`` and actions as ``{"policyAction": ...}``. A missing
  ``apiName``/``apiVersion`` is read from ``apiDefinition.info`` (title, version).
* The endpoint comes from ``straightThroughRouting``; without one, from the first ``nativeEndpoint``
  (whose ``connectionTimeoutDuration``/``readTimeoutDuration``, seconds, fill timeouts the routing
  does not set). ``passSecurityHeaders`` is not used: the outbound policy decides what goes on.
* ``isActive: false`` -> ``active: false``; ``apiDescription`` -> ``description``.
* Scopes: a scope with policies of its own (resource-level policies) becomes ``scopes`` entries of
  the API's policies (see :mod:`microgw.sync.scopes_map`), its actions imported like the API's; a
  template a scope cannot carry is refused naming the scope and the template. The vendor creates a
  policy per scope: one without actions is ignored. ``validateAPISpec`` gets the API's
  ``apiDefinition`` as its ``definition``. ``type: WEBSOCKET`` APIs are unsupported (skipping drops
  the API).
* ``aliases`` repoints endpoints that name production hosts (see :func:`microgw.config.urls.repoint`).
* The rest of the archive is read too: ``Alias/`` (simple aliases ``{name, type: simple, value}``
  and endpoint aliases ``{name, type: endpoint, endPointURI, connectionTimeout, readTimeout}``, used
  as ``${name}`` in endpoints; other alias types are not used), ``Application/`` (vendor-form
  applications), ``Strategy/`` (their ``authStrategyIds``, resolved inline), ``RegisteredApplication``
  objects (the API-application registrations: the API id comes from the member or from the
  ``API.<id>`` folder it sits in, the application ids from the member or the ``Application.<id>``
  folder; each becomes an ``apiIDs`` entry of the application) and ``PassmanData/`` (the exported
  secret store: when it is absent, masked ``********`` secrets were not exported, and the warning
  says so). An archive with applications but no API loads its applications.
* A routing ``endpointUri`` without ``${sys:resource_path}`` is called as written by the vendor (its
  docs: the resource path enters the native URL only where that variable stands), so the API gets
  ``append_resource: false`` and microgw does the same.
* Skipping unsupported policies fails closed: when what would be dropped is an identification or
  authentication policy (stage ``IAM``), or a rule whose loss widens an AND, the API is not loaded
  (a warning names it): it never serves anonymously what the vendor protects.

Export writes stable ids (:func:`api_id`, uuid5 of name and version, unless ``ids`` gives the
vendor's), sorted members and fixed timestamps. What the vendor form cannot carry (``methods``,
``tls_verify``, ``mock`` and its timeouts, the exact ``endpoint`` when it has no ``${sys:resource_path}``, the ``jwt``
policy, ``identify.default_application``, ``outbound.remove_headers`` beyond Authorization and
``outbound.identity_headers``, and every other policy unit of the registry, as written) travels in the
API JSON under ``microgwExtensions`` (``format: 1``), so ``load_archive(build_archive(apis))`` gives
``[canonical_api(a) for a in apis]``. The vendor form stays authoritative for what it expresses; a
vendor gateway ignores the extension (and so the JWT checks, headers and mediation policies only
microgw's export carries).

A child must never enforce less than its parent, so export and import fail closed, for any policy
a registry may hold now or later: each unit's :attr:`~microgw.policies.unit.Policy.portable` form is
written (files inlined; a unit that cannot be made portable refuses the API), and ``build_archive``
reads its own archive back and refuses any API that would not arrive equal (``verify``). The reader
refuses an extension it cannot read whole (another format, a policy this microgw does not know),
also when skipping unsupported policies (the API is then not loaded).
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from microgw.config import schema
from microgw.config.ids import _NAMESPACE, api_id, version_text
from microgw.config.errors import format_path
from microgw.config.urls import repoint
from microgw.policies.registry import CATALOG
from microgw.policies.vendor import params as vendor_params
from microgw.sync import policies_map as pm
from microgw.sync import scopes_map
from microgw.sync.archive_zip import MAX_BYTES, ArchiveError, SafeZip, json_bytes, write_zip

__all__ = [
    "ArchiveContent",
    "ArchiveError",
    "api_id",
    "api_list",
    "api_summary",
    "build_archive",
    "canonical_api",
    "load_archive",
    "select_apis",
    "version_text",
]

EXTENSION = "microgwExtensions"
EXTENSION_FORMAT = 1
MANIFEST = "APIGatewayAssets.acdl"
REPORT = "ExportReport.json"
_KINDS = ("API", "Policy", "PolicyAction")
_OTHER_KINDS = ("Alias", "Application", "RegisteredApplication", "Strategy", "PassmanData")  # several members may share an id
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
_STAGE_ORDER = ("transport", "IAM", "routing")
_CORE_POLICIES = ("jwt", "identify", "outbound")  # written as vendor actions (+ their extension fields)
_EXPORTED_FIELDS = frozenset({"id", "name", "version", "description", "active", "endpoint", "mock", "protocols", "methods", "timeouts", "tls_verify", "append_resource", "policies"})


# --- ids and summaries (api_id and version_text live in config.ids, shared with the loader) ------

def _id_for(api: Mapping[str, Any], ids: Mapping[tuple[str, str], str] | None) -> str:
    key = (str(api["name"]), version_text(api["version"]))
    chosen = (ids or {}).get(key)
    if chosen is None:
        return api_id(*key)
    if not isinstance(chosen, str) or not _SAFE_ID.match(chosen) or ".." in chosen:
        raise ArchiveError(f"API {key[0]!r} version {key[1]!r}: id {chosen!r} is not URL- and file-name-safe")
    return chosen


def api_summary(api: Mapping[str, Any], *, ident: str | None = None) -> dict[str, Any]:
    """One API as the vendor lists it (``GET /rest/apigateway/apis`` items, Swagger ``APIResponseGetAPIs``)."""
    summary: dict[str, Any] = {
        "apiName": str(api["name"]),
        "apiVersion": version_text(api["version"]),
        "isActive": api.get("active", True) is not False,
        "type": "REST",
        "publishedPortals": [],
        "systemVersion": 1,
        "id": ident or api_id(api["name"], api["version"]),
    }
    if api.get("description"):
        summary["apiDescription"] = api["description"]
    return summary


def api_list(apis: Iterable[Mapping[str, Any]], ids: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """The body of ``GET /rest/apigateway/apis``: ``{"apiResponse": [{"api": ..., "responseStatus": "SUCCESS"}]}``."""
    return {"apiResponse": [{"api": api_summary(a, ident=_id_for(a, ids)), "responseStatus": "SUCCESS"} for a in apis]}


def select_apis(
    apis: Iterable[Mapping[str, Any]], wanted: str | Iterable[str], ids: Mapping[tuple[str, str], str] | None = None
) -> list[Mapping[str, Any]]:
    """The APIs ``?apis=`` names (comma-separated or repeated ids; ``*`` for all). Unknown ids raise
    :class:`ArchiveError` naming them (the vendor answers 400 for ids it cannot resolve)."""
    items = [wanted] if isinstance(wanted, str) else list(wanted)
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    apis = list(apis)
    if "*" in names:
        return apis
    by_id = {_id_for(a, ids): a for a in apis}
    missing = [n for n in names if n not in by_id]
    if missing:
        raise ArchiveError(f"no API with id {', '.join(repr(m) for m in missing)}")
    return [by_id[n] for n in dict.fromkeys(names)]


# --- canonical form ----------------------------------------------------------------------------

def _seconds(value: Any) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def canonical_api(api: Mapping[str, Any]) -> dict[str, Any]:
    """One spelling of an API dict: defaults omitted, version as text, identification rules as
    names plus ``lookup`` (or ``{type, lookup}`` items when lookups differ), connector and
    allow_anonymous explicit. :func:`load_archive` answers in this form."""
    out: dict[str, Any] = {"name": str(api["name"]), "version": version_text(api["version"])}
    if api.get("description"):
        out["description"] = api["description"]
    if api.get("active", True) is False:
        out["active"] = False
    for key in ("endpoint", "mock"):
        if key in api:
            out[key] = copy.deepcopy(api[key])
    if api.get("protocols"):
        out["protocols"] = list(dict.fromkeys(api["protocols"]))
    if api.get("methods"):
        out["methods"] = list(api["methods"])
    timeouts = api.get("timeouts") or {}
    if timeouts:
        out["timeouts"] = {k: _seconds(timeouts[k]) for k in ("connect", "read") if k in timeouts}
    if api.get("tls_verify", True) is False:
        out["tls_verify"] = False
    if api.get("append_resource", True) is False and "endpoint" in api:
        out["append_resource"] = False
    policies = _canonical_policies(api.get("policies") or {})
    if policies:
        out["policies"] = policies
    return out


def _canonical_policies(policies: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if policies.get("jwt") is not None:
        out["jwt"] = copy.deepcopy(policies["jwt"])
    identify = policies.get("identify")
    if identify:
        default = identify.get("lookup", "strict")
        rules = [(r, default) if isinstance(r, str) else (r["type"], r.get("lookup", default)) for r in identify["rules"]]
        result: dict[str, Any] = {"connector": identify.get("connector", "OR"), "allow_anonymous": bool(identify.get("allow_anonymous", False))}
        result.update(pm.rules_form(rules))
        if identify.get("default_application") is not None:
            result["default_application"] = identify["default_application"]
        out["identify"] = result
    outbound = policies.get("outbound")
    if outbound:
        result = {}
        auth = outbound.get("auth", "NONE")
        if auth != "NONE":
            result["auth"] = auth
        if auth == "HTTP_BASIC" and outbound.get("basic"):
            result["basic"] = {"user": outbound["basic"]["user"], "password": outbound["basic"]["password"]}
        if outbound.get("remove_headers"):
            result["remove_headers"] = list(outbound["remove_headers"])
        if outbound.get("identity_headers"):
            result["identity_headers"] = copy.deepcopy(outbound["identity_headers"])
        if result:
            out["outbound"] = result
    for name, config in policies.items():  # the other policy units, in the YAML form their templates wrote
        if name not in ("jwt", "identify", "outbound") and config is not None:
            out[name] = copy.deepcopy(config)
    return out


# --- import ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchiveContent:
    """APIs in microgw's YAML form, what the reader wants the user to know, and the vendor ids."""

    apis: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, version) -> the archive's id
    applications: list[dict[str, Any]] = field(default_factory=list)  # vendor form, strategies inline
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {type, value | endPointURI, ...}


def load_archive(
    source: bytes | bytearray | memoryview | str | os.PathLike,
    *,
    skip_unsupported: bool = False,
    aliases: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_BYTES,
    secrets: Mapping[str, str] | None = None,
) -> ArchiveContent:
    """Read an archive (bytes or a file path). Raises :class:`ArchiveError` with every problem found:
    unsafe or oversized zips, bad UTF-8/JSON/XML (naming the member), missing policies or actions,
    unsupported policies (naming API, policy, action and template) unless ``skip_unsupported``."""
    reader = _Reader(SafeZip(source, max_bytes=max_bytes), skip_unsupported, secrets or {})
    return reader.run(aliases)


def _unwrap(document: Any, key: str) -> Any:
    if isinstance(document, dict) and isinstance(document.get(key), dict) and "id" not in document:
        return document[key]
    return document


def _unwrap_api(document: Any) -> Any:
    if isinstance(document, dict) and "apiResponse" in document:
        inner = document["apiResponse"]
        if isinstance(inner, list) and len(inner) == 1:
            inner = inner[0]
        document = inner
    if isinstance(document, dict) and "apiName" not in document and isinstance(document.get("api"), dict):
        document = document["api"]
    return document


def _display(names: Any) -> str | None:
    if isinstance(names, list):
        for item in names:
            if isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"].strip():
                return item["value"]
    return None


def _folder_id(member: str, kind: str) -> str | None:
    """The id of the nearest ``<kind>.<id>`` folder (or file) on a member's path."""
    for part in reversed(member.replace("\\", "/").split("/")):
        found, dot, ident = part.partition(".")
        if found == kind and dot and ident:
            return ident
    return None


def _first_text(record: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if isinstance(record.get(key), str) and record[key]:
            return record[key]
    return None


def _secret_values(app: dict):
    """The secret texts of a vendor application: its access keys, API-key identifiers, strategy secrets."""
    for credentials in (app.get("accessTokens") or {}).values():
        if isinstance(credentials, dict):
            yield credentials.get("apiAccessKey")
    for identifier in app.get("identifiers") or ():
        if isinstance(identifier, dict) and identifier.get("key") in ("apiKey", "token"):
            yield from identifier.get("value") or ()
            for named in identifier.get("namedValues") or ():
                yield from (named.get("values") or ()) if isinstance(named, dict) else ()
    for strategy in app.get("strategies") or ():
        secret = strategy.get("secret") if isinstance(strategy, dict) else None
        yield secret.get("secret") if isinstance(secret, dict) else secret


def _order(enforcement: dict) -> int:
    try:
        return int(str(enforcement.get("order")))
    except ValueError:
        return 0


class _Reader:
    """One archive being read; JSON members are parsed once (the size budget counts each read)."""

    def __init__(self, archive: SafeZip, skip_unsupported: bool, secrets: Mapping[str, str] | None = None) -> None:
        self.zip = archive
        self.skip = skip_unsupported
        self.secrets = secrets or {}
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.index: dict[str, dict[str, str]] = {kind: {} for kind in _KINDS}
        self.others: dict[str, list[str]] = {kind: [] for kind in _OTHER_KINDS}
        self.special: dict[str, str] = {}
        self._parsed: dict[str, Any] = {}
        self.used_policies: set[str] = set()
        for member in sorted(archive.members):
            base = member.replace("\\", "/").rsplit("/", 1)[-1]
            if base in (MANIFEST, REPORT):
                self.special.setdefault(base, member)
                continue
            kind, dot, ident = base.partition(".")
            top = member.replace("\\", "/").split("/", 1)[0]
            if (kind in self.others and dot) or top == "PassmanData":
                self.others[kind if kind in self.others and dot else "PassmanData"].append(member)
                continue
            if dot and ident and kind in self.index:
                if ident in self.index[kind]:
                    raise ArchiveError(archive.error(member, f"{kind}.{ident} is also at {self.index[kind][ident]!r}"))
                self.index[kind][ident] = member

    def json(self, member: str) -> Any:
        if member not in self._parsed:
            self._parsed[member] = self.zip.json(member)
        return self._parsed[member]

    def run(self, aliases: Mapping[str, Any] | None) -> ArchiveContent:
        declared = self._manifest()
        self._report()
        apis: list[dict[str, Any]] = []
        ids: dict[tuple[str, str], str] = {}
        position = {name: i for i, name in enumerate(declared or ())}
        ordered = sorted(self.index["API"].items(), key=lambda item: (position.get(f"API.{item[0]}", len(position)), item[0]))
        for ident, member in ordered:
            if declared is not None and f"API.{ident}" not in position:
                self.warnings.append(self.zip.error(member, f"API.{ident} is not declared in {MANIFEST}; read anyway"))
            found = self._api(member)
            if found is None:
                continue
            key = (found["name"], found["version"])
            if key in ids:
                self.problems.append(self.zip.error(member, f"API {key[0]!r} version {key[1]!r} is in the archive twice"))
                continue
            document = _unwrap_api(self.json(member))
            ids[key] = str(document.get("id") or ident)
            apis.append(found)
        self._global_policies()
        archive_aliases = self._aliases()
        applications = self._applications()
        if aliases:
            apis = repoint(apis, aliases)
        for api in apis:
            label = f"API {api['name']!r} version {api['version']!r}"
            self.problems += [f"{label}: {format_path(p) or '(API)'}: {m}" for p, m in schema.validate(api, "api")]
        if self.problems:
            raise ArchiveError(self.problems)
        if not apis and not applications:
            self.warnings.append(self.zip.error("", "the archive holds no API and no application"))
        return ArchiveContent(apis, self.warnings, ids, applications, archive_aliases)

    # --- the other assets --------------------------------------------------------------------

    def _documents(self, kind: str, key: str) -> list[tuple[str, dict]]:
        """(member, object) of each JSON member of ``kind``, unwrapped from ``{key: ...}`` or ``{key + "s": [...]}``."""
        found = []
        for member in sorted(self.others[kind]):
            document = self.json(member)
            if isinstance(document, dict) and isinstance(document.get(key + "s"), list) and "id" not in document:
                items = document[key + "s"]
            else:
                items = [_unwrap(document, key)]
            for item in items:
                if isinstance(item, dict):
                    found.append((member, item))
                else:
                    self.problems.append(self.zip.error(member, f"is not a {kind} object"))
        return found

    def _aliases(self) -> dict[str, dict[str, Any]]:
        """Simple and endpoint aliases by name (``${name}`` in endpoints); other types are not used here."""
        out: dict[str, dict[str, Any]] = {}
        for member, alias in self._documents("Alias", "alias"):
            name, kind = alias.get("name"), str(alias.get("type") or "")
            if not isinstance(name, str) or not name:
                continue
            if kind == "simple" and isinstance(alias.get("value"), str):
                out[name] = {"type": "simple", "value": alias["value"]}
            elif kind == "endpoint" and isinstance(alias.get("endPointURI"), str) and alias["endPointURI"]:
                item: dict[str, Any] = {"type": "endpoint", "endPointURI": alias["endPointURI"]}
                for key in ("connectionTimeout", "readTimeout"):
                    if isinstance(alias.get(key), int) and not isinstance(alias.get(key), bool) and alias[key] > 0:
                        item[key] = alias[key]
                out[name] = item
        return out

    def _applications(self) -> list[dict[str, Any]]:
        """Vendor-form applications with their strategies inline and their registrations as apiIDs."""
        from microgw.applications.parse import is_masked

        strategies = {s["id"]: s for _, s in self._documents("Strategy", "strategy") if isinstance(s.get("id"), str)}
        apps: dict[str, dict[str, Any]] = {}
        for member, app in self._documents("Application", "application"):
            ident = app.get("id") or app.get("applicationID") or _folder_id(member, "Application")
            if not isinstance(ident, str) or not ident:
                self.problems.append(self.zip.error(member, "an application without an id"))
                continue
            item = copy.deepcopy(app)
            item.setdefault("id", ident)
            ids = item.pop("authStrategyIds", None) or []
            inline = [s for s in item.get("strategies") or [] if isinstance(s, dict)]
            missing = [i for i in ids if isinstance(i, str) and i not in strategies and i not in {s.get("id") for s in inline}]
            inline += [copy.deepcopy(strategies[i]) for i in ids if isinstance(i, str) and i in strategies]
            if inline:
                item["strategies"] = inline
            if missing:
                item["authStrategyIds"] = missing  # the loader warns about each
            item["identifiers"] = item.get("identifiers") or []  # the vendor form is told by its fields
            apps.setdefault(ident, item)
        self._registrations(apps)
        masked = sum(1 for app in apps.values() for value in _secret_values(app) if is_masked(value))
        if masked:
            passman = "the archive has PassmanData, but not for these" if self.others["PassmanData"] else "the archive has no PassmanData"
            self.warnings.append(
                f"{masked} secret(s) of the archive's applications are masked (********): they were not exported ({passman}); "
                "masked values are never credentials; give the real ones under vendor_secrets by application or strategy id"
            )
        return list(apps.values())

    def _registrations(self, apps: dict[str, dict[str, Any]]) -> None:
        """RegisteredApplication objects -> ``apiIDs`` of the applications they register."""
        for member, record in self._documents("RegisteredApplication", "registeredApplication"):
            api = _first_text(record, ("apiId", "apiID", "api_id")) or _folder_id(member, "API")
            if isinstance(record.get("api"), dict):
                api = record["api"].get("id") or api
            names = []
            for key in ("applicationIds", "applicationIDs", "applications"):
                for entry in record.get(key) or ():
                    names.append(entry.get("id") if isinstance(entry, dict) else entry)
            single = _first_text(record, ("applicationId", "applicationID")) or (_folder_id(member, "Application") if not names else None)
            if single:
                names.append(single)
            if not api or not names:
                self.warnings.append(self.zip.error(member, "a registration that names no API or no application; ignored"))
                continue
            for name in dict.fromkeys(n for n in names if isinstance(n, str) and n):
                app = apps.get(name)
                if app is None:
                    self.warnings.append(self.zip.error(member, f"registers application {name!r} for API {api!r}, but the application is not in the archive"))
                    continue
                registered = app.setdefault("apiIDs", [])
                if api not in registered:
                    registered.append(api)

    def _manifest(self) -> list[str] | None:
        """The asset names the manifest declares, in its order (APIs are answered in that order)."""
        member = self.special.get(MANIFEST)
        if member is None:
            self.warnings.append(self.zip.error("", f"no {MANIFEST} manifest; reading the API files directly"))
            return None
        root = self.zip.xml(member)
        return [e.get("name", "") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "asset"]

    def _report(self) -> None:
        member = self.special.get(REPORT)
        report = self.json(member) if member else None
        for entry in report if isinstance(report, list) else ():
            asset = entry.get("assetObject") if isinstance(entry, dict) else None
            if isinstance(asset, dict) and entry.get("assetType") in (*_KINDS, *_OTHER_KINDS) and asset.get("status") not in (None, "Success"):
                self.warnings.append(
                    f"{REPORT}: the export of {entry['assetType']} {asset.get('name')!r} says {asset.get('status')}: {asset.get('explanation', '')}"
                )

    def _global_policies(self) -> None:
        for ident, member in sorted(self.index["Policy"].items()):
            if ident in self.used_policies:
                continue
            policy = _unwrap(self.json(member), "policy")
            if isinstance(policy, dict) and policy.get("global") is True and policy.get("active") is True:
                self.warnings.append(f"global policy {_display(policy.get('names')) or ident!r} is not applied by microgw")

    def _api(self, member: str) -> dict[str, Any] | None:
        document = _unwrap_api(self.json(member))
        if not isinstance(document, dict):
            self.problems.append(self.zip.error(member, "is not an API object"))
            return None
        definition = document.get("apiDefinition") if isinstance(document.get("apiDefinition"), dict) else {}
        info = definition.get("info") if isinstance(definition.get("info"), dict) else {}
        name = document.get("apiName") or info.get("title")
        version = document.get("apiVersion") if document.get("apiVersion") not in (None, "") else info.get("version")
        if not isinstance(name, str) or not name or version in (None, ""):
            self.problems.append(self.zip.error(member, "has no apiName or apiVersion"))
            return None
        version = version_text(version)
        label = f"API {name!r} version {version!r}"
        importer = pm.Importer(label, self.skip, secrets=self.secrets)
        if str(document.get("type") or "REST").upper() == "WEBSOCKET":
            importer.unsupported("type WEBSOCKET", "the API")
            self.problems += importer.problems
            self.warnings += importer.warnings
            return None
        for action in self._actions(document, label):
            importer.add(action)
        carried = self._carried_policies(document, importer)
        scoped: list[dict[str, Any]] = []
        for scope in document.get("scopes") or ():
            if not isinstance(scope, dict):
                continue
            scope_name = str(scope.get("name") or scope.get("scopeName") or "?")
            # the vendor creates a policy per scope: one without actions is ignored
            actions = self._actions({"policies": scope.get("policies") or []}, f"{label}: scope {scope_name!r}", scope=True)
            if actions:
                scoped += scopes_map.import_scope(importer, scope_name, scope, actions, definition=definition)
        importer.finish()
        if importer.closed:
            self.warnings += importer.closed
            self.warnings.append(f"{label}: not loaded: skipping would leave it unprotected (it refuses no request the vendor refuses otherwise)")
            self.warnings += importer.warnings
            return None
        if scoped:
            importer.policies["scopes"] = scoped
        importer.policies.update(carried)  # microgw's own export: the exact YAML wins over vendor templates
        spec = importer.policies.get("validateAPISpec")
        if spec is not None and "spec" not in spec and "definition" not in spec:
            spec["definition"] = copy.deepcopy(definition)  # validated against the API's own definition
        api = self._assemble(document, definition, name, version, importer)
        self.problems += importer.problems
        self.warnings += importer.warnings
        return None if importer.problems else canonical_api(api)

    def _actions(self, document: dict, label: str, *, scope: bool = False) -> list[pm.Action]:
        """The actions of the policies ``document`` lists, in stage and enforcement order. A scope's
        policy missing from the archive is a warning (nothing of it could apply), an API's a problem."""
        policy_ids = document.get("policies") or []
        if not isinstance(policy_ids, list) or not all(isinstance(p, str) for p in policy_ids):
            self.problems.append(f"{label}: 'policies' must be a list of policy ids")
            return []
        actions = []
        for policy_id in policy_ids:
            member = self.index["Policy"].get(policy_id)
            if member is None:
                (self.warnings if scope else self.problems).append(f"{label}: policy {policy_id!r} is not in the archive")
                continue
            self.used_policies.add(policy_id)
            policy = _unwrap(self.json(member), "policy")
            stages = policy.get("policyEnforcements") if isinstance(policy, dict) else None
            if not isinstance(stages, list):
                self.problems.append(self.zip.error(member, "has no policyEnforcements list"))
                continue
            policy_name = _display(policy.get("names")) or policy_id
            for stage in stages:
                enforcements = stage.get("enforcements") if isinstance(stage, dict) else None
                stage_key = str(stage.get("stageKey") or "") if isinstance(stage, dict) else ""
                for enforcement in sorted((e for e in enforcements or () if isinstance(e, dict)), key=_order):
                    action_id = str(enforcement.get("enforcementObjectId"))
                    action_member = self.index["PolicyAction"].get(action_id)
                    if action_member is None:
                        self.problems.append(f"{label}: policy {policy_name!r}: policy action {action_id!r} is not in the archive")
                        continue
                    action = _unwrap(self.json(action_member), "policyAction")
                    if not isinstance(action, dict):
                        self.problems.append(self.zip.error(action_member, "is not a policy action object"))
                        continue
                    template = str(action.get("templateKey") or "")
                    name = _display(action.get("names")) or template or action_id
                    actions.append(pm.Action(action_id, template, name, vendor_params(action.get("parameters")), policy_name, stage_key))
        return actions

    def _carried_policies(self, document: dict, importer: pm.Importer) -> dict[str, Any]:
        """The policy units a microgw parent carried in ``microgwExtensions.policies`` (see
        :func:`_extension`), each as written. An extension this microgw cannot read whole (an unknown
        format, a policy it does not know) refuses the API, also when skipping: it would enforce
        less than the gateway that exported it."""
        extension = document.get(EXTENSION)
        if extension is None:
            return {}
        if not isinstance(extension, dict) or extension.get("format") != EXTENSION_FORMAT:
            shown = extension.get("format") if isinstance(extension, dict) else type(extension).__name__
            importer.unsupported(EXTENSION, f"format {shown!r} (this microgw reads format {EXTENSION_FORMAT})", guards=True)
            return {}
        extra = extension.get("policies")
        if extra is None:
            return {}
        if not isinstance(extra, dict):
            importer.problems.append(f"{importer.api}: {EXTENSION}.policies is not an object")
            return {}
        carried = {}
        for name, config in extra.items():
            if name in _CORE_POLICIES:
                continue
            if name not in CATALOG:
                importer.unsupported(f"{EXTENSION}.policies", f"policy {name!r} (its parent enforces it; a newer microgw may know it)", guards=True)
            elif config is not None:
                carried[name] = copy.deepcopy(config)
        return carried

    def _assemble(self, document: dict, definition: dict, name: str, version: str, importer: pm.Importer) -> dict[str, Any]:
        label = importer.api
        api: dict[str, Any] = {"name": name, "version": version}
        if isinstance(document.get("apiDescription"), str) and document["apiDescription"]:
            api["description"] = document["apiDescription"]
        if str(document.get("isActive", True)).lower() == "false":
            api["active"] = False
        api.update(copy.deepcopy(importer.fields))
        if importer.policies:
            api["policies"] = copy.deepcopy(importer.policies)
        routed = api.get("endpoint")
        extension = document.get(EXTENSION)
        if extension is not None:
            self._extend(api, extension, label)
        self._native(api, document, definition, label)
        if routed is not None and api.get("endpoint") == routed and "${sys:resource_path}" not in routed:
            api["append_resource"] = False  # the vendor calls such an endpoint as written
        if "endpoint" in api and "mock" in api:
            importer.problems.append(f"{label}: has both a routing endpoint and a mock ({EXTENSION})")
        elif "endpoint" not in api and "mock" not in api:
            importer.problems.append(f"{label}: has no endpoint (no straightThroughRouting policy, no nativeEndpoint)")
        policies = api.get("policies") or {}
        if (policies.get("outbound") or {}).get("auth") == "INCOMING_JWT" and "jwt" not in policies:
            explicit = isinstance(extension, dict) and "jwt" in (extension.get("policies") or {})
            if not explicit:
                policies["jwt"] = {"required": False}
                self.warnings.append(f"{label}: INCOMING_JWT without jwtClaims identification: added jwt {{required: false}} so the token is validated and passed on")
        return api

    def _native(self, api: dict, document: dict, definition: dict, label: str) -> None:
        """The first native endpoint: the endpoint when no routing gave one; its timeouts fill in."""
        native = document.get("nativeEndpoint") or definition.get("nativeEndpoint") or []
        endpoints = [e for e in native if isinstance(e, dict) and isinstance(e.get("uri"), str) and e["uri"]] if isinstance(native, list) else []
        if not endpoints:
            return
        first = endpoints[0]
        if "endpoint" not in api and "mock" not in api:
            api["endpoint"] = first["uri"]
            if len(endpoints) > 1:
                self.warnings.append(f"{label}: {len(endpoints)} native endpoints; microgw uses the first")
        timeouts = dict(api.get("timeouts") or {})
        for ours, theirs in (("connect", "connectionTimeoutDuration"), ("read", "readTimeoutDuration")):
            seconds = pm.parse_seconds(None if first.get(theirs) is None else str(first[theirs]))
            if seconds is not None:
                timeouts.setdefault(ours, seconds)
        if timeouts:
            api["timeouts"] = timeouts

    def _extend(self, api: dict, extension: Any, label: str) -> None:
        """microgw's own fields (see the module docstring); the vendor form wins where it speaks."""
        if not isinstance(extension, dict) or extension.get("format") != EXTENSION_FORMAT:
            return  # refused by _carried_policies
        for key in ("methods", "tls_verify", "mock"):
            if key in extension:
                api[key] = copy.deepcopy(extension[key])
        if "timeouts" in extension and "timeouts" not in api:
            api["timeouts"] = copy.deepcopy(extension["timeouts"])
        exact = extension.get("endpoint")
        if isinstance(exact, str) and api.get("endpoint") == pm.routed_endpoint(exact):
            api["endpoint"] = exact
        extra = extension.get("policies") if isinstance(extension.get("policies"), dict) else {}
        policies = api.setdefault("policies", {})
        if "jwt" in extra:
            if extra["jwt"] is None:
                policies.pop("jwt", None)
            else:
                policies["jwt"] = copy.deepcopy(extra["jwt"])
        identify = extra.get("identify") if isinstance(extra.get("identify"), dict) else {}
        if "identify" in policies and "default_application" in identify:
            policies["identify"]["default_application"] = identify["default_application"]
        outbound = extra.get("outbound") if isinstance(extra.get("outbound"), dict) else {}
        for key in ("remove_headers", "identity_headers"):
            if key in outbound:
                policies.setdefault("outbound", {})[key] = copy.deepcopy(outbound[key])
        if not policies:
            del api["policies"]


# --- export ------------------------------------------------------------------------------------

def build_archive(apis: Iterable[Mapping[str, Any]], *, ids: Mapping[tuple[str, str], str] | None = None, verify: bool = True) -> bytes:
    """A zip in the vendor's layout holding ``apis`` (dicts in our YAML form, schema-valid) with
    their policies. ``ids`` maps ``(name, version)`` to the id to use (e.g. the vendor's); others
    get :func:`api_id`. Raises :class:`ArchiveError` for invalid or duplicate APIs, and (``verify``)
    for any API that reading the archive back would not give whole (see :func:`_verify`)."""
    apis = list(apis)
    problems = []
    for index, api in enumerate(apis):
        where = f"API {api.get('name')!r} version {api.get('version')!r}" if isinstance(api, Mapping) else f"apis[{index}]"
        problems += [f"{where}: {format_path(p) or '(API)'}: {m}" for p, m in schema.validate(api, "api")]
        basic = ((api.get("policies") or {}).get("outbound") or {}) if isinstance(api, Mapping) else {}
        if basic.get("auth") == "HTTP_BASIC" and not basic.get("basic"):
            problems.append(f"{where}: HTTP_BASIC needs basic: {{user, password}}")
        if isinstance(api, Mapping):
            unknown = sorted(set(api) - _EXPORTED_FIELDS)
            if unknown:
                problems.append(f"{where}: {', '.join(unknown)} cannot be exported (a child would not get it)")
    if problems:
        raise ArchiveError(problems)
    portable = []
    for api in apis:
        try:
            portable.append(portable_api(api))
        except ValueError as exc:
            problems.append(f"API {api['name']!r} version {version_text(api['version'])!r}: not exported: {exc}")
    if problems:
        raise ArchiveError(problems)
    files: dict[str, bytes] = {}
    assets: list[str] = []
    report: list[dict] = []
    seen: set[tuple[str, str]] = set()
    expected: list[dict[str, Any]] = []
    for api in map(canonical_api, portable):
        key = (api["name"], api["version"])
        if key in seen:
            raise ArchiveError(f"API {key[0]!r} version {key[1]!r} is given twice")
        seen.add(key)
        expected.append(api)
        _write_api(api, _id_for(api, ids), files, assets, report)
    files[MANIFEST] = _manifest_xml(assets)
    files[REPORT] = json_bytes(report)
    data = write_zip(files)
    if verify:
        _verify(data, expected)
    return data


def portable_api(api: Mapping[str, Any]) -> dict[str, Any]:
    """``api`` as another gateway can use it: each policy unit's :attr:`~microgw.policies.unit.Policy.portable`
    form (files inlined, nested policies too). Raises ValueError naming the policy that cannot be."""
    out = dict(api)
    if api.get("policies"):
        out["policies"] = portable_policies(api["policies"])
    return out


def portable_policies(policies: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, config in policies.items():
        unit = CATALOG.get(name)
        if unit is None:
            raise ValueError(f"policy {where}{name} is not known")
        if config is None:
            out[name] = None
            continue
        try:
            out[name] = unit.portable(copy.deepcopy(config), lambda inner, at=f"{where}{name}.": portable_policies(inner, at))
        except ValueError as exc:
            raise ValueError(f"policy {where}{name}: {exc}") from None
    return out


def _verify(data: bytes, expected: list[dict[str, Any]]) -> None:
    """Read the archive back as a child will: an API that would arrive different (a policy or field
    the importer drops or changes) is refused here, so a child never enforces less than its parent."""
    try:
        content = load_archive(data)
    except ArchiveError as exc:
        raise ArchiveError([f"the export would not load on a child: {p}" for p in exc.problems]) from None
    arrived = {(a["name"], a["version"]): a for a in content.apis}
    problems = []
    for api in expected:
        got = arrived.get((api["name"], api["version"]), {})
        if got == api:
            continue
        fields = sorted(k for k in set(api) | set(got) if k != "policies" and api.get(k) != got.get(k))
        ours, theirs = api.get("policies") or {}, got.get("policies") or {}
        fields += [f"policies.{n}" for n in sorted(set(ours) | set(theirs)) if ours.get(n) != theirs.get(n)]
        problems.append(f"API {api['name']!r} version {api['version']!r}: not exported: {', '.join(fields) or 'the API'} would not reach a child as configured")
    if problems:
        raise ArchiveError(problems)


def _derived(owner: str, what: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{owner}/{what}"))


def _write_api(api: dict, ident: str, files: dict[str, bytes], assets: list[str], report: list[dict]) -> None:
    display = f"{api['name']}[{api['version']}]"
    policy_id = _derived(ident, "policy")
    policy_name = f"Policy For API {display}"
    specs = [(_derived(ident, spec.template), spec) for spec in pm.export_actions(api)]
    folder = f"API/API.{ident}/Policy/Policy.{policy_id}"
    for action_id, spec in specs:
        files[f"{folder}/PolicyAction/PolicyAction.{action_id}"] = json_bytes(pm.action_document(action_id, spec))
        assets.append(_asset("PolicyAction", action_id, f"Policy Action [{spec.name}] -> {policy_name}", []))
        report.append(_reported("PolicyAction", action_id, f"Policy Action [{spec.name}] -> {policy_name}"))
    stages = []
    for stage in _STAGE_ORDER:
        members = [action_id for action_id, spec in specs if spec.stage == stage]
        if members:
            stages.append({"enforcements": [{"enforcementObjectId": a, "order": str(i)} for i, a in enumerate(members)], "stageKey": stage})
    policy = {
        "id": policy_id,
        "names": [{"value": f"Default Policy for API {api['name']}", "locale": "English"}],
        "descriptions": [],
        "policyEnforcements": stages,
        "policyScope": "SERVICE",
        "active": False,
        "global": False,
        "systemPolicy": False,
    }
    files[f"{folder}/Policy.{policy_id}"] = json_bytes(policy)
    assets.append(_asset("Policy", policy_id, policy_name, [f"PolicyAction.{a}" for a, _ in specs]))
    report.append(_reported("Policy", policy_id, policy_name))
    files[f"API/API.{ident}/API.{ident}"] = json_bytes(_api_document(api, ident, policy_id))
    assets.append(_asset("API", ident, display, [f"Policy.{policy_id}"]))
    report.append(_reported("API", ident, display))


def _api_document(api: dict, ident: str, policy_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {"title": api["name"], "version": api["version"]}
    if api.get("description"):
        info["description"] = api["description"]
    document: dict[str, Any] = {"apiDefinition": {"info": info, "paths": {}, "type": "rest"}}
    if "endpoint" in api:
        base = api["endpoint"].partition("${sys:resource_path}")[0].rstrip("/") or api["endpoint"]
        document["nativeEndpoint"] = [{"passSecurityHeaders": True, "uri": base, "connectionTimeoutDuration": 0, "alias": False}]
    document.update(
        {
            "apiName": api["name"],
            "apiVersion": api["version"],
            "isActive": api.get("active", True),
            "type": "REST",
            "policies": [policy_id],
            "scopes": [],
            "publishedPortals": [],
            "systemVersion": 1,
            "id": ident,
        }
    )
    if api.get("description"):
        document["apiDescription"] = api["description"]
    document[EXTENSION] = _extension(api)
    return document


def _extension(api: dict) -> dict[str, Any]:
    extension: dict[str, Any] = {"format": EXTENSION_FORMAT}
    for key in ("methods", "tls_verify", "mock"):
        if key in api:
            extension[key] = copy.deepcopy(api[key])
    if "endpoint" in api and api.get("append_resource", True) and pm.routed_endpoint(api["endpoint"]) != api["endpoint"]:
        extension["endpoint"] = api["endpoint"]
    if "endpoint" not in api and "timeouts" in api:  # no routing action to carry them
        extension["timeouts"] = dict(api["timeouts"])
    policies = api.get("policies") or {}
    extra: dict[str, Any] = {"jwt": copy.deepcopy(policies.get("jwt"))}
    identify = policies.get("identify") or {}
    if "default_application" in identify:
        extra["identify"] = {"default_application": identify["default_application"]}
    outbound = policies.get("outbound") or {}
    outbound_extra = {}
    if outbound.get("remove_headers") and outbound["remove_headers"] != pm.imported_remove_headers(outbound):
        outbound_extra["remove_headers"] = list(outbound["remove_headers"])
    if outbound.get("identity_headers"):
        outbound_extra["identity_headers"] = copy.deepcopy(outbound["identity_headers"])
    if outbound_extra:
        extra["outbound"] = outbound_extra
    for name, config in policies.items():  # every other policy unit, exactly as written
        if name not in _CORE_POLICIES:
            extra[name] = copy.deepcopy(config)
    extension["policies"] = extra
    return extension


_XML_INVALID = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _asset(kind: str, ident: str, display: str, depends: list[str]) -> str:
    lines = [f'    <asset name={quoteattr(f"{kind}.{ident}")} displayName={quoteattr(_XML_INVALID.sub("?", display))} isDeployable="true">']
    lines.append(f'        <implementation.generic type="{kind}"/>')
    lines += [f"        <dependsOn>APIGateway:{escape(d)}</dependsOn>" for d in depends]
    lines.append("    </asset>")
    return "\n".join(lines)


def _manifest_xml(assets: list[str]) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<asset_composite name="APIGatewayAssets" displayName="Assets for API Gateway" runtimeVersion="11.0" '
        'targetNamespace="http://namespaces.softwareag.com/webMethods/APIGateway" xmlns="http://namespaces.softwareag.com/acdl/1.0">\n'
    )
    return (head + "".join(a + "\n" for a in assets) + "</asset_composite>\n").encode("utf-8")


def _reported(kind: str, ident: str, name: str) -> dict[str, Any]:
    return {"assetType": kind, "assetObject": {"name": name, "id": ident, "status": "Success", "explanation": "OK", "warning": False}}
