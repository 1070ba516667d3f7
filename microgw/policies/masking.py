"""Data masking, shared by ``requestDataMasking`` and ``responseDataMasking`` (the vendor's Data Masking).

Criteria by content type, as the vendor maps them: JSONPath for JSON bodies, XPath for XML bodies,
regular expressions for text bodies (``text/*``, and JSON and XML bodies after their path criteria,
so a pattern such as a card number is caught wherever it stands). Each criterion masks (replaces the
value with its ``mask``, default ``********``) or filters (removes it). Per application, as the vendor
allows: the criteria of the first ``applications`` entry naming the identified application apply,
else the default criteria (those outside ``applications``).

XPath is the ElementTree subset (``//a``, ``/a/b``, ``a/b[@x='1']``, a final ``/@attr`` or
``/text()``), with ``namespaces`` mapping the prefixes it uses. Documents with a DOCTYPE are refused
(no entity expansion); a masked document's namespace prefixes may be renamed (``ns0:``), its meaning
is unchanged.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Mapping

import orjson

from microgw.policies import jsonpath
from microgw.policies.bodies import JSON, TEXT, XML, kind_of
from microgw.policies.vendor import Invalid, VendorAction, first, groups, values

DEFAULT_MASK = "********"

_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "action": {"enum": ["mask", "filter"], "description": "mask (default): replace the value; filter: remove it."},
        "mask": {"type": "string", "description": "Default ********."},
    },
}
_REGEX_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pattern"],
    "properties": {
        "pattern": {"type": "string", "minLength": 1},
        "action": {"enum": ["mask", "filter"]},
        "mask": {"type": "string"},
    },
}
_CRITERIA = {
    "json": {"type": "array", "items": _RULE, "description": "JSONPath criteria ($.card.number, $..ssn, $.items[*].price)."},
    "xml": {"type": "array", "items": _RULE, "description": "XPath criteria (//ns:card, /order/card/@number)."},
    "regex": {"type": "array", "items": _REGEX_RULE, "description": "Regular expressions over text bodies."},
    "namespaces": {"type": "object", "additionalProperties": {"type": "string"}, "description": "XPath prefix -> namespace URI."},
}


def schema(direction: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": f"Mask or filter fields of {direction} bodies: JSONPath for JSON, XPath for XML, regex for text (the vendor's {direction}DataMasking).",
        "properties": {
            **_CRITERIA,
            "applications": {
                "type": "array",
                "description": "Criteria for some applications only (by id), instead of the default ones.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["ids"],
                    "properties": {"ids": {"type": "array", "minItems": 1, "items": {"type": "string"}}, **_CRITERIA},
                },
            },
        },
    }


@dataclass(frozen=True, slots=True)
class XPath:
    text: str
    mode: str  # "root" (the root element itself), "find" (findall from the root)
    expression: str
    root_tag: str | None
    attribute: str | None  # a final /@name


@dataclass(frozen=True)
class Criteria:
    json: tuple[tuple[tuple, str, str], ...] = ()  # (steps, action, mask)
    xml: tuple[tuple[XPath, str, str], ...] = ()
    regex: tuple[tuple[re.Pattern, str, str], ...] = ()
    namespaces: Mapping[str, str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.json or self.xml or self.regex)


@dataclass(frozen=True)
class MaskingConfig:
    default: Criteria
    by_application: tuple[tuple[frozenset[str], Criteria], ...] = ()

    def criteria_for(self, application: Any) -> Criteria:
        app_id = getattr(application, "id", None)
        if app_id is not None:
            for ids, criteria in self.by_application:
                if app_id in ids:
                    return criteria
        return self.default

    @property
    def needs_application(self) -> bool:
        return bool(self.by_application)


def _qualified(name: str, namespaces: Mapping[str, str], text: str) -> str:
    if ":" in name and not name.startswith("{"):
        prefix, local = name.split(":", 1)
        if prefix not in namespaces:
            raise ValueError(f"XPath {text!r}: prefix {prefix!r} is not under namespaces")
        return "{" + namespaces[prefix] + "}" + local
    return name


def compile_xpath(text: str, namespaces: Mapping[str, str]) -> XPath:
    path = text.strip()
    attribute = None
    if path.endswith("/text()"):
        path = path[: -len("/text()")]
    match = re.search(r"/@([\w:.-]+)$", path)
    if match:
        attribute = _qualified(match.group(1), namespaces, text)
        path = path[: match.start()]
    if path.startswith("//"):
        mode, expression, root_tag = "find", "." + path, None
    elif path.startswith("/"):
        first_step, _, rest = path[1:].partition("/")
        mode = "find" if rest else "root"
        expression, root_tag = ("./" + rest if rest else "."), _qualified(first_step, namespaces, text)
    else:
        mode, expression, root_tag = "find", path, None
    try:
        ET.fromstring("<x/>").findall(expression, dict(namespaces))
    except (SyntaxError, KeyError) as exc:
        raise ValueError(f"XPath {text!r} is not supported: {exc}") from None
    return XPath(text, mode, expression, root_tag, attribute)


def _criteria(data: Mapping[str, Any], where: str) -> Criteria:
    namespaces = dict(data.get("namespaces") or {})
    json_rules = []
    for rule in data.get("json", ()):
        json_rules.append((jsonpath.compile_path(rule["path"]), rule.get("action", "mask"), rule.get("mask", DEFAULT_MASK)))
    xml_rules = [(compile_xpath(rule["path"], namespaces), rule.get("action", "mask"), rule.get("mask", DEFAULT_MASK)) for rule in data.get("xml", ())]
    regex_rules = []
    for rule in data.get("regex", ()):
        try:
            pattern = re.compile(rule["pattern"])
        except re.error as exc:
            raise ValueError(f"{where}regex {rule['pattern']!r}: {exc}") from None
        regex_rules.append((pattern, rule.get("action", "mask"), rule.get("mask", DEFAULT_MASK)))
    return Criteria(tuple(json_rules), tuple(xml_rules), tuple(regex_rules), namespaces)


def parse(data: Mapping[str, Any]) -> MaskingConfig:
    by_app = tuple((frozenset(item["ids"]), _criteria(item, f"applications {item['ids']}: ")) for item in data.get("applications", ()))
    return MaskingConfig(_criteria(data, ""), by_app)


def check(config: MaskingConfig, checks) -> None:
    for index, (ids, _) in enumerate(config.by_application):
        for name in sorted(ids):
            if name not in checks.application_ids:
                checks.fail_unknown(["applications", index, "ids"], f"no application with id {name!r}")
    if config.needs_application and "identify" not in checks.policies:
        checks.fail(["applications"], "criteria per application need an identify policy to know the application")


class MaskingFailed(Exception):
    """The body is not what its content type says (unreadable JSON or XML)."""


def _mask_json(body: bytes, criteria: Criteria) -> bytes:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MaskingFailed("is not valid JSON") from None
    for steps, action, mask in criteria.json:
        if action == "filter":
            jsonpath.remove_all(document, steps)
        else:
            jsonpath.replace_all(document, steps, mask)
    return orjson.dumps(document)


def _mask_xml(body: bytes, criteria: Criteria) -> bytes:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MaskingFailed("holds a DOCTYPE, which is not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise MaskingFailed("is not well-formed XML") from None
    namespaces = dict(criteria.namespaces or {})
    parents = {child: parent for parent in root.iter() for child in parent}
    for xpath, action, mask in criteria.xml:
        if xpath.mode == "root" or xpath.root_tag is not None:
            if root.tag != xpath.root_tag:
                continue
        found = [root] if xpath.mode == "root" else root.findall(xpath.expression, namespaces)
        for element in found:
            if xpath.attribute is not None:
                if xpath.attribute in element.attrib:
                    if action == "filter":
                        del element.attrib[xpath.attribute]
                    else:
                        element.set(xpath.attribute, mask)
            elif action == "filter" and element is not root:
                parents[element].remove(element)
            else:
                for child in list(element):
                    element.remove(child)
                element.text = "" if action == "filter" else mask
    declaration = body.lstrip().startswith(b"<?xml")
    return ET.tostring(root, encoding="utf-8", xml_declaration=declaration)


def _mask_text(body: bytes, criteria: Criteria) -> bytes:
    text = body.decode("utf-8", "surrogateescape")
    for pattern, action, mask in criteria.regex:
        text = pattern.sub("" if action == "filter" else mask.replace("\\", "\\\\"), text)
    return text.encode("utf-8", "surrogateescape")


def mask_body(body: bytes, content_type: str | None, criteria: Criteria) -> bytes:
    """The body with the criteria for its content type applied; MaskingFailed when it cannot be read."""
    kind = kind_of(content_type)
    if kind == JSON and criteria.json and body:
        body = _mask_json(body, criteria)
    elif kind == XML and criteria.xml and body:
        body = _mask_xml(body, criteria)
    if criteria.regex and kind in (JSON, XML, TEXT):
        body = _mask_text(body, criteria)
    return body


# --- the vendor's form -------------------------------------------------------------------------

_KINDS = {"jpathMasking": "json", "jsonPathMasking": "json", "xpathMasking": "xml", "regexMasking": "regex"}
VENDOR_PARAMETERS = frozenset({*_KINDS, "consumerApplications", "applications", "sameForTransactionalLogging", "applyForPayload", "namespace", "namespaces"})


def _vendor_criteria(items: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in _KINDS.items():
        for group in groups(items, key):
            for criterion in groups(group, "maskingCriteria") or [group]:
                expression = (first(criterion, "action") or first(criterion, "query") or "").strip()
                if not expression:
                    raise Invalid(f"a {key} criterion has no query expression (action)")
                masking = (first(criterion, "maskingType") or "mask").strip().lower()
                if masking not in ("mask", "filter"):
                    raise Invalid(f"maskingType {masking!r} is neither Mask nor Filter")
                rule: dict[str, Any] = {"pattern" if kind == "regex" else "path": expression}
                if masking == "filter":
                    rule["action"] = "filter"
                mask = first(criterion, "maskValue")
                if masking == "mask" and mask not in (None, DEFAULT_MASK):
                    rule["mask"] = mask
                out.setdefault(kind, []).append(rule)
    for group in groups(items, "namespace") + groups(items, "namespaces"):
        prefix, uri = first(group, "prefix"), first(group, "uri") or first(group, "namespace")
        if prefix and uri:
            out.setdefault("namespaces", {})[prefix] = uri
    return out


def from_vendor(action: VendorAction) -> dict[str, Any]:
    """``requestDataMasking`` / ``responseDataMasking``: ``jpathMasking`` / ``xpathMasking`` /
    ``regexMasking`` groups of ``maskingCriteria {action (the expression), maskingType mask|filter,
    maskValue}``; ``consumerApplications`` (ids) makes them the criteria of those applications.
    A ``dataMasking`` group per application set is read the same way."""
    out = _vendor_criteria(action.parameters)
    applications = [a for a in values(action.parameters, "consumerApplications") + values(action.parameters, "applications") if a.strip()]
    per_app = []
    for group in action.groups("dataMasking"):
        ids = [a for a in values(group, "consumerApplications") + values(group, "applications") if a.strip()]
        criteria = _vendor_criteria(group)
        if ids:
            per_app.append({"ids": ids, **criteria})
        else:
            for kind, rules in criteria.items():
                if kind == "namespaces":
                    out.setdefault(kind, {}).update(rules)
                else:
                    out.setdefault(kind, []).extend(rules)
    if applications:
        per_app.insert(0, {"ids": applications, **out})
        out = {}
    if per_app:
        out["applications"] = per_app
    if not out:
        raise Invalid("has no masking criteria")
    if (first(action.parameters, "applyForPayload") or "true").strip().lower() == "false":
        action.warn("applyForPayload is false (masking for logs only): microgw has no transaction log, so nothing is masked")
        return {}
    return out
