"""The vendor's variables in policy values: ``${request.headers.X-Client}``, ``${request.query.id}``,
``${request.path}``, ``${request.httpMethod}``, ``${request.payload.jsonPath[$.a.b]}``,
``${request.application.id}`` / ``.name``, ``${request.authorization.claims.sub}``,
``${response.headers.X}``, ``${response.statusCode}``, ``${response.payload.jsonPath[$.x]}``.

Templates are compiled when the configuration is read (an unknown variable is a configuration
error); a variable without a value renders as the empty string. Header and query names are matched
case-insensitively for headers, exactly for query parameters, as HTTP does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

import orjson

from microgw.policies import jsonpath

_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
_PAYLOAD = re.compile(r"^(request|response)\.payload\.jsonPath\[(.+)\]$", re.I)


@dataclass(slots=True)
class Scope:
    """What a template can read: the request context, the answer (response templates) and bodies."""

    ctx: Any
    response: Any = None
    request_json: Any = None
    response_json: Any = None


def _lookup(name: str) -> Callable[[Scope], str | None]:
    lowered = name.lower()
    if lowered.startswith("request.headers."):
        header = name[len("request.headers."):]
        return lambda s: s.ctx.request.headers.get(header)
    if lowered.startswith("response.headers."):
        header = name[len("response.headers."):]
        return lambda s: s.response.headers.get(header) if s.response is not None else None
    if lowered.startswith("request.query."):
        param = name[len("request.query."):]
        return lambda s: dict(parse_qsl(s.ctx.query, keep_blank_values=True)).get(param)
    if lowered == "request.path":
        return lambda s: "/" + (s.ctx.resource or "")
    if lowered == "request.httpmethod":
        return lambda s: s.ctx.request.method
    if lowered == "response.statuscode":
        return lambda s: str(s.response.status) if s.response is not None else None
    if lowered in ("request.application.id", "request.application.name"):
        attribute = lowered.rsplit(".", 1)[1]
        return lambda s: getattr(s.ctx.application, attribute, None)
    if lowered.startswith("request.authorization.claims."):
        claim = name[len("request.authorization.claims."):]

        def claim_value(s: Scope) -> str | None:
            claims = getattr(s.ctx.jwt, "claims", None) or {}
            value = claims.get(claim)
            return None if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()

        return claim_value
    payload = _PAYLOAD.match(name)
    if payload:
        side, steps = payload.group(1).lower(), jsonpath.compile_path(payload.group(2))

        def from_payload(s: Scope) -> str | None:
            document = s.request_json if side == "request" else s.response_json
            if document is None:
                return None
            found = jsonpath.locate(document, steps)
            if not found:
                return None
            value = found[0][0][found[0][1]]
            return value if isinstance(value, str) else orjson.dumps(value).decode()

        return from_payload
    raise ValueError(f"unknown variable ${{{name}}} (request.headers.X, request.query.X, request.path, request.httpMethod, "
                     "request.payload.jsonPath[...], request.application.id/name, request.authorization.claims.X, "
                     "response.headers.X, response.statusCode, response.payload.jsonPath[...])")


@dataclass(frozen=True)
class Template:
    """A value with variables, compiled once."""

    text: str
    parts: tuple  # str | lookup callable

    @classmethod
    def compile(cls, text: str) -> "Template":
        parts: list = []
        position = 0
        for match in _VARIABLE.finditer(text):
            if match.start() > position:
                parts.append(text[position:match.start()])
            parts.append(_lookup(match.group(1).strip()))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        return cls(text, tuple(parts))

    @property
    def constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def reads_payload(self) -> bool:
        return "payload." in self.text.lower()

    def render(self, scope: Scope) -> str:
        return "".join(p if isinstance(p, str) else (p(scope) or "") for p in self.parts)
