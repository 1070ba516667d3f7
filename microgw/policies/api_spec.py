"""``validateAPISpec``: requests (and optionally answers) checked against the API's OpenAPI 3 or
Swagger 2 definition, with jsonschema — 400 naming what is wrong (the vendor's Validate API
Specification).

The definition comes from a file (``spec``, JSON or YAML) or inline (``definition``: what an archive
import puts there, the API's ``apiDefinition``). Checked, each switchable as the vendor's flags:
the operation exists (404 for an unknown path, 405 with ``Allow`` for a method the path does not
have), query / path / header / cookie parameters (required, and typed values against their schema),
the request's content type against the operation's media types, and JSON bodies against their
schema (``$ref`` into the definition resolved). Answers, when asked: a JSON answer that does not
match the schema of its status (or ``default``) is not sent: 502. XML bodies are not schema-checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, quote, unquote

import orjson
import yaml

from microgw.config.model import ApiConfig
from microgw.config.yamlfile import check_expansion
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.policies.bodies import JSON, answer_body, kind_of, request_body
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import VendorAction, VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SPEC_URI = "urn:microgw:api-definition"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Validate requests (and optionally answers) against the API's OpenAPI/Swagger definition (the vendor's validateAPISpec).",
    "properties": {
        "spec": {"type": "string", "minLength": 1, "x-path": True, "description": "The OpenAPI 3 / Swagger 2 file (JSON or YAML)."},
        "definition": {"type": "object", "description": "The definition inline (archive imports put the API's apiDefinition here)."},
        "body": {"type": "boolean", "description": "JSON request bodies against their schema (schemaValidationFlag; default true)."},
        "query": {"type": "boolean", "description": "validateQueryParams (default true)."},
        "path": {"type": "boolean", "description": "validatePathParams (default true)."},
        "headers": {"type": "boolean", "description": "headersValidationFlag (default false)."},
        "cookies": {"type": "boolean", "description": "validateCookieParams (default false)."},
        "content_type": {"type": "boolean", "description": "validateContentTypes (default false)."},
        "responses": {"type": "boolean", "description": "Also validate JSON answers (502 when one does not match; default false)."},
    },
    "oneOf": [{"required": ["spec"]}, {"required": ["definition"]}],
    "x-message": "validateAPISpec needs one of spec (a file) or definition (inline)",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # query | path | header | cookie
    required: bool
    validator: Any  # jsonschema validator or None
    schema_type: str | None
    array: bool


@dataclass(frozen=True)
class Operation:
    parameters: tuple[Parameter, ...]
    body_required: bool
    media_types: tuple[str, ...]
    body_validators: Mapping[str, Any]  # media type -> validator
    responses: Mapping[str, Any]  # status | "default" -> validator of its JSON body


@dataclass(frozen=True)
class SpecConfig:
    paths: tuple[tuple[re.Pattern, str, Mapping[str, Operation]], ...]
    flags: Mapping[str, bool] = field(default_factory=dict)


def _load(data: Mapping[str, Any]) -> dict:
    if "definition" in data:
        return dict(data["definition"])
    path = Path(data["spec"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the API definition {path}: {exc.strerror}") from None
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        check_expansion(document)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"the API definition {path} is neither JSON nor YAML: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise ValueError(f"the API definition {path} is not an object")
    return document


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class _Builder:
    def __init__(self, spec: dict) -> None:
        # jsonschema loads only for a gateway with this policy (a fifth of a second of every start otherwise)
        from jsonschema import Draft4Validator, Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4, DRAFT202012

        self.spec = spec
        self.swagger = str(spec.get("swagger", "")).startswith("2")
        version = str(spec.get("openapi", ""))
        self.cls, specification = (Draft202012Validator, DRAFT202012) if version.startswith("3.1") else (Draft4Validator, DRAFT4)
        self.registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=specification))

    def resolve(self, item: Any) -> Any:
        seen = 0
        while isinstance(item, dict) and isinstance(item.get("$ref"), str) and item["$ref"].startswith("#/") and seen < 20:
            node: Any = self.spec
            for part in item["$ref"][2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
            item, seen = node, seen + 1
        return item

    def validator(self, pointer: str) -> Any:
        return self.cls({"$ref": SPEC_URI + pointer}, registry=self.registry)

    def operation(self, path: str, method: str, item: dict, op: dict) -> Operation:
        raw = [self.resolve(p) for p in list(item.get("parameters") or []) + list(op.get("parameters") or [])]
        pointers = {}
        for index, p in enumerate(item.get("parameters") or []):
            pointers[id(raw[index])] = _pointer("paths", path, "parameters", str(index))
        offset = len(item.get("parameters") or [])
        for index, p in enumerate(op.get("parameters") or []):
            pointers[id(raw[offset + index])] = _pointer("paths", path, method, "parameters", str(index))
        params: dict[tuple[str, str], Parameter] = {}
        body_required, media, bodies = False, [], {}
        for p in raw:
            if not isinstance(p, dict) or "name" not in p or "in" not in p:
                continue
            where = p["in"]
            pointer = pointers.get(id(p), "")
            if where == "body":  # Swagger 2
                body_required = bool(p.get("required"))
                media = list(op.get("consumes") or self.spec.get("consumes") or ["application/json"])
                if "schema" in p and pointer:
                    bodies = {m: self.validator(pointer + "/schema") for m in media}
                continue
            if where == "formData":
                continue
            if self.swagger:
                schema_type, validator = p.get("type"), (self.validator(pointer) if pointer else None)
            else:
                schema = self.resolve(p.get("schema") or {})
                schema_type, validator = schema.get("type"), (self.validator(pointer + "/schema") if pointer and "schema" in p else None)
            params[(where, p["name"].lower() if where == "header" else p["name"])] = Parameter(
                p["name"], where, bool(p.get("required")) or where == "path", validator, schema_type, schema_type == "array"
            )
        request_body = self.resolve(op.get("requestBody")) if "requestBody" in op else None
        if isinstance(request_body, dict):
            body_required = bool(request_body.get("required"))
            content = request_body.get("content") or {}
            media = list(content)
            base = _pointer("paths", path, method, "requestBody") if "$ref" not in op["requestBody"] else op["requestBody"]["$ref"][1:]
            bodies = {m: self.validator((base if base.startswith("#") else "#" + base) + "/" + _pointer("content", m, "schema")[2:]) for m, c in content.items() if isinstance(c, dict) and "schema" in c}
        responses = {}
        for status, answer in (op.get("responses") or {}).items():
            resolved = self.resolve(answer)
            if not isinstance(resolved, dict):
                continue
            if self.swagger and "schema" in resolved and "$ref" not in answer:
                responses[str(status)] = self.validator(_pointer("paths", path, method, "responses", str(status), "schema"))
            elif not self.swagger and "$ref" not in answer:
                for m, c in (resolved.get("content") or {}).items():
                    if kind_of(m) == JSON and isinstance(c, dict) and "schema" in c:
                        responses[str(status)] = self.validator(_pointer("paths", path, method, "responses", str(status), "content", m, "schema"))
                        break
        return Operation(tuple(params.values()), body_required, tuple(media), bodies, responses)


def _path_regex(template: str) -> re.Pattern:
    parts = re.split(r"(\{[^/{}]+\})", template.rstrip("/") or "/")
    regex = "".join(f"(?P<p{i}>[^/]+)" if part.startswith("{") else re.escape(part) for i, part in enumerate(parts))
    return re.compile("^" + regex + "/?$")


def parse(data: Mapping[str, Any]) -> SpecConfig:
    spec = _load(data)
    if not isinstance(spec.get("paths"), dict):
        raise ValueError("the API definition has no paths")
    builder = _Builder(spec)
    paths = []
    for path, item in spec["paths"].items():
        item = builder.resolve(item)
        if not isinstance(item, dict) or not isinstance(path, str):
            continue
        operations = {m.upper(): builder.operation(path, m, item, item[m]) for m in METHODS if isinstance(item.get(m), dict)}
        paths.append((_path_regex(path), path, operations))
    paths.sort(key=lambda entry: (entry[1].count("{"), -len(entry[1])))  # literal paths before templated ones
    flags = {
        "body": data.get("body", True), "query": data.get("query", True), "path": data.get("path", True),
        "headers": data.get("headers", False), "cookies": data.get("cookies", False),
        "content_type": data.get("content_type", False), "responses": data.get("responses", False),
    }
    return SpecConfig(tuple(paths), flags)


def _describe(error: Any, where: str) -> str:
    location = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{location}: {error.message[:200]}"


def _coerce(value: str, parameter: Parameter) -> Any:
    kind = parameter.schema_type
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        return value  # the schema then says what is wrong
    if parameter.array:
        return value.split(",")
    return value


class SpecValidation:
    __slots__ = ("config", "limit", "best_match")

    def __init__(self, config: SpecConfig, limit: int) -> None:
        from jsonschema.exceptions import best_match

        self.config = config
        self.limit = limit
        self.best_match = best_match

    def _operation(self, ctx: RequestContext) -> tuple[Operation, dict[str, str]]:
        path = "/" + unquote(ctx.resource or "")
        for regex, template, operations in self.config.paths:
            match = regex.match(path)
            if match is None:
                continue
            method = (ctx.method or ctx.request.method).upper()
            operation = operations.get(method)
            if operation is None:
                allow = ", ".join(sorted(operations))
                raise GatewayError(405, "method_not_allowed", f"Method {method} is not defined for {template} in the API's specification", headers={"Allow": allow})
            names = re.findall(r"\{([^/{}]+)\}", template)
            return operation, {name: match.group(f"p{i * 2 + 1}") for i, name in enumerate(names)}
        raise GatewayError(404, "not_in_specification", f"No operation for {quote(path[:120])} in the API's specification")

    def _parameters(self, ctx: RequestContext, operation: Operation, path_values: dict[str, str]) -> None:
        flags = self.config.flags
        query = None
        cookies = None
        for parameter in operation.parameters:
            if not flags.get({"query": "query", "path": "path", "header": "headers", "cookie": "cookies"}[parameter.where]):
                continue
            if parameter.where == "query":
                query = query if query is not None else dict(parse_qsl(ctx.query, keep_blank_values=True))
                value = query.get(parameter.name)
            elif parameter.where == "path":
                value = path_values.get(parameter.name)
            elif parameter.where == "header":
                value = ctx.request.headers.get(parameter.name)
            else:
                if cookies is None:
                    cookies = SimpleCookie()
                    cookies.load(ctx.request.headers.get("Cookie", ""))
                value = cookies[parameter.name].value if parameter.name in cookies else None
            if value is None:
                if parameter.required:
                    raise GatewayError(400, "invalid_request", f"{parameter.where} parameter {parameter.name!r} is required")
                continue
            if parameter.validator is not None:
                error = self.best_match(parameter.validator.iter_errors(_coerce(value, parameter)))
                if error is not None:
                    raise GatewayError(400, "invalid_request", _describe(error, f"{parameter.where} parameter {parameter.name!r}"))

    async def _body(self, ctx: RequestContext, operation: Operation) -> None:
        flags = self.config.flags
        content_type = ctx.request.headers.get("Content-Type")
        media = (content_type or "").split(";", 1)[0].strip().lower()
        has_body = ctx.body is not None or ctx.request.body_exists
        if flags["content_type"] and has_body and operation.media_types and not any(_media_matches(media, m) for m in operation.media_types):
            raise GatewayError(400, "invalid_request", f"Content-Type {media[:60] or '(none)'} is not one of {', '.join(operation.media_types)}")
        if not flags["body"]:
            return
        body = await request_body(ctx, self.limit) if has_body else b""
        if not body:
            if operation.body_required:
                raise GatewayError(400, "invalid_request", "The request needs a body")
            return
        validator = next((v for m, v in operation.body_validators.items() if _media_matches(media, m)), None)
        if validator is None or kind_of(content_type) != JSON:
            return
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise GatewayError(400, "invalid_request", "The request body is not valid JSON") from None
        error = self.best_match(validator.iter_errors(document))
        if error is not None:
            raise GatewayError(400, "invalid_request", _describe(error, "body"))

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        operation, path_values = self._operation(ctx)
        self._parameters(ctx, operation, path_values)
        await self._body(ctx, operation)
        if not (self.config.flags["responses"] and operation.responses):
            return await send(ctx)
        ctx.want_answer(lambda content_type: kind_of(content_type) == JSON)  # only JSON answers are checked
        ctx.remove_headers.add("accept-encoding")
        response = await send(ctx)
        validator = operation.responses.get(str(response.status)) or operation.responses.get("default")
        if validator is None or kind_of(response.headers.get("Content-Type")) != JSON:
            return response
        body = answer_body(response)
        if body is None:
            return response
        try:
            error = self.best_match(validator.iter_errors(orjson.loads(body)))
        except orjson.JSONDecodeError:
            raise GatewayError(502, "invalid_answer", "The native service's answer is not valid JSON") from None
        if error is not None:
            raise GatewayError(502, "invalid_answer", "The native service's answer does not match the API's specification: " + _describe(error, "body"))
        if "Content-Encoding" not in response.headers:
            response.body = body  # type: ignore[attr-defined]  (decoded when it was encoded)
        return response


def _media_matches(media: str, declared: str) -> bool:
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in ("*/*", media):
        return True
    return declared.endswith("/*") and media.startswith(declared[:-1])


def build(api: ApiConfig, config: SpecConfig, services: "Services") -> Staged:
    return [("exchange", SpecValidation(config, services.settings.server.max_body_size))]


def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``validateAPISpec``: schemaValidationFlag, validateQueryParams, validatePathParams,
    validateCookieParams, validateContentTypes, headersValidationFlag. The definition is the API's
    ``apiDefinition``, which the archive reader adds as ``definition``."""
    out: dict[str, Any] = {}
    for ours, theirs, default in (
        ("body", "schemaValidationFlag", True), ("query", "validateQueryParams", True), ("path", "validatePathParams", True),
        ("cookies", "validateCookieParams", False), ("content_type", "validateContentTypes", False), ("headers", "headersValidationFlag", False),
    ):
        text = (action.first(theirs) or "").strip().lower()
        if text in ("true", "false") and (text == "true") != default:
            out[ours] = text == "true"
    return out


VENDOR = VendorTemplate(
    template="validateAPISpec",
    stage="requestProcessing",
    parameters=frozenset({"schemaValidationFlag", "validateQueryParams", "validatePathParams", "validateCookieParams", "validateContentTypes", "headersValidationFlag"}),
    to_yaml=_from_vendor,
)

def portable(data: Mapping[str, Any], nested: Any) -> dict[str, Any]:
    """A child cannot read the parent's file: the definition travels inline (read now, as a reload would)."""
    out = {key: value for key, value in data.items() if key != "spec"}
    if "spec" in data:
        out["definition"] = _load(data)
    return out


POLICY = Policy(name="validateAPISpec", schema=SCHEMA, parse=parse, build=build, vendor=(VENDOR,), portable=portable)
