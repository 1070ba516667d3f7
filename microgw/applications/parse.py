"""Validated application dicts (concise or vendor form) -> :class:`Application` models.

The schema (``schemas/application.schema.json``) has already checked shapes; this module checks
meaning and reports every problem at once as ``(path parts relative to the list, message)``, e.g.
``([2, "ip_ranges", 0], "...")``. Messages never contain an API key or a secret.

Problems (the configuration must be refused): duplicate application or strategy ids, a bad IP
range or claim set, an API key held by two applications (it could not identify one), an HMAC
secret that is empty, not base64 or shared by two applications (a token it verifies would not
identify one). Warnings (reported, the rest still works): vendor identifier types and strategy
types microgw does not use, unknown vendor fields, expired vendor API keys, HMAC secrets shorter
than 32 bytes, strategy ids that nothing defines.

Vendor mapping decisions:
* the form is told by the fields in :data:`VENDOR_MARKERS` (the schema uses the same list);
* ``jwtClaims`` and ``openIdClaims`` identifiers: ONE identifier is ONE claim set. Each string in
  its ``value`` is a JSON object text, as the vendor's Swagger example writes it
  (``"{\\"claim1\\":\\"val1\\",\\"claim2\\":\\"val2\\"}"``); objects are accepted too. Several values of
  one identifier are merged into that set (AND); a claim given two different values is a problem;
* ``apiKey`` and ``token`` identifiers and ``accessTokens.apiAccessKey_credentials.apiAccessKey``
  (or ``accessTokens.apiAccessKey.apiAccessKey``, the Swagger model's name) are API keys;
* ``authStrategyIds`` are resolved against the ``strategies`` given beside the applications;
  an ``OAUTH2*`` strategy's ``clientRegistration.clientId`` is one of the application's
  ``client_ids`` (the ``oAuth2Token`` identification finds it by a token's ``client_id``);
* identifiers in the vendor's current shape ``namedValues: [{name, values}]`` are read beside
  ``value``: for claims identifiers each named value is one claim of the set (one value: that value;
  several: a list, which the token must carry whole); for the other types the values are the
  identifier's values (the names are labels);
* a value made only of asterisks (``********``) is how the vendor's exports mask a secret it did not
  export: such an API key or HMAC secret is *never* a credential. Its real value is taken from
  ``secrets`` (the ``vendor_secrets`` setting) by the id of the application (API keys) or of the
  strategy (HMAC secrets); without one, a warning names the item and the credential is left out.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from microgw.jose.algorithms import HMAC_ALGS

from .addresses import parse_range
from .claims import ClaimSet, json_equal
from .model import Application, HmacStrategy, normal_hostname

Problem = tuple[list, str]

VENDOR_MARKERS = frozenset(
    {"identifiers", "isSuspended", "accessTokens", "authStrategyIds", "applicationID", "consumingAPIs", "apiIDs"}
)
# Vendor fields read here, or known vendor metadata that has no meaning for identification.
_VENDOR_FIELDS = VENDOR_MARKERS | {
    "id", "name", "description", "strategies", "apis",
    "contactEmails", "siteURLs", "jsOrigins", "owner", "ownerType", "version", "created", "creationDate",
    "lastupdated", "lastUpdated", "lastModified", "teams", "customFields", "iconbyteArray", "primaryNode",
    "shell", "subscription", "requesterComment",
}
_API_KEY_IDENTIFIERS = frozenset({"apiKey", "token"})
_CLAIM_IDENTIFIERS = frozenset({"jwtClaims", "openIdClaims"})
_ACCESS_KEY_FIELDS = ("apiAccessKey_credentials", "apiAccessKey")
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as its hash output


def is_masked(value: Any) -> bool:
    """The vendor's export mask for a secret it did not export: asterisks only (``********``)."""
    return isinstance(value, str) and len(value) >= 3 and set(value) == {"*"}


