"""Forwarding to the native service: pooled connections, bodies streamed both ways, clean headers.

Nothing is buffered: the request body flows from the client socket to the native service in chunks,
and the answer flows back the same way — unless a policy asks for the answer whole
(``ctx.buffer_answer``, bounded by ``max_body_size``) to change it before it is sent. Failures map to 502 (refused, reset, bad answer) and 504
(timed out); once the answer has started, a failure can only cut the connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from microgw import tracing
from microgw.errors import EndpointUnreachable, GatewayError
from microgw.context import RequestContext
from microgw.http_client import BodyTooLong, ConnectFailed, UpstreamPool, UpstreamResponse
from microgw.responses import WholeAnswer, stamp

log = logging.getLogger("microgw.proxy")

# RFC 9110 §7.6.1 hop-by-hop headers, plus those a proxy must set itself.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "transfer-encoding", "upgrade", "host", "expect",
    }
)
_RESPONSE_SKIP = HOP_BY_HOP | {"content-length"}
CHUNK = 64 * 1024


SMALL_BODY = 64 * 1024  # answers up to this size go out in one write, headers and body together


def _origin(url: str) -> str:
    """scheme://host:port of a native URL, for logs: no path, query or user info (they may carry secrets)."""
    parsed = urlsplit(url)
    host = parsed.hostname or "?"
    return f"{parsed.scheme}://{'[' + host + ']' if ':' in host else host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


class BodyTooLarge(Exception):
    """The client sent more than max_body_size while streaming."""


def _connection_listed(values) -> set[str]:
    """Headers named in ``Connection`` are hop-by-hop too (RFC 9110 §7.6.1)."""
    listed: set[str] = set()
    for value in values:
        listed.update(token.strip().lower() for token in value.split(",") if token.strip())
    return listed


@functools.lru_cache(maxsize=256)
def _listed(values: tuple[str, ...]) -> frozenset[str]:
    """:func:`_connection_listed`, remembered: nearly every peer sends the same ``keep-alive``."""
    return frozenset(_connection_listed(values))


def _answer_headers(upstream: UpstreamResponse) -> list[tuple[str, str]]:
    """The native answer's headers minus hop-by-hop ones and those its ``Connection`` names: one
    pass, handed to the response's constructor whole (one C-level copy, not one add per header)."""
    kept = []
    connection = None
    for name, value in upstream.headers:
        lowered = name.lower()
        if lowered not in _RESPONSE_SKIP:
            kept.append((name, value))
        elif lowered == "connection":
            connection = [*connection, value] if connection else [value]
    if connection and not (listed := _listed(tuple(connection))) <= _RESPONSE_SKIP:
        kept = [(name, value) for name, value in kept if name.lower() not in listed]
    return kept


_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

# Set by the gateway, or meaningful to some native services as routing overrides: never passed on.
_GATEWAY_SET = frozenset({"x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip", "x-original-url", "x-rewrite-url"})
_REQUEST_SKIP = HOP_BY_HOP | _GATEWAY_SET | {"x-forwarded-for"}  # X-Forwarded-For: extended, then added


@functools.lru_cache(maxsize=64)
def _skip_with(replaced: frozenset[str]) -> frozenset[str]:
    """The request headers never passed on, plus ``replaced``: one set per kind of forward, not per request."""
    return _REQUEST_SKIP | replaced


@functools.lru_cache(maxsize=1024)
def _host_ok(host: str) -> bool:
    """Is ``host`` a well-formed host[:port]? Remembered: clients send few distinct Host values."""
    return _HOST.fullmatch(host) is not None


