"""The vendor's policy actions <-> the policies of an API in microgw's YAML form.

Mapping (vendor template (stage): parameter templateKeys -> our YAML):

* ``straightThroughRouting`` (routing)
    - ``endpointUri`` -> ``endpoint`` (``${sys:resource_path}`` and ``${alias}`` kept verbatim)
    - ``method`` CUSTOM (pass the client's) -> nothing; a fixed GET, POST, ... -> ``methods: [M]`` + warning (A3)
    - ``connectTimeout`` / ``readTimeout`` (seconds) -> ``timeouts.connect`` / ``timeouts.read`` (A2)
* ``entryProtocolPolicy`` (transport)
    - ``protocol`` [http, https] -> ``protocols``; ``soapVersion`` ignored (SOAP passes through)
* ``evaluatePolicy`` (IAM, Identify & Authorize Application)
    - ``logicalConnector`` AND|OR -> ``identify.connector``
    - ``allowAnonymous`` true|false -> ``identify.allow_anonymous``
    - ``IdentificationRule`` {``applicationLookup``, ``identificationType``} -> ``identify.rules``
      (names plus ``lookup`` when all rules share one, else ``{type, lookup}`` items)
    - ``triggerPolicyViolationOnMissingAuthorizationHeader`` ignored (A4)
    - with a jwtClaims rule, also ``jwt: {required: R}`` (A7); ``oauth2`` instead when an
      ``oAuth2Token`` rule is there too (A8)
* ``outboundTransportAuthentication`` (routing): one ``transportSecurity`` group of
    - ``authType`` JWT + ``authMode`` INCOMING_JWT -> ``outbound.auth: INCOMING_JWT``
    - ``authType`` HTTP_BASIC + ``authMode`` NEW + ``httpAuthCredentials`` {``userName``, ``password``}
      -> ``outbound.auth: HTTP_BASIC`` + ``outbound.basic {user, password}`` (A5)
    - ``authType`` REMOVE_INCOMING_HTTP_HEADERS -> ``outbound.remove_headers: [Authorization]`` (A6)

identificationType ``jwtClaims``, ``oAuth2Token``, ``apiKey``, ``httpBasicAuth``, ``ipAddressRange``
and ``hostNameAddress`` are supported; applicationLookup ``strict``, ``open``, ``relax``. Anything else
(another template, identification type, authType/authMode, a protocol other than http/https) is
*unsupported*: an error naming the API, the policy, the action and the template, or, when the caller
asked to skip, that part is dropped with a warning (a dropped identification rule makes the API
accept fewer credentials; when no rule is left, the whole Identify & Authorize policy is dropped and
the warning says the API no longer identifies applications).

Assumptions where the vendor's documents are silent:

* A1 Parameter keys come from the Swagger files (``endpointUri``, ``protocol``) and real exported
  archives (``method``, ``logicalConnector``, ``allowAnonymous``, ``IdentificationRule``,
  ``applicationLookup``, ``identificationType``, ``transportSecurity``, ``authType``, ``authMode``,
  ``httpAuthCredentials`` {``userName``, ``password``} as in the Swagger ``Credentials``). Lookup,
  identification type, connector and authType are matched case-insensitively.
* A2 ``connectTimeout`` / ``readTimeout`` are seconds (as the Swagger's endpoint aliases say);
  0 or an empty value means the default.
* A3 A fixed routing ``method`` makes the vendor call the native service with that method; microgw
  forwards the client's method, so the closest safe reading is to allow only that method.
* A4 ``triggerPolicyViolationOnMissingAuthorizationHeader`` is not modelled: missing credentials
  give 401 unless ``allow_anonymous``.
* A5 The password is base64 of the UTF-8 password (the Swagger's ``Credentials.password``). The
  vendor masks it on export (base64 of asterisks); such a password is kept and a warning asks for
  the real one. Passwords never appear in warnings or errors.
* A6 REMOVE_INCOMING_HTTP_HEADERS removes the client's authorization header before the call.
* A7 ``jwtClaims`` needs a validated token, so an imported ``identify`` with jwtClaims gets
  ``jwt: {required: R}``: R is true when a token is the only way in (no anonymous access, no relax
  lookup, and either AND or jwtClaims as the only rule); otherwise false (validated when present),
  so another rule can still identify the caller.
* A8 ``oAuth2Token`` identifies the application by the OAuth 2 token's ``client_id``; the identify
  policy validates (JWT) or introspects (opaque, RFC 7662) the token itself, so the rule alone
  needs no other policy. With jwtClaims beside it, A7's token policy is ``oauth2`` (it validates
  JWTs as ``jwt`` does and introspects the others). The vendor's OAuth scope mapping is global
  configuration, not part of an API's archive: required scopes are set with ``oauth2.scopes``.
* Each template may appear once per API (the vendor allows one per API); twice is an error.
* Parameters a supported template has but microgw does not model (e.g. ``sslConfig``) are ignored
  with a warning naming them.
* Export writes ``method: CUSTOM``, and a plain base endpoint as ``<base>/${sys:resource_path}``
  (microgw appends the resource to a base; the vendor only substitutes the placeholder).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Mapping

from microgw.policies import vendor as vendor_actions
from microgw.policies.registry import VENDOR_TEMPLATES
from microgw.policies.vendor import first, groups, values

ROUTING = "straightThroughRouting"
PROTOCOL = "entryProtocolPolicy"
IDENTIFY = "evaluatePolicy"
OUTBOUND = "outboundTransportAuthentication"

STAGES = {PROTOCOL: "transport", IDENTIFY: "IAM", ROUTING: "routing", OUTBOUND: "routing"}
# Identification and authentication templates of the vendor (stage IAM), whatever stage they are filed under.
GUARD_TEMPLATES = frozenset({IDENTIFY, "inboundAuthTransport", "authorizeUser", "inboundAuthMessage", "identifyAndAuthorize", "kerberos"})
ACTION_NAMES = {
    PROTOCOL: "Enable HTTP / HTTPS",
    IDENTIFY: "Identify & Authorize Application",
    ROUTING: "Straight Through Routing",
    OUTBOUND: "Outbound Authentication - Transport",
}
IDENTIFICATION_TYPES = ("jwtClaims", "oAuth2Token", "apiKey", "httpBasicAuth", "ipAddressRange", "hostNameAddress")
LOOKUPS = ("strict", "open", "relax")
PROTOCOLS = ("http", "https")
AUTHORIZATION = "Authorization"

_KNOWN_PARAMETERS = {
    ROUTING: {"endpointUri", "method", "connectTimeout", "readTimeout"},
    PROTOCOL: {"protocol", "soapVersion"},
    IDENTIFY: {"logicalConnector", "allowAnonymous", "IdentificationRule", "triggerPolicyViolationOnMissingAuthorizationHeader"},
    OUTBOUND: {"transportSecurity"},
}


# --- parameters ---------------------------------------------------------------------------------

def value(key: str, *texts: str) -> dict:
    return {"templateKey": key, "values": list(texts)}


def group(key: str, *children: dict) -> dict:
    return {"templateKey": key, "parameters": list(children)}


def number_text(number: float | int) -> str:
    """``5`` for whole numbers (the vendor's seconds), else the shortest exact text."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def parse_seconds(text: str | None) -> float | int | None:
    """Positive seconds, or None for missing, empty, zero or unreadable values."""
    try:
        seconds = float(text) if text and text.strip() else 0.0
    except ValueError:
        return None
    if not seconds > 0 or seconds == float("inf"):
        return None
    return int(seconds) if seconds.is_integer() else seconds


# --- import -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    """One policy action found in an archive, with where it came from (for messages)."""

    id: str
    template: str
    name: str
    parameters: list[dict]
    policy: str
    stage: str = ""  # the policy enforcement's stageKey

    def label(self) -> str:
        return f"policy {self.policy!r}, action {self.name!r} (template {self.template!r})"

    @property
    def guards(self) -> bool:
        """Does it identify or authenticate callers? (Skipping it must not open the API.)"""
        return self.stage == "IAM" or self.template in GUARD_TEMPLATES


@dataclass
class Importer:
    """Folds the policy actions of one API into our form, collecting problems and warnings."""

    api: str  # "API 'name' version 'v'" for messages
    skip_unsupported: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # endpoint, protocols, methods, timeouts
    policies: dict[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # vendor_secrets: item id -> the real value of a masked secret
    closed: list[str] = field(default_factory=list)  # why skipping cannot load the API (it would open it)
    _seen: set[str] = field(default_factory=set)

    def unsupported(self, where: Action | str, detail: str, *, guards: bool | None = None) -> None:
        """``where`` is an action or a description such as ``scope 'x'``; ``detail`` what is unsupported.
        ``guards``: whether dropping it would let callers through (default: the action identifies or
        authenticates); skipping such a part fails closed instead (see :attr:`closed`)."""
        label = where.label() if isinstance(where, Action) else where
        if guards is None:
            guards = isinstance(where, Action) and where.guards
        if self.skip_unsupported and guards:
            self.closed.append(f"{self.api}: {label}: {detail} is not supported by microgw and cannot be skipped: it identifies or authenticates callers")
        elif self.skip_unsupported:
            self.warnings.append(f"{self.api}: {label}: dropped {detail}, which microgw does not support")
        else:
            self.problems.append(f"{self.api}: {label}: {detail} is not supported by microgw (skip_unsupported drops it)")

    def invalid(self, action: Action, detail: str) -> None:
        self.problems.append(f"{self.api}: {action.label()}: {detail}")

    def add(self, action: Action) -> None:
        handler = _IMPORTERS.get(action.template)
        unit = VENDOR_TEMPLATES.get(action.template)
        if handler is None and unit is None:
            self.unsupported(action, "this policy")
            return
        if action.template in self._seen:
            self.invalid(action, "appears more than once; an API may have one")
            return
        self._seen.add(action.template)
        known = _KNOWN_PARAMETERS[action.template] if handler is not None else unit[1].parameters
        unknown = sorted({p["templateKey"] for p in action.parameters} - known)
        if unknown:
            self.warnings.append(f"{self.api}: {action.label()}: ignored parameters {', '.join(unknown)}")
        if handler is not None:
            handler(self, action)
        else:
            self._import_unit(action, *unit)

    def _import_unit(self, action: Action, policy: Any, template: vendor_actions.VendorTemplate) -> None:
        """A template a policy unit imports (see :mod:`microgw.policies.vendor`)."""
        reader = vendor_actions.VendorAction(action.template, action.parameters)
        try:
            self.policies[policy.name] = template.to_yaml(reader)
            self.fields.update(reader.fields)
        except vendor_actions.Unsupported as exc:
            self.unsupported(action, str(exc))
        except vendor_actions.Invalid as exc:
            self.invalid(action, str(exc))
        self.warnings += [f"{self.api}: {action.label()}: {text}" for text in reader.warnings]

    def finish(self) -> None:
        """A7: a jwt policy for jwtClaims identification."""
        identify = self.policies.get("identify")
        if not identify:
            return
        rules = [(r, identify.get("lookup")) if isinstance(r, str) else (r["type"], r["lookup"]) for r in identify["rules"]]
        if not any(kind == "jwtClaims" for kind, _ in rules):
            return
        only_way = identify["connector"] == "AND" or all(kind == "jwtClaims" for kind, _ in rules)
        required = only_way and not identify["allow_anonymous"] and all(lookup != "relax" for _, lookup in rules)
        token_policy = "oauth2" if any(kind == "oAuth2Token" for kind, _ in rules) else "jwt"  # A8
        self.policies[token_policy] = {"required": required}


def _routing(imp: Importer, action: Action) -> None:
    p = action.parameters
    uri = (first(p, "endpointUri") or "").strip()
    if not uri:
        imp.invalid(action, "has no endpointUri")
        return
    imp.fields["endpoint"] = uri
    method = (first(p, "method") or "").strip().upper() or "CUSTOM"
    if method != "CUSTOM":
        imp.fields["methods"] = [method]
        imp.warnings.append(
            f"{imp.api}: {action.label()}: the vendor calls the native service with {method} whatever the client "
            f"used; microgw forwards the client's method, so only {method} is allowed"
        )
    timeouts = {}
    for ours, theirs in (("connect", "connectTimeout"), ("read", "readTimeout")):
        seconds = parse_seconds(first(p, theirs))
        if seconds is not None:
            timeouts[ours] = seconds
    if timeouts:
        imp.fields["timeouts"] = timeouts


def _protocol(imp: Importer, action: Action) -> None:
    texts = values(action.parameters, "protocol")
    if not texts:
        imp.invalid(action, "names no protocol")
        return
    found: list[str] = []
    for text in texts:
        protocol = text.strip().lower()
        if protocol not in PROTOCOLS:
            imp.unsupported(action, f"protocol {text!r}")
        elif protocol not in found:
            found.append(protocol)
    if found:
        imp.fields["protocols"] = found


def _bool(text: str | None, default: bool) -> bool | None:
    if text in (None, ""):
        return default
    return {"true": True, "false": False}.get(text.lower())


def _identify(imp: Importer, action: Action) -> None:
    p = action.parameters
    connector = (first(p, "logicalConnector") or "OR").strip().upper()
    anonymous = _bool((first(p, "allowAnonymous") or "").strip(), False)
    if connector not in ("AND", "OR"):
        imp.invalid(action, f"logicalConnector must be AND or OR, not {connector!r}")
        return
    if anonymous is None:
        imp.invalid(action, "allowAnonymous must be true or false")
        return
    rule_groups = groups(p, "IdentificationRule")
    if not rule_groups:
        imp.invalid(action, "has no IdentificationRule")
        return
    types = {t.lower(): t for t in IDENTIFICATION_TYPES}
    rules: list[tuple[str, str]] = []
    for rule in rule_groups:
        kind_text = first(rule, "identificationType") or ""
        lookup = (first(rule, "applicationLookup") or "strict").strip().lower()
        kind = types.get(kind_text.strip().lower())
        # with OR, a dropped rule only lets fewer callers in; with AND it would let more in
        if kind is None:
            imp.unsupported(action, f"identificationType {kind_text!r}", guards=connector == "AND")
        elif lookup not in LOOKUPS:
            imp.unsupported(action, f"applicationLookup {lookup!r}", guards=connector == "AND")
        else:
            rules.append((kind, lookup))
    if not rules:
        if imp.skip_unsupported and not imp.closed:
            imp.closed.append(f"{imp.api}: {action.label()}: no supported identification rule is left; without them the API would not identify applications")
        return
    identify: dict[str, Any] = {"connector": connector, "allow_anonymous": anonymous}
    identify.update(rules_form(rules))
    imp.policies["identify"] = identify


def rules_form(rules: list[tuple[str, str]]) -> dict[str, Any]:
    """Names plus one ``lookup`` when every rule shares it, else ``{type, lookup}`` items."""
    lookups = {lookup for _, lookup in rules}
    if len(lookups) == 1:
        return {"rules": [kind for kind, _ in rules], "lookup": lookups.pop()}
    return {"rules": [{"type": kind, "lookup": lookup} for kind, lookup in rules]}


def _outbound(imp: Importer, action: Action) -> None:
    security = groups(action.parameters, "transportSecurity")
    if len(security) != 1:
        imp.invalid(action, "needs exactly one transportSecurity group")
        return
    settings = security[0]
    auth_type = (first(settings, "authType") or "").strip().upper()
    auth_mode = (first(settings, "authMode") or "").strip().upper()
    if auth_type == "JWT" and auth_mode in ("INCOMING_JWT", ""):
        imp.policies["outbound"] = {"auth": "INCOMING_JWT"}
    elif auth_type == "HTTP_BASIC" and auth_mode in ("NEW", ""):
        credentials = groups(settings, "httpAuthCredentials")
        user = first(credentials[0], "userName") if credentials else None
        encoded = first(credentials[0], "password") if credentials else None
        if user is None or encoded is None:
            imp.invalid(action, "HTTP_BASIC needs httpAuthCredentials with userName and password")
            return
        try:
            password = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            imp.invalid(action, "the HTTP_BASIC password is not base64 of UTF-8 text (the vendor stores it base64-encoded)")
            return
        if password and set(password) == {"*"}:
            real = imp.secrets.get(action.id)
            if isinstance(real, str) and real and set(real) != {"*"}:
                password = real
            else:
                imp.warnings.append(
                    f"{imp.api}: {action.label()}: the HTTP_BASIC password was masked by the export (not exported); "
                    f"set the real one as vendor_secrets.{action.id}"
                )
        imp.policies["outbound"] = {"auth": "HTTP_BASIC", "basic": {"user": user, "password": password}}
    elif auth_type == "REMOVE_INCOMING_HTTP_HEADERS":
        imp.policies["outbound"] = {"remove_headers": [AUTHORIZATION]}
    else:
        imp.unsupported(action, f"authType {auth_type or '(none)'} with authMode {auth_mode or '(none)'}")


_IMPORTERS = {ROUTING: _routing, PROTOCOL: _protocol, IDENTIFY: _identify, OUTBOUND: _outbound}


# --- export -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActionSpec:
    """A policy action to write: its template, its stage and its parameters."""

    template: str
    parameters: list[dict]

    @property
    def stage(self) -> str:
        return STAGES[self.template]

    @property
    def name(self) -> str:
        return ACTION_NAMES[self.template]


def routed_endpoint(endpoint: str) -> str:
    """The vendor form of an endpoint: microgw appends the resource to a plain base URL, the vendor
    only where ``${sys:resource_path}`` stands, so a plain base gets the placeholder."""
    if "${sys:resource_path}" in endpoint:
        return endpoint
    return endpoint.rstrip("/") + "/${sys:resource_path}"


def export_actions(api: dict) -> list[ActionSpec]:
    """The vendor policy actions that express ``api`` (a canonical API dict); extras go elsewhere."""
    actions: list[ActionSpec] = []
    if "protocols" in api:
        actions.append(ActionSpec(PROTOCOL, [value("protocol", *api["protocols"])]))
    policies = api.get("policies") or {}
    identify = policies.get("identify")
    if identify:
        default_lookup = identify.get("lookup", "strict")
        parameters = [
            value("logicalConnector", identify.get("connector", "OR")),
            value("allowAnonymous", "true" if identify.get("allow_anonymous") else "false"),
        ]
        for rule in identify["rules"]:
            kind, lookup = (rule, default_lookup) if isinstance(rule, str) else (rule["type"], rule.get("lookup", default_lookup))
            parameters.append(group("IdentificationRule", value("applicationLookup", lookup), value("identificationType", kind)))
        actions.append(ActionSpec(IDENTIFY, parameters))
    if "endpoint" in api:
        uri = api["endpoint"] if api.get("append_resource", True) is False else routed_endpoint(api["endpoint"])
        parameters = [value("endpointUri", uri), value("method", "CUSTOM")]
        timeouts = api.get("timeouts") or {}
        for ours, theirs in (("connect", "connectTimeout"), ("read", "readTimeout")):
            if ours in timeouts:
                parameters.append(value(theirs, number_text(timeouts[ours])))
        actions.append(ActionSpec(ROUTING, parameters))
    security = _transport_security(policies.get("outbound") or {})
    if security is not None:
        actions.append(ActionSpec(OUTBOUND, [group("transportSecurity", *security)]))
    return actions


def _transport_security(outbound: dict) -> list[dict] | None:
    auth = outbound.get("auth", "NONE")
    if auth == "INCOMING_JWT":
        return [value("authType", "JWT"), value("authMode", "INCOMING_JWT")]
    if auth == "HTTP_BASIC":
        basic = outbound["basic"]
        password = base64.b64encode(basic["password"].encode("utf-8")).decode("ascii")
        credentials = group("httpAuthCredentials", value("userName", basic["user"]), value("password", password))
        return [value("authType", "HTTP_BASIC"), value("authMode", "NEW"), credentials]
    if any(h.lower() == AUTHORIZATION.lower() for h in outbound.get("remove_headers", ())):
        return [value("authType", "REMOVE_INCOMING_HTTP_HEADERS")]
    return None


def imported_remove_headers(outbound: dict) -> list[str] | None:
    """What importing the exported outbound action gives for ``remove_headers``."""
    security = _transport_security(outbound)
    if security is not None and security[0]["values"] == ["REMOVE_INCOMING_HTTP_HEADERS"]:
        return [AUTHORIZATION]
    return None


def action_document(action_id: str, spec: ActionSpec) -> dict:
    return {
        "id": action_id,
        "names": [{"value": spec.name, "locale": "en"}],
        "descriptions": [],
        "templateKey": spec.template,
        "parameters": spec.parameters,
        "active": False,
    }
