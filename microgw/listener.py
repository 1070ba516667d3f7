"""The client side of the listeners: what a hostile connection can hold, and what it is told.

aiohttp's server, as it comes, lets a client hold a connection for the whole idle timeout while
sending its headers a byte at a time (slowloris), accepts connections until the process runs out of
file descriptors (then every accept fails and the loop logs each failure), and answers what it cannot
parse with a text/plain 400 that carries the stack's ``Server`` header and echoes the input. Here:

- ``server.max_connections``: at most this many client connections, always below the open-files limit.
  At the cap the oldest *idle* connection (no request under way, no partial request) makes room;
  when none is idle the new connection gets a 503 and is closed;
- ``server.header_timeout``: a request line and headers must arrive within this many seconds of the
  connection opening or of the first byte of a request on a kept-alive connection (408 and close);
  a TLS handshake must finish within it too;
- a request the parser refuses, and an HTTP/0.9 request, gets a JSON 400 that never repeats the input;
- repeated warnings (refused connections, failed accepts) are logged at most once per period, with a
  count of the ones left out;
- a stop waits for requests being handled, not for connections that only linger over an unread body.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import resource
import time
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_server import Server

log = logging.getLogger("microgw.listener")

RESERVED_FDS = 64  # log files, key stores, JWKS fetches, the parent: descriptors a cap must leave free
WARN_PERIOD = 10.0
EVICT_SCAN = 512  # oldest connections looked at for an idle one to close at the cap


def _raw_answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"code": code, "message": message, "status": status}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nServer: microgw\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


BUSY = _raw_answer(503, "Service Unavailable", "too_many_connections", "The gateway has too many open connections; try again")
HEADER_TIMEOUT = _raw_answer(408, "Request Timeout", "header_timeout", "The request headers did not arrive in time")


class RateLimitedLog:
    """A warning said once per ``period`` for each kind; the next one counts those left out."""

    def __init__(self, logger: logging.Logger, period: float = WARN_PERIOD) -> None:
        self.logger = logger
        self.period = period
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.period:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        skipped = self._skipped.pop(kind, 0)
        self._last[kind] = now
        if skipped:
            self.logger.warning(message + " (and %d more like it in the last %ds)", *args, skipped, int(self.period))
        else:
            self.logger.warning(message, *args)


def connection_cap(wanted: int, upstream_connections: int) -> tuple[int, int | None]:
    """The effective cap and the open-files limit when that limit lowered it (else None).

    The soft open-files limit is first raised towards what the cap needs (up to the hard limit, as
    nginx's worker_rlimit_nofile or Go's runtime do); the cap then stays below it with room for the
    upstream pool and the gateway's own files (at least half the limit for clients)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # no such limit here
        return wanted, None
    if soft == resource.RLIM_INFINITY:
        return wanted, None
    needed = wanted + upstream_connections + RESERVED_FDS
    if soft < needed and (hard == resource.RLIM_INFINITY or hard > soft):
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (OSError, ValueError):
            pass
    room = soft - min(upstream_connections + RESERVED_FDS, soft // 2)
    if room < wanted:
        return max(1, room), soft
    return wanted, None


class Guard:
    """Shared by every connection of one listener set: the cap, the header timeout, the warnings."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.warnings = RateLimitedLog(log)
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def loop_exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """The loop's own complaints (a failing accept() when descriptors run out) once per period."""
        message = str(context.get("message", "event loop error"))
        exc = context.get("exception")
        if isinstance(exc, OSError) or "accept" in message:
            self.warnings.warning("loop:" + message[:40], "%s: %s", message, exc.__class__.__name__ if exc else "-")
            return
        loop.default_exception_handler(context)


class GuardedServer(Server):
    """aiohttp's low-level server making :class:`GuardedHandler` connections."""

    guard: Guard

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedHandler(RequestHandler):
    """One client connection with a header deadline, a place under the cap and JSON errors."""

    _timer: asyncio.TimerHandle | None = None  # the header-deadline check
    _header_since: float | None = None  # when the header phase under way began; None: none is
    _armed_at = 0  # request count when that phase began
    _partial = False  # bytes of a request whose headers are not complete yet
    _refused = False

    def log_access(self, request, response, time) -> None:
        """After the access log, the last reader of a finished request: drop its pipeline context.

        ``request["microgw"]`` (the RequestContext, read by the response-prepare hook and the access
        log) points back at the request, a reference cycle that only the garbage collector could
        free: about 15 objects a request, so a collection every few hundred requests, whose pauses
        were most of the p99 (35-45 ms against a 5 ms p50). Without the cycle, reference counting
        frees each request as soon as it is done."""
        super().log_access(request, response, time)
        request._state.pop("microgw", None)

    # --- the cap -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager: GuardedServer = self._manager  # type: ignore[assignment]
        guard = manager.guard
        if len(manager._connections) >= guard.max_connections and not self._evict_idle(manager):
            guard.refused += 1
            guard.warnings.warning(
                "cap", "refused a client connection: %d open (server.max_connections)", len(manager._connections)
            )
            self._refused = True
            self._force_close = True
            transport.write(BUSY)  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)
        self._arm()

    @staticmethod
    def _evict_idle(manager: GuardedServer) -> bool:
        """Close the oldest idle connection among the EVICT_SCAN oldest (a bounded look: a flood at
        the cap must not cost a walk over every connection per accept)."""
        for handler in itertools.islice(manager._connections, EVICT_SCAN):  # oldest first
            if isinstance(handler, GuardedHandler) and handler.idle():
                manager.guard.evicted += 1
                handler.force_close()
                manager._connections.pop(handler, None)
                return True
        return False

    def idle(self) -> bool:
        return not self._request_in_progress and not self._messages and not self._partial and not self._force_close

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._header_since = None
        if self._refused:
            return
        super().connection_lost(exc)

    # --- the header deadline -------------------------------------------------------------------
    # One timer per connection, left pending between requests: a header phase (from the connection
    # opening or the first byte of a request until its headers are parsed) only notes when it began,
    # and the timer, when it fires, times out the phase under way or re-arms for its deadline. A
    # kept-alive connection thus makes about one timer per header_timeout, not one per request.

    def _arm(self) -> None:
        now = self._loop.time()
        self._header_since = now
        self._armed_at = self._request_count
        if self._timer is None:  # a pending one fires earlier and re-arms for this phase
            self._timer = self._loop.call_at(now + self._manager.guard.header_timeout, self._header_deadline)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._partial and data and not self._request_in_progress and not self._messages:
            self._partial = True  # the first bytes of a request (between requests)
            if self._header_since is None:
                self._arm()
        super().data_received(data)
        messages = self._messages
        if messages and not (len(messages) == 1 and getattr(messages[0][0], "version", None) is HttpVersion11):
            self._refuse_http09()
        if self._request_count != self._armed_at:  # a request line and headers were parsed
            self._partial = False
            self._header_since = None

    def _refuse_http09(self) -> None:
        """An HTTP/0.9 request line (no version) becomes a parse error: answered with a JSON 400
        and the connection closed, never served (nor forwarded without headers). (The usual single
        HTTP/1.1 request is let through by the caller without this walk.)"""
        for index, (message, _payload) in enumerate(self._messages):
            version = getattr(message, "version", None)
            if version is not None and version < (1, 0):
                error = BadHttpMessage("HTTP/0.9 requests are not served")
                self._messages[index] = (_ErrInfo(status=400, exc=error, message=error.message), EMPTY_PAYLOAD)

    def _header_deadline(self) -> None:
        self._timer = None
        since = self._header_since
        if since is None or self._request_in_progress or self._messages or self._request_count != self._armed_at:
            return
        if self.transport is None or self._manager is None:
            return
        due = since + self._manager.guard.header_timeout  # type: ignore[attr-defined]
        if self._loop.time() < due:  # left pending by an earlier phase: wait for this one's deadline
            self._timer = self._loop.call_at(due, self._header_deadline)
            return
        self._manager.guard.timed_out += 1  # type: ignore[attr-defined]
        if self._partial:
            self.transport.write(HEADER_TIMEOUT)
        self.force_close()
        self.transport.close()

    # --- stopping ----------------------------------------------------------------------------------

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """Wait for a request being handled, never for a connection that only lingers: after an
        early answer (a 413, a 401) aiohttp keeps reading the unsent body for up to 10 s, and a stop
        would wait for that up to the whole grace period."""
        task = self._task_handler
        if not self._request_in_progress and task is not None and not task.done():
            task.cancel()
        await super().shutdown(timeout)

    # --- answers to what cannot be parsed --------------------------------------------------------

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None) -> web.StreamResponse:
        """aiohttp's text answer replaced by JSON that never repeats the input (it is logged by
        ``logs.RedactBadRequests`` without it)."""
        super().handle_error(request, status, exc, message)  # logs; raises when an answer was sent
        if status >= 500:
            code, text = "internal_error", "Internal gateway error"
        else:
            code, text = "bad_request", "The request could not be read as HTTP/1.1"
        body = json.dumps({"code": code, "message": text, "status": status}, separators=(",", ":")).encode()
        response = web.Response(status=status, body=body, content_type="application/json",
                                headers={"Server": "microgw", "Cache-Control": "no-store"})
        response.force_close()
        return response


class GuardedSite(web.TCPSite):
    """A TCPSite whose TLS handshakes must finish within the header timeout: a connection counts
    against ``max_connections`` only once its handshake is done, so a client that opens TLS
    connections and never finishes the handshake would otherwise hold them for asyncio's 60 s."""

    __slots__ = ("_handshake_timeout",)

    def __init__(self, *args: Any, handshake_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        if self._ssl_context is None:
            await super().start()
            return
        self._runner._reg_site(self)  # BaseSite.start
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port, ssl_handshake_timeout=self._handshake_timeout,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


class GuardedRunner(web.AppRunner):
    """An AppRunner whose server makes guarded connections."""

    def __init__(self, app: web.Application, guard: Guard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guard = guard

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = GuardedServer  # same state, our connection factory
        server.guard = self._guard  # type: ignore[attr-defined]
        return server