def is_vendor_form(item: Mapping[str, Any]) -> bool:
    return not VENDOR_MARKERS.isdisjoint(item)


@dataclass(frozen=True)
class ParsedApplications:
    applications: tuple[Application, ...]
    problems: list[Problem]
    warnings: list[Problem]


def parse_applications(
    items: list[dict], *, strategies: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[tuple[Application, ...], list[Problem]]:
    """Models and problems; see :func:`parse` for the warnings too."""
    parsed = parse(items, strategies=strategies)
    return parsed.applications, parsed.problems


def parse(
    items: list[dict],
    *,
    strategies: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> ParsedApplications:
    """Parse every item. ``strategies`` (vendor ``/strategies`` answers, by id or as a list) is where
    vendor ``authStrategyIds`` are looked up; ``secrets`` (item id -> value) replace masked secrets."""
    known = _strategies_by_id(strategies)
    secrets = secrets or {}
    drafts: list[_Draft] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(([index], "an application must be a mapping"))
            continue
        reader = _VendorReader(index, item, known, secrets) if is_vendor_form(item) else _ConciseReader(index, item)
        drafts.append(reader.draft)
        problems += reader.draft.problems
        warnings += reader.draft.warnings
    apps, cross_problems, cross_warnings = _build(drafts, secrets)
    return ParsedApplications(apps, _sorted(problems + cross_problems), _sorted(warnings + cross_warnings))


def _sorted(found: list[Problem]) -> list[Problem]:
    """In document order: numbers as numbers (item 10 after item 2), names as text."""
    return sorted(found, key=lambda item: [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in item[0]])


def _strategies_by_id(strategies: Any) -> dict[str, Mapping[str, Any]]:
    if not strategies:
        return {}
    if isinstance(strategies, Mapping):
        return dict(strategies)
    return {s["id"]: s for s in strategies if isinstance(s, Mapping) and isinstance(s.get("id"), str)}


@dataclass
class _Draft:
    """One application as read, before models are built; values carry the path they came from."""

    index: int
    id: str
    id_path: list
    name: str = ""
    description: str = ""
    suspended: bool = False
    api_keys: list[tuple[list, str]] = field(default_factory=list)
    basic_users: list[str] = field(default_factory=list)
    ip_ranges: list[tuple[list, str]] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    claim_sets: list[tuple[list, Mapping[str, Any]]] = field(default_factory=list)
    apis: list[str] = field(default_factory=list)
    api_ids: list[str] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)
    strategies: list[tuple[list, Mapping[str, Any]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


class _ConciseReader:
    def __init__(self, index: int, item: Mapping[str, Any]) -> None:
        get = item.get  # (10,000 applications: what is not written is not read twice)
        draft = _Draft(index, str(get("id", "")), [index, "id"])
        draft.name = get("name") or draft.id
        draft.description = get("description") or ""
        draft.suspended = bool(get("suspended", False))
        for name in ("api_keys", "ip_ranges", "claim_sets", "strategies"):  # values with their paths
            written = get(name)
            if written:
                setattr(draft, name, [([index, name, j], value) for j, value in enumerate(written)])
        for name in ("basic_users", "client_ids", "hostnames", "apis"):
            written = get(name)
            if written:
                setattr(draft, name, list(written))
        self.draft = draft


class _VendorReader:
    def __init__(self, index: int, item: Mapping[str, Any], known_strategies: Mapping[str, Mapping], secrets: Mapping[str, str]) -> None:
        self.at = [index]
        self.secrets = secrets
        self._masked_told = False  # a masked key is reported once per application
        app_id, id_field = item.get("id"), "id"
        if not app_id:
            app_id, id_field = item.get("applicationID"), "applicationID"
        draft = self.draft = _Draft(index, str(app_id or ""), [index, id_field])
        other = item.get("applicationID")
        if item.get("id") and other and other != item["id"]:
            draft.problems.append(([index, "applicationID"], f"applicationID {other!r} differs from id {item['id']!r}"))
        draft.name = item.get("name") or draft.id
        draft.description = item.get("description") or ""
        draft.suspended = bool(item.get("isSuspended"))
        for j, identifier in enumerate(item.get("identifiers") or ()):
            self._identifier([index, "identifiers", j], identifier)
        self._access_keys(item.get("accessTokens") or {})
        for j, strategy_id in enumerate(item.get("authStrategyIds") or ()):
            strategy = known_strategies.get(strategy_id)
            if strategy is None:
                draft.warnings.append((
                    [index, "authStrategyIds", j],
                    f"strategy {strategy_id!r} is not defined here; tokens of that strategy will not identify this application",
                ))
            else:
                draft.strategies.append(([index, "authStrategyIds", j], strategy))
        draft.strategies += [([index, "strategies", j], s) for j, s in enumerate(item.get("strategies") or ())]
        draft.apis = list(item.get("apis") or ())
        draft.api_ids = list(item.get("apiIDs") or ())
        draft.api_ids += [a if isinstance(a, str) else a["id"] for a in item.get("consumingAPIs") or ()]
        unknown = sorted(set(item) - _VENDOR_FIELDS)
        if unknown:
            draft.warnings.append(([index], f"vendor fields not used by microgw, ignored: {', '.join(unknown)}"))

    def _identifier(self, path: list, identifier: Mapping[str, Any]) -> None:
        key, values = identifier.get("key"), list(identifier.get("value") or [])
        named = [n for n in identifier.get("namedValues") or () if isinstance(n, Mapping)]
        draft = self.draft
        if key in _CLAIM_IDENTIFIERS and named:
            claims = {}
            for n in named:
                found = [v for v in n.get("values") or () if v is not None]
                if isinstance(n.get("name"), str) and n["name"] and found:
                    claims[n["name"]] = found[0] if len(found) == 1 else found
            if claims:
                values.append(claims)
        elif named:
            values += [v for n in named for v in n.get("values") or () if isinstance(v, str)]
        if key in _API_KEY_IDENTIFIERS:
            for k, v in enumerate(values):
                if is_masked(v):
                    self._masked_key([*path, "value" if k < len(identifier.get("value") or []) else "namedValues"])
                else:
                    draft.api_keys.append(([*path, "value", k], v))
        elif key == "httpBasicAuth":
            draft.basic_users += values
        elif key == "ipAddressRange":
            draft.ip_ranges += [([*path, "value", k], v) for k, v in enumerate(values)]
        elif key == "hostNameAddress":
            draft.hostnames += values
        elif key in _CLAIM_IDENTIFIERS:
            merged = self._claims(path, values)
            if merged:
                draft.claim_sets.append((path, merged))
            elif not values:
                draft.warnings.append((path, f"{key} identifier without claims, ignored"))
        else:
            draft.warnings.append((path, f"identifier type {key!r} is not supported by microgw, ignored"))

    def _claims(self, path: list, values: list) -> dict[str, Any] | None:
        """Merge the values of one claims identifier into one set; None when any value is bad."""
        merged: dict[str, Any] = {}
        ok = True
        for k, value in enumerate(values):
            where = [*path, "value", k]
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None
            if not isinstance(value, Mapping) or not value:
                self.draft.problems.append((where, 'a claim set must be a non-empty JSON object such as {"sub": "x"}'))
                ok = False
                continue
            for name, expected in value.items():
                if name in merged and not json_equal(merged[name], expected):
                    self.draft.problems.append((where, f"claim {name!r} is given two different values in one claim set"))
                    ok = False
                merged[name] = expected
        return merged if ok else None

    def _access_keys(self, tokens: Mapping[str, Any]) -> None:
        for name in _ACCESS_KEY_FIELDS:
            credentials = tokens.get(name)
            if not isinstance(credentials, Mapping) or not credentials.get("apiAccessKey"):
                continue
            path = [*self.at, "accessTokens", name, "apiAccessKey"]
            if credentials.get("expired") is True:
                self.draft.warnings.append((path, "the API key is marked expired, ignored"))
            elif is_masked(credentials["apiAccessKey"]):
                self._masked_key(path)
            else:
                self.draft.api_keys.append((path, credentials["apiAccessKey"]))

    def _masked_key(self, path: list) -> None:
        """A masked API key is never a credential; ``vendor_secrets.<application id>`` gives the real one."""
        real = self.secrets.get(self.draft.id)
        if isinstance(real, str) and real and not is_masked(real):
            self.draft.api_keys.append((path, real))
        elif not self._masked_told:
            self._masked_told = True
            self.draft.warnings.append((path, (
                f"application {self.draft.name!r} (id {self.draft.id!r}): its API key was masked by the export (not exported) "
                f"and is not a credential; set the real one as vendor_secrets.{self.draft.id} (or mcgw_vendor_secrets_{self.draft.id})"
            )))


# --- building models and cross-application checks ------------------------------------------------


_EMPTY: frozenset = frozenset()


def _frozen(items) -> frozenset:
    """``frozenset(items)``, the empty ones shared: most applications leave most fields empty, and
    each empty frozenset of its own is 216 bytes (6 MiB for three fields of 10,000 applications)."""
    found = frozenset(items)
    return found if found else _EMPTY


def _build(drafts: list[_Draft], secrets: Mapping[str, str] | None = None) -> tuple[tuple[Application, ...], list[Problem], list[Problem]]:
    registrations: dict[frozenset, frozenset] = {}  # equal sets of APIs are one object (most apps share theirs)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    apps: list[Application] = []
    app_of_id: dict[str, int] = {}
    key_owner: dict[str, str] = {}
    secret_owner: dict[bytes, str] = {}
    strategy_ids: set[str] = set()
    for draft in drafts:
        if not draft.id:
            problems.append((draft.id_path, "an application needs an id"))
            continue
        if draft.id in app_of_id:
            problems.append((draft.id_path, f"application id {draft.id!r} is already used by item {app_of_id[draft.id]}"))
            continue
        app_of_id[draft.id] = draft.index
        api_keys = set()
        for path, key in draft.api_keys:
            owner = key_owner.setdefault(key, draft.id)
            if owner == draft.id:
                api_keys.add(key)
            else:
                problems.append((path, f"this API key is already held by application {owner!r}; a key must identify one application"))
        strategies = []
        for position, (path, spec) in enumerate(draft.strategies):
            strategy = _strategy(draft, path, spec, position, problems, warnings, secrets or {})
            if strategy is None:
                continue
            if strategy.id in strategy_ids:
                problems.append((path, f"strategy id {strategy.id!r} is used twice"))
                continue
            strategy_ids.add(strategy.id)
            owner = secret_owner.setdefault(strategy.secret, draft.id)
            if owner != draft.id:
                problems.append((path, f"this HMAC secret is already used by application {owner!r}; a token signed with it would not identify one application"))
            strategies.append(strategy)
        apps.append(Application(
            id=draft.id,
            name=draft.name,
            description=draft.description,
            suspended=draft.suspended,
            api_keys=_frozen(api_keys),
            basic_users=_frozen(draft.basic_users) if draft.basic_users else _EMPTY,
            ip_ranges=tuple(_ranges(draft, problems)) if draft.ip_ranges else (),
            hostnames=_frozen(_hostnames(draft, problems)) if draft.hostnames else _EMPTY,
            claim_sets=tuple(_claim_sets(draft, problems)) if draft.claim_sets else (),
            apis=registrations.setdefault(apis := _frozen(draft.apis), apis),
            strategies=tuple(strategies),
            api_ids=_frozen(draft.api_ids) if draft.api_ids else _EMPTY,
            client_ids=_frozen([*draft.client_ids, *_oauth_clients(draft)]) if draft.client_ids or draft.strategies else _EMPTY,
        ))
    return tuple(apps), problems, warnings


def _parsed_once(items: list[tuple[list, Any]], parse_one, problems: list[Problem]):
    """Each item parsed (ValueError -> a problem at its path), duplicates dropped, order kept."""
    seen = set()
    for path, raw in items:
        try:
            value = parse_one(raw)
        except ValueError as exc:
            problems.append((path, str(exc)))
            continue
        if value not in seen:
            seen.add(value)
            yield value


def _ranges(draft: _Draft, problems: list[Problem]):
    return _parsed_once(draft.ip_ranges, parse_range, problems)


def _hostnames(draft: _Draft, problems: list[Problem]):
    for host in draft.hostnames:
        normal = normal_hostname(host)
        if normal:
            yield normal
        else:
            problems.append((draft.id_path[:1], f"{host!r} is not a host name"))


def _claim_sets(draft: _Draft, problems: list[Problem]):
    return _parsed_once(draft.claim_sets, ClaimSet.of, problems)


def _oauth_clients(draft: _Draft):
    """The vendor's OAuth 2 strategies name the application's client: ``clientRegistration.clientId``."""
    for _path, spec in draft.strategies:
        if isinstance(spec, Mapping) and str(spec.get("type") or "").upper().startswith("OAUTH2"):
            registration = spec.get("clientRegistration")
            client_id = registration.get("clientId") if isinstance(registration, Mapping) else None
            if isinstance(client_id, str) and client_id:
                yield client_id


def _strategy(
    draft: _Draft, path: list, spec: Mapping[str, Any], position: int, problems: list[Problem], warnings: list[Problem],
    secrets: Mapping[str, str],
) -> HmacStrategy | None:
    kind = spec.get("type")
    if str(kind or "").upper().startswith("OAUTH2"):
        return None  # its client id identifies the application (oAuth2Token), see _oauth_clients
    if kind != "JWT_HSA":
        warnings.append((path, f"strategy type {kind!r} is not an HMAC (JWT_HSA) strategy, ignored here"))
        return None
    secret_field = spec.get("secret")
    text = secret_field.get("secret") if isinstance(secret_field, Mapping) else secret_field
    secret_path = [*path, "secret"]
    if is_masked(text):
        strategy_id = spec.get("id") or f"{draft.id}#strategy-{position}"
        text = secrets.get(strategy_id)
        if not isinstance(text, str) or not text or is_masked(text):
            warnings.append((secret_path, (
                f"strategy {spec.get('name') or strategy_id!r} (id {strategy_id!r}) of application {draft.id!r}: its secret was masked "
                f"by the export (not exported) and verifies nothing; set the real one (base64) as vendor_secrets.{strategy_id}"
            )))
            return None
    try:
        secret = _b64decode(text if isinstance(text, str) else "")
    except ValueError:
        problems.append((secret_path, "the secret (not shown) is not valid base64"))
        return None
    if not secret:
        problems.append((secret_path, "the secret is empty; an HMAC strategy needs a shared key"))
        return None
    if len(secret) < MIN_SECRET_BYTES:
        warnings.append((secret_path, f"the secret is only {len(secret)} bytes; use at least {MIN_SECRET_BYTES} random bytes"))
    audience = spec.get("audience")
    audiences = frozenset([audience] if isinstance(audience, str) else audience or ())
    if not audiences:
        problems.append(([*path, "audience"], "an HMAC strategy needs an audience"))
        return None
    return HmacStrategy(
        id=spec.get("id") or f"{draft.id}#strategy-{position}",
        secret=secret,
        audiences=audiences,
        algorithms=frozenset(spec.get("algorithms") or HMAC_ALGS),
        auth_server=spec.get("auth_server") or spec.get("authServerAlias") or None,
    )


def _b64decode(text: str) -> bytes:
    """Standard base64 (the vendor's) or base64url, padding optional; ValueError otherwise."""
    compact = text.strip().rstrip("=")
    if "-" in compact or "_" in compact:
        compact = compact.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
