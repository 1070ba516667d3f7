"""The one place that turns a :class:`GatewayError` into an HTTP answer.

Bodies keep the vendor's ``{"Exception": "..."}`` key (scripts written against webMethods read it)
and add a stable machine-readable ``code``; 401s carry an RFC 6750 challenge.
"""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.http_writer import _serialize_headers  # what aiohttp's writer uses: refuses CR/LF in names and values

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


ONE_BUFFER = 16 * 1024  # up to this body size, head and body are joined into one buffer before the write


class WholeAnswer(web.Response):
    """A response with its whole body in hand (a short native answer, a buffered one, the gateway's own
    JSON answers and errors, a static mock) whose head and body leave in one transport write as soon
    as it is prepared.

    aiohttp's way (prepare -> _start -> _prepare_headers -> hook -> _write_headers, then write_eof ->
    the writer's write_eof) is about ten coroutines and was some 9 % of the instructions of a
    proxied request. This does what it does for the common case, in one step: Content-Length,
    Content-Type, Date and Server defaults, ``Connection: close`` when the connection will not be
    kept, the app's response-prepare hooks, the header serializer that refuses line breaks, the
    writer's byte counts (the access log's size), and the wait while the client's socket buffer is
    full. Anything else (HTTP/1.0, HEAD, 1xx/204/304, a Content-Length already set, compression,
    cookies, a writer with callbacks) goes aiohttp's way unchanged.
    """

    async def prepare(self, request):
        writer = request._payload_writer
        headers = self._headers
        body = self._body
        if (
            self._eof_sent or self._payload_writer is not None
            or request.version != HttpVersion11 or must_be_empty_body(request.method, self._status)
            or not isinstance(body, (bytes, bytearray)) or "Content-Length" in headers
            or self._chunked or self._compression or self._cookies
            or writer is None or writer._compress is not None or writer._on_chunk_sent is not None or writer._on_headers_sent is not None
        ):
            return await super().prepare(request)
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = self._keep_alive = request.keep_alive
        headers["Content-Length"] = str(len(body))
        if body:
            headers.setdefault("Content-Type", "application/octet-stream")
        if "Date" not in headers:
            headers["Date"] = rfc822_formatted_time()
        headers.setdefault("Server", SERVER_SOFTWARE)
        if not keep_alive and "Connection" not in headers:
            headers["Connection"] = "close"
        self._req = request
        self._payload_writer = writer
        await request._prepare_hook(self)
        head = _serialize_headers(f"HTTP/1.1 {self._status} {self._reason}", headers)
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        if len(body) <= ONE_BUFFER:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        size = len(head) + len(body)
        writer.buffer_size += size
        writer.output_size += size
        await writer.drain()  # a client that does not read holds the next answer back, as aiohttp's would
        self._eof_sent = True
        self._body_length = writer.output_size
        self._req = None
        self._payload_writer = None
        return writer


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
    response = WholeAnswer(status=error.status, body=error_body(error), content_type="application/json", headers=headers)
    if close:
        response.force_close()
    return response


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return WholeAnswer(
        status=status,
        body=json.dumps(data, separators=(",", ":"), default=str).encode(),
        content_type="application/json",
        headers=headers,
    )
