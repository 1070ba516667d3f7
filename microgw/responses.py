"""The one place that turns a :class:`GatewayError` into an HTTP answer.

Bodies keep the vendor's ``{"Exception": "..."}`` key (scripts written against webMethods read it)
and add a stable machine-readable ``code``; 401s carry an RFC 6750 challenge.
"""

from __future__ import annotations

import json

from aiohttp import web

from microgw.errors import GatewayError

VENDOR_PREFIX = "API Gateway encountered an error. Error Message: "


def _quote(value: str) -> str:
    """An RFC 7230 quoted-string; descriptions are ours, but never trust them to be clean."""
    cleaned = "".join(ch for ch in value if 0x20 <= ord(ch) < 0x7F)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stamp(response: web.StreamResponse, trace, ctx) -> None:
    """What every /gateway answer carries, set before it is prepared: ``Server: microgw`` (never the
    stack's, nor the native service's), the request id of ``trace`` (a ``tracing.Trace``) and the
    headers policies asked for (``ctx.answer_headers``; ``Vary`` is merged, not replaced)."""
    headers = response.headers
    if trace is not None:
        headers[trace.header] = trace.request_id
    headers["Server"] = "microgw"
    if ctx is not None and ctx.answer_headers:
        for name, value in ctx.answer_headers:
            if name == "Vary" and "Vary" in headers:
                present = {v.strip().lower() for v in headers["Vary"].split(",")}
                if value.lower() not in present:
                    headers["Vary"] = headers["Vary"] + ", " + value
            else:
                headers[name] = value


def challenge(error: GatewayError, realm: str) -> str | None:
    if not error.challenge:
        return None
    parts = [f"{error.challenge} realm={_quote(realm)}"]
    if error.challenge == "Basic":
        parts.append('charset="UTF-8"')
    if error.bearer_error:
        parts.append(f"error={_quote(error.bearer_error)}")
        parts.append(f"error_description={_quote(error.message)}")
    if error.scope:
        parts.append(f"scope={_quote(error.scope)}")
    return ", ".join(parts)


def error_body(error: GatewayError) -> bytes:
    return json.dumps(
        {"Exception": VENDOR_PREFIX + error.message, "code": error.code, "message": error.message, "status": error.status},
        separators=(",", ":"),
    ).encode()


def error_response(error: GatewayError, realm: str = "microgw") -> web.Response:
    headers = dict(error.headers)
    www = challenge(error, realm)
    if www:
        headers["WWW-Authenticate"] = www
    headers["Cache-Control"] = "no-store"
    close = headers.pop("Connection", "").lower() == "close"  # e.g. a body left unread: never reuse the connection
    response = web.Response(status=error.status, body=error_body(error), content_type="application/json", headers=headers)
    if close:
        response.force_close()
    return response


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, separators=(",", ":"), default=str).encode(),
        content_type="application/json",
        headers=headers,
    )
