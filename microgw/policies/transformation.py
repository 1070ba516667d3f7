"""Request and response transformation, shared by ``requestTransformation`` and ``responseTransformation``
(the vendor's Request / Response Transformation).

Requests: headers and query parameters set or removed, the resource path and the method replaced,
JSON members set or removed — before the native service is called. Answers: headers set or
removed, the status replaced, JSON members set or removed — before the client sees them. Values
may hold the vendor's variables (:mod:`microgw.policies.variables`). The vendor's conditions,
XSLT and payload templates are not modelled (imports say so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode

from microgw.policies import jsonpath
from microgw.policies.variables import Template
from microgw.policies.vendor import Invalid, Unsupported, VendorAction, first, groups, values

_SET_REMOVE_NAMES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "set": {"type": "object", "additionalProperties": {"type": "string"}, "description": "name -> value (variables allowed)."},
        "remove": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}
_JSON = {
    "type": "object",
    "additionalProperties": False,
    "description": "JSON bodies only: JSONPath -> value to set (a string may hold variables), paths to remove.",
    "properties": {
        "set": {"type": "object", "additionalProperties": True},
        "remove": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}


def schema(direction: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"headers": _SET_REMOVE_NAMES, "json": _JSON}
    if direction == "request":
        properties.update(
            {
                "query": _SET_REMOVE_NAMES,
                "path": {"type": "string", "description": "The resource sent to the native service, e.g. /v2${request.path}."},
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
            }
        )
    else:
        properties.update(
            {
                "status": {"type": "integer", "minimum": 100, "maximum": 599},
                "reason": {"type": "string", "pattern": "^[\\t -~]*$", "x-expected": "a reason phrase of printable ASCII characters"},
            }
        )
    return {
        "type": "object",
        "additionalProperties": False,
        "description": f"Change the {direction} on its way (the vendor's {direction}Transformation).",
        "properties": properties,
    }


@dataclass(frozen=True)
class TransformConfig:
    set_headers: tuple[tuple[str, Template], ...] = ()
    remove_headers: tuple[str, ...] = ()  # lower-case
    set_query: tuple[tuple[str, Template], ...] = ()
    remove_query: tuple[str, ...] = ()
    path: Template | None = None
    method: str | None = None
    status: int | None = None
    reason: str | None = None
    json_set: tuple[tuple[tuple, Any], ...] = ()  # (steps, Template | a JSON value)
    json_remove: tuple[tuple, ...] = ()

    @property
    def reads_payload(self) -> bool:
        templates = [t for _, t in self.set_headers + self.set_query] + ([self.path] if self.path else [])
        templates += [v for _, v in self.json_set if isinstance(v, Template)]
        return any(t.reads_payload for t in templates)

    @property
    def changes_json(self) -> bool:
        return bool(self.json_set or self.json_remove)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name!r} is not a header name")
    return name


def parse(data: Mapping[str, Any]) -> TransformConfig:
    headers = data.get("headers") or {}
    query = data.get("query") or {}
    body = data.get("json") or {}
    json_set = []
    for path, value in (body.get("set") or {}).items():
        json_set.append((jsonpath.compile_path(path), Template.compile(value) if isinstance(value, str) else value))
    return TransformConfig(
        set_headers=tuple((_header_name(n), Template.compile(v)) for n, v in (headers.get("set") or {}).items()),
        remove_headers=tuple(_header_name(n).lower() for n in headers.get("remove", ())),
        set_query=tuple((n, Template.compile(v)) for n, v in (query.get("set") or {}).items()),
        remove_query=tuple(query.get("remove", ())),
        path=Template.compile(data["path"]) if "path" in data else None,
        method=data.get("method"),
        status=data.get("status"),
        reason=data.get("reason"),
        json_set=tuple(json_set),
        json_remove=tuple(jsonpath.compile_path(p) for p in body.get("remove", ())),
    )


def header_value(text: str) -> str:
    """A rendered value fit for a header line (variables come from clients: no CR, LF or NUL)."""
    return re.sub(r"[\r\n\x00]", " ", text).strip()


def transform_query(query: str, config: TransformConfig, render) -> str:
    if not (config.set_query or config.remove_query):
        return query
    removed = set(config.remove_query) | {name for name, _ in config.set_query}
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in removed]
    pairs += [(name, render(template)) for name, template in config.set_query]
    return urlencode(pairs, quote_via=quote)


def transform_json(document: Any, config: TransformConfig, render) -> Any:
    for steps in config.json_remove:
        jsonpath.remove_all(document, steps)
    for steps, value in config.json_set:
        jsonpath.set_path(document, steps, render(value) if isinstance(value, Template) else value)
    return document


def safe_resource(path: str) -> str | None:
    """The resource for a rendered path, percent-encoded; None when it could climb out (``..``)."""
    decoded = unquote(unquote(path))
    if any(part in (".", "..") for part in re.split(r"[/\\]", decoded)):
        return None
    return quote(path.lstrip("/"), safe="/%:@!$&'()*+,;=-._~")


# --- the vendor's form -------------------------------------------------------------------------

VENDOR_PARAMETERS = frozenset(
    {"transformationConfig", "headerTransformation", "queryTransformation", "pathTransformation", "methodTransformation",
     "statusTransformation", "payloadTransformation", "advancedTransformation", "transformationConditions", "set", "remove",
     "setMethod", "setStatus", "conditions", "logicalConnector"}
)
_TARGET = re.compile(r"^\$\{(request|response)\.(headers|header|query)\.([^}]+)\}$", re.I)


def _pairs(items: list[dict], key: str) -> list[tuple[str, str]]:
    found = []
    for group in groups(items, key):
        name = first(group, "key") or first(group, "name")
        if name:
            found.append((name.strip(), first(group, "value") or ""))
    return found


def from_vendor(direction: str):
    """The reader of one direction's template. Read: ``headerTransformation`` / ``queryTransformation``
    groups of ``set*`` {key, value} groups and ``remove*`` values, ``pathTransformation``,
    ``methodTransformation`` / ``setMethod``, ``statusTransformation`` {code, message} / ``setStatus``,
    and the newer ``set`` {key: ${request.headers.X}, value} / ``remove`` [${...}] form. Conditions,
    payload (XSLT, templates) and advanced transformations are unsupported."""

    def to_yaml(action: VendorAction) -> dict[str, Any]:
        items = action.parameters
        for group in action.groups("transformationConfig"):
            items = items + group
        for unsupported in ("payloadTransformation", "advancedTransformation"):
            if groups(items, unsupported) or values(items, unsupported):
                raise Unsupported(unsupported)
        if any(groups(items, key) or [v for v in values(items, key) if v.strip()] for key in ("transformationConditions", "conditions")):
            raise Unsupported("transformation conditions")
        out: dict[str, Any] = {}
        kinds = {"headers": "headerTransformation", "query": "queryTransformation"}
        for ours, theirs in kinds.items():
            for group in groups(items, theirs):
                sets = _pairs(group, "setHeader" if ours == "headers" else "setQuery") + _pairs(group, "set") + _pairs(group, "add")
                removes = values(group, "removeHeader" if ours == "headers" else "removeQuery") + values(group, "remove")
                if sets:
                    out.setdefault(ours, {}).setdefault("set", {}).update(dict(sets))
                if removes:
                    out.setdefault(ours, {}).setdefault("remove", []).extend(r.strip() for r in removes if r.strip())
        for key, value in _pairs(items, "set"):
            target = _TARGET.match(key)
            if target is None:
                raise Unsupported(f"setting {key!r}")
            ours = "query" if target.group(2).lower() == "query" else "headers"
            out.setdefault(ours, {}).setdefault("set", {})[target.group(3)] = value
        for key in values(items, "remove"):
            target = _TARGET.match(key.strip())
            if target is None:
                raise Unsupported(f"removing {key!r}")
            ours = "query" if target.group(2).lower() == "query" else "headers"
            out.setdefault(ours, {}).setdefault("remove", []).append(target.group(3))
        if direction == "request":
            path = first(items, "pathTransformation")
            if path:
                out["path"] = path.strip()
            method = (first(items, "methodTransformation") or first(items, "setMethod") or "").strip().upper()
            if method:
                out["method"] = method
        else:
            status_groups = groups(items, "statusTransformation")
            code = first(status_groups[0], "code") if status_groups else first(items, "setStatus")
            message = first(status_groups[0], "message") if status_groups else None
            if code:
                if not code.strip().isdigit():
                    raise Invalid(f"status code {code!r} is not a number")
                out["status"] = int(code)
                if message:
                    out["reason"] = message
        if not out:
            raise Invalid("has no transformation microgw can apply")
        return out

    return to_yaml