def upstream_headers(ctx: RequestContext, replaced: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop and removed ones, plus forwarding and added headers.

    ``replaced`` (lower-case names) are left out, also of the added headers: the caller sets them.
    Header names with ``_`` are dropped (as nginx does): CGI-style servers read ``X_User`` and
    ``X-User`` as the same variable, which would let a client forge an identity header.
    """
    incoming = ctx.request.headers
    skip = _skip_with(replaced)
    if ctx.remove_headers:
        skip = skip | ctx.remove_headers
    if "connection" in incoming and not (listed := _listed(tuple(incoming.getall("Connection")))) <= skip:
        skip = skip | listed
    out = [(name, value) for name, value in incoming.items() if name.lower() not in skip and "_" not in name]
    client_ip = ctx.client_ip
    prior = incoming.get("X-Forwarded-For")
    out.append(("X-Forwarded-For", f"{prior}, {client_ip}" if prior else client_ip))
    out.append(("X-Real-IP", client_ip))
    out.append(("X-Forwarded-Proto", ctx.protocol))
    host = incoming.get("Host")
    if host and _host_ok(host):  # only a well-formed host[:port]: never a list, a path or a second value
        out.append(("X-Forwarded-Host", host))
    if ctx.add_headers:
        out += [pair for pair in ctx.add_headers if pair[0].lower() not in replaced] if replaced else ctx.add_headers
    return out


@functools.lru_cache(maxsize=64)
def _set_by_forward(request_id_header: str | None, body_length: bool) -> frozenset[str]:
    """The names the forward sets itself (request id, traceparent, a re-read body's length)."""
    names = {"traceparent", request_id_header.lower()} if request_id_header is not None else set()
    if body_length:
        names.add("content-length")
    return frozenset(names)


class BodyTimeout(Exception):
    """The client sent no byte of its body within server.body_timeout (at the start or between parts)."""


async def _stream_body(content: aiohttp.StreamReader, limit: int, timeout: float):
    """The client's body in parts; each wait for the next part bounded by ``timeout``, so a client
    that stops sending (or never starts) cannot hold a pooled connection to the native service."""
    total = 0
    while True:
        chunk = content.read_nowait(CHUNK)  # what is here already: no timer needed
        if not chunk:
            if content.at_eof():
                return
            try:
                async with asyncio.timeout(timeout):
                    chunk = await content.read(CHUNK)
            except TimeoutError:
                raise BodyTimeout() from None
            if not chunk:
                return
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge()
        yield chunk


def check_declared_length(request: web.Request, limit: int) -> None:
    length = request.content_length
    if length is not None and length > limit:
        raise GatewayError(413, "body_too_large", f"The request body is larger than {limit} bytes")


def _answer_too_large(limit: int) -> GatewayError:
    return GatewayError(502, "answer_too_large", f"The native service's answer is larger than {limit} bytes")


async def _once(body: bytes):
    yield body


class Forwarder:
    """Sends requests to native services over one shared connection pool (microgw.http_client)."""

    def __init__(self, pool: UpstreamPool, max_body_size: int, body_timeout: float = 30.0) -> None:
        self.pool = pool
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout

    async def forward(self, ctx: RequestContext) -> web.StreamResponse:
        request = ctx.request
        route = ctx.route
        api = route.api
        check_declared_length(request, self.max_body_size)
        url = (ctx.upstream or route.upstream).url(ctx.resource, ctx.query)
        trace = ctx.trace if ctx.trace is not None else tracing.of(request)
        headers = upstream_headers(ctx, _set_by_forward(trace.header if trace is not None else None, ctx.body is not None))
        if trace is not None:  # correlation: the same request id, and the gateway's span as the parent
            headers.append((trace.header, trace.request_id))
            headers.append(("traceparent", trace.traceparent))
        data = None
        length = None
        if ctx.body is not None:  # read (and perhaps changed) by a policy: sent whole, its own length
            length = len(ctx.body)
            headers.append(("Content-Length", str(length)))
            data = _once(ctx.body) if length else None
        elif request.body_exists:
            data = _stream_body(request.content, self.max_body_size, self.body_timeout)
            length = request.content_length  # forwarded as declared; None: sent chunked
        timeout = route.timeout
        sent = time.perf_counter()
        try:
            upstream = await self.pool.request(
                ctx.method or request.method,
                url,
                headers,
                data,
                length=length,
                connect_timeout=timeout.connect if timeout is not None else None,
                read_timeout=timeout.sock_read if timeout is not None else None,
                verify=route.ssl if ctx.upstream is None or ctx.upstream.tls is None else ctx.upstream.tls,
                share=api.key,
            )
        except BodyTimeout:
            raise GatewayError(
                408, "body_timeout", f"The request body did not arrive in time ({self.body_timeout:g} s)", headers={"Connection": "close"}
            ) from None
        except BodyTooLarge:
            raise GatewayError(413, "body_too_large", f"The request body is larger than {self.max_body_size} bytes") from None
        except ConnectFailed as exc:  # nothing was sent: a routing policy may try another endpoint
            log.warning(
                "native service of %s/%s at %s cannot be reached: %s (request id %s)",
                api.name, api.version, _origin(url), exc, trace.request_id if trace else "-",
            )
            if exc.timed_out:
                raise EndpointUnreachable(504, "upstream_timeout", "The native service did not answer in time") from None
            raise EndpointUnreachable(502, "upstream_unavailable", "The native service could not be reached") from None
        except TimeoutError:
            raise GatewayError(504, "upstream_timeout", "The native service did not answer in time") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            log.warning(
                "native service of %s/%s at %s failed: %s (request id %s)",
                api.name, api.version, _origin(url), exc.__class__.__name__, trace.request_id if trace else "-",
            )
            raise GatewayError(502, "upstream_unavailable", "The native service could not be reached") from None
        finally:
            if trace is not None:
                trace.upstream_seconds = time.perf_counter() - sent
        try:
            wanted = ctx.buffer_answer
            length = upstream.content_length
            if (
                wanted is True or (wanted is not False and wanted(upstream.header("Content-Type")))
                or (length is not None and length <= SMALL_BODY and not upstream.chunked)
            ):
                if upstream.complete and upstream.method != "HEAD":  # the usual short answer is all here: no await
                    return self._whole_now(upstream)
                return await self._relay_whole(upstream)
            return await self._relay(request, upstream, trace, ctx)
        finally:
            upstream.release()

    async def _relay(self, request: web.Request, upstream: UpstreamResponse, trace, ctx: RequestContext) -> web.StreamResponse:
        length = upstream.content_length
        chunked = upstream.chunked
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=_answer_headers(upstream))
        if length is not None and not chunked:
            response.content_length = length
        try:
            first = await upstream.readany()
        except TimeoutError:
            raise GatewayError(504, "upstream_timeout", "The native service did not answer in time") from None
        except OSError:
            raise GatewayError(502, "upstream_unavailable", "The native service broke off its answer") from None
        stamp(response, trace, ctx)  # what the gateway's answers carry, before the head goes out
        try:
            await response.prepare(request)
            if first:
                await response.write(first)
                async for chunk in upstream.iter_chunks():
                    await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            log.debug("client went away during the answer")  # nothing left to tell anyone
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The status line is gone; the only honest signal left is to cut the connection.
            log.warning("native service broke off its answer: %s", exc.__class__.__name__)
            if request.transport is not None:
                request.transport.abort()
        return response

    async def _relay_whole(self, upstream: UpstreamResponse) -> web.StreamResponse:
        """The answer read whole, as an unsent response: a short answer of known length goes out in one
        write instead of three, and policies that change answers get them this way (bounded)."""
        if upstream.method == "HEAD":  # no body, but the length the native service declared
            head = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=_answer_headers(upstream))
            if upstream.content_length is not None:
                head.content_length = upstream.content_length
            return head
        self._check_declared(upstream)
        try:
            body = await upstream.read(self.max_body_size)
        except BodyTooLong:
            raise _answer_too_large(self.max_body_size) from None
        except TimeoutError:
            raise GatewayError(504, "upstream_timeout", "The native service did not answer in time") from None
        except OSError:
            raise GatewayError(502, "upstream_unavailable", "The native service broke off its answer") from None
        return _whole(upstream, body)

    def _whole_now(self, upstream: UpstreamResponse) -> web.Response:
        """:meth:`_relay_whole` for an answer that is :attr:`~UpstreamResponse.complete` already
        (not HEAD): the same checks, without a coroutine."""
        self._check_declared(upstream)
        try:
            body = upstream.take(self.max_body_size)
        except BodyTooLong:
            raise _answer_too_large(self.max_body_size) from None
        return _whole(upstream, body)

    def _check_declared(self, upstream: UpstreamResponse) -> None:
        declared = upstream.content_length
        if declared is not None and declared > self.max_body_size:
            raise _answer_too_large(self.max_body_size)


def _whole(upstream: UpstreamResponse, body: bytes) -> WholeAnswer:
    return WholeAnswer(status=upstream.status, reason=upstream.reason, body=body, headers=_answer_headers(upstream))
