"""A lean, pooled HTTP/1.1 client for the forward to native services (issue 15).

aiohttp's ClientSession spent about a third of the gateway's time per request on things a proxy
does not need (auto headers, cookie jars, URL objects, tracing hooks, redirects). This client does
only what the forward needs, on an asyncio protocol with llhttp (through httptools) as the parser:

- keep-alive connections pooled per origin (scheme, host, port, TLS choice), at most ``limit`` in
  all; waiting for a free one counts against the connect timeout;
- the request body streamed (``Content-Length`` as the client declared it, else chunked), written
  while the answer is awaited, so a native service that answers early is heard;
- the answer streamed with flow control (reading pauses while HIGH bytes wait unread);
- ``sock_read``: the time allowed between two reads (as aiohttp's), ``connect`` the time to get a
  connection;
- a connection is reused only when its answer was read to the end, keep-alive was agreed, and the
  request body was fully sent; a reused connection that the server had closed is retried once on a
  new one for requests without a body.

Nothing here knows about the gateway: errors are ``TimeoutError`` and :class:`UpstreamError`.
"""

from __future__ import annotations

import asyncio
import collections
import ssl as _ssl
from functools import lru_cache
from typing import AsyncIterator, Iterable

import httptools

HIGH = 1 << 20  # unread answer bytes at which reading pauses
LOW = 1 << 18
IDLE_KEEP = 15.0  # seconds an idle pooled connection is trusted (servers close idle ones)
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class UpstreamError(ConnectionError):
    """The native service could not be reached, or broke the protocol or the connection."""


class ConnectFailed(UpstreamError):
    """No connection could be made (refused, unreachable, TLS handshake, connect timeout): nothing was sent."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Stale(UpstreamError):
    """A reused connection was closed before any byte of the answer came."""


@lru_cache(maxsize=1024)
def split_url(url_base: str) -> tuple[str, str, int, str]:
    """``scheme://authority`` -> (scheme, host, port, Host header value without a default port)."""
    scheme, _, authority = url_base.partition("://")
    scheme = scheme.lower()
    if scheme not in ("http", "https") or not authority or "@" in authority:
        raise ValueError("unsupported native service URL")
    default = 443 if scheme == "https" else 80
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:] else default
        shown = f"[{host}]"
    else:
        host, colon, text = authority.partition(":")
        port = int(text) if colon and text else default
        shown = host
    return scheme, host, port, shown if port == default else f"{shown}:{port}"


def split_target(url: str) -> tuple[str, str]:
    """A full URL -> (``scheme://authority``, request target starting with ``/``)."""
    cut = url.find("/", url.find("://") + 3)
    if cut < 0:
        query = url.find("?", url.find("://") + 3)
        if query < 0:
            return url, "/"
        return url[:query], "/" + url[query:]
    return url[:cut], url[cut:]


class UpstreamResponse:
    """An answer being received. Read it with :meth:`read` or :meth:`iter_chunks`, then
    :meth:`release` (always): that returns the connection to the pool or closes it."""

    __slots__ = ("status", "reason", "headers", "method", "content_length", "chunked", "_conn", "_chunks", "_buffered",
                 "_done", "_error", "_waiter", "_released", "_share")

    def __init__(self, conn: "_Connection", method: str) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.method = method
        self.content_length: int | None = None
        self.chunked = False
        self._conn = conn
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._released = False
        self._share = None  # the pool share (an API) this answer's connection counts against

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    # fed by the connection
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH:
            self._conn.pause()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def readany(self) -> bytes:
        """The next bytes of the body; b"" at its end."""
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._buffered < LOW:
            self._conn.resume()
        return data

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self.readany()
            if not data:
                return
            yield data

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; :class:`BodyTooLong` past ``limit`` bytes."""
        parts = []
        size = 0
        while True:
            data = await self.readany()
            if not data:
                return b"".join(parts)
            size += len(data)
            if limit is not None and size > limit:
                raise BodyTooLong(limit)
            parts.append(data)

    @property
    def complete(self) -> bool:
        """The whole body is here (read with :meth:`take`, no await)."""
        return self._done and self._error is None

    def take(self, limit: int | None = None) -> bytes:
        """The rest of a :attr:`complete` body at once; :class:`BodyTooLong` past ``limit`` bytes."""
        chunks = self._chunks
        body = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._conn.resume()
        if limit is not None and len(body) > limit:
            raise BodyTooLong(limit)
        return body

    def release(self) -> None:
        if not self._released:
            self._released = True
            if self._share is not None:
                self._conn.pool._leave(self._share)
            self._conn.finished(self, complete=self._done and self._error is None and not self._chunks)


class BodyTooLong(Exception):
    """The answer is longer than the caller allowed."""


class _Connection(asyncio.Protocol):
    """One connection to one origin; at most one request at a time."""

    def __init__(self, pool: "UpstreamPool", key: tuple) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: UpstreamResponse | None = None
        self.headers_future: asyncio.Future | None = None
        self.closed = False
        self.reused = False
        self.got_bytes = False
        self.paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        self.read_timeout: float | None = None
        self.timer: asyncio.TimerHandle | None = None  # the read-timeout check, left pending between requests
        self.timer_due = 0.0  # when it fires
        self.last_read = 0.0
        self.idle_since = 0.0
        self.body_sent = True
        self.writer: asyncio.Future | None = None  # the request body being sent
        self.keep_alive = False
        self._header_name = b""

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the native service switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"bad answer from the native service ({exc.__class__.__name__})"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._cancel_timer()
        if self.response is not None or self.headers_future is not None:
            if not self.got_bytes and self.reused:
                self._fail(_Stale("the pooled connection was closed"))
            else:
                self._fail(UpstreamError("the native service closed the connection"))
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamError("connection lost while sending"))
        self.pool._forget(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.response.headers = []  # type: ignore[union-attr]

    def on_status(self, status: bytes) -> None:
        self.response.reason = status.decode("latin-1")  # type: ignore[union-attr]

    def on_header(self, name: bytes, value: bytes) -> None:
        self.response.headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))  # type: ignore[union-attr]

    def on_headers_complete(self) -> None:
        response = self.response
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # informational (103 Early Hints...): wait for the final answer
            return
        response.status = status  # type: ignore[union-attr]
        self.keep_alive = self.parser.should_keep_alive()
        for name, value in response.headers:  # type: ignore[union-attr]
            lower = name.lower()
            if lower == "content-length":
                try:
                    response.content_length = int(value)  # type: ignore[union-attr]
                except ValueError:
                    pass
            elif lower == "transfer-encoding" and "chunked" in value.lower():
                response.chunked = True  # type: ignore[union-attr]
        future = self.headers_future
        self.headers_future = None
        if response.method == "HEAD" or status in (204, 304):  # type: ignore[union-attr]
            # no body follows, whatever the headers say; llhttp cannot be told so: never reuse
            self.keep_alive = self.keep_alive and status in (204, 304)
            response._finish()  # type: ignore[union-attr]
        if future is not None and not future.done():
            future.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self.response is not None and not self.response._done:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or response.status == 0:  # an informational answer ended
            return
        response._finish()  # the pending read-timeout check finds it done and stops

    # --- use ---------------------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        self.keep_alive = False
        future = self.headers_future
        self.headers_future = None
        if future is not None and not future.done():
            future.set_exception(error)
        if self.response is not None:
            self.response._finish(error)
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.last_read = self.loop.time()
            self.transport.resume_reading()

    def _arm_timer(self) -> None:
        """Start the read timeout of a request just sent: a deadline, and a timer only when none
        is pending that fires before it (the check re-arms itself at the real deadline). A kept-alive
        connection thus makes about one timer per ``read_timeout`` instead of one per request
        (creating and cancelling a TimerHandle for each was a measurable share of the forward)."""
        read_timeout = self.read_timeout
        if read_timeout is None:
            return
        now = self.last_read = self.loop.time()
        due = now + read_timeout
        if self.timer is not None:
            if self.timer_due <= due:  # fires first; finds the request under way and waits on
                return
            self.timer.cancel()
        self.timer_due = due
        self.timer = self.loop.call_at(due, self._check_timeout)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _check_timeout(self) -> None:
        """The timer fired: time out the answer under way when nothing came for ``read_timeout``;
        with no answer under way (it ended, the connection went back to the pool) just stop."""
        self.timer = None
        response = self.response
        read_timeout = self.read_timeout
        if read_timeout is None or response is None or response._done:
            return
        now = self.loop.time()
        if self.paused:  # the reader is slow, not the native service
            due = now + read_timeout
        else:
            due = self.last_read + read_timeout
            if now >= due:
                self._fail(TimeoutError("the native service did not answer in time"))
                return
        self.timer_due = due
        self.timer = self.loop.call_at(due, self._check_timeout)

    async def drain(self) -> None:
        if self.closed:
            raise UpstreamError("connection lost while sending")
        if self.write_paused:
            self.drain_waiter = self.loop.create_future()
            try:
                await self.drain_waiter
            finally:
                self.drain_waiter = None

    def finished(self, response: UpstreamResponse, complete: bool) -> None:
        self.response = None
        writer, self.writer = self.writer, None
        if writer is not None and not writer.done():  # answered before the body was sent: stop reading it
            writer.cancel()
        if complete and self.keep_alive and self.body_sent and not self.closed and not self.paused:
            self.pool._put_back(self)
        else:
            self.close()

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
        self.pool._forget(self)


def _consume(task: asyncio.Future) -> None:
    """A body writer that failed after the answer came: its error is the connection's end, not news."""
    if not task.cancelled():
        task.exception()


class UpstreamPool:
    """Pooled connections to native services, ``limit`` in all, at most ``per_share`` of them busy
    for one share (the gateway's shares are APIs): one API whose clients send their bodies slowly, or
    whose native service hangs, waits for its own connections and leaves the others' alone."""

    def __init__(self, limit: int = 256, per_share: int | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.per_share = per_share
        self._busy: dict[object, int] = {}
        self._share_waiters: dict[object, collections.deque[asyncio.Future]] = {}
        self._idle: dict[tuple, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._opening = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._contexts: dict[object, _ssl.SSLContext | None] = {}
        self._closed = False

    def _context(self, scheme: str, verify) -> _ssl.SSLContext | None:
        if scheme != "https":
            return None
        if isinstance(verify, _ssl.SSLContext):
            return verify
        context = self._contexts.get(bool(verify))
        if context is None:
            context = _ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = _ssl.CERT_NONE
            self._contexts[bool(verify)] = context
        return context

    # --- pool bookkeeping ----------------------------------------------------------------------

    def _put_back(self, conn: _Connection) -> None:
        conn.idle_since = self.loop.time()
        while self._waiters:  # hand it over to someone waiting for a slot: close it and let them open
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._idle.setdefault(conn.key, []).append(conn)
                waiter.set_result(None)
                return
        self._idle.setdefault(conn.key, []).append(conn)

    def _forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.key)
            if idle and conn in idle:
                idle.remove(conn)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _try_enter(self, share) -> bool:
        """Take one of ``share``'s places if one is free now."""
        busy = self._busy.get(share, 0)
        if busy >= self.per_share:  # type: ignore[operator]
            return False
        self._busy[share] = busy + 1
        return True

    async def _enter(self, share, deadline: float | None) -> None:
        """Take one of ``share``'s places; waiting for one counts against the connect deadline."""
        while not self._try_enter(share):
            waiter = self.loop.create_future()
            self._share_waiters.setdefault(share, collections.deque()).append(waiter)
            timeout = None if deadline is None else max(0.0, deadline - self.loop.time())
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("all connections this API may use are busy") from None
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_share(share)  # the place we were given goes to the next in line
                raise

    def _leave(self, share) -> None:
        left = self._busy.get(share, 0) - 1
        if left > 0:
            self._busy[share] = left
        else:
            self._busy.pop(share, None)
        self._wake_share(share)

    def _wake_share(self, share) -> None:
        waiters = self._share_waiters.get(share)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if not waiters:
            self._share_waiters.pop(share, None)

    def _take_idle(self, key: tuple) -> _Connection | None:
        idle = self._idle.get(key)
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_KEEP:
                return conn
            conn.close()
        return None

    def _close_one_idle(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle.pop(0).close()
                return True
        return False

    def _reuse(self, key: tuple) -> _Connection | None:
        """An idle pooled connection to ``key``'s origin, if there is one."""
        conn = self._take_idle(key)
        if conn is not None:
            conn.reused = True
        return conn

    async def _acquire(self, key: tuple, scheme: str, host: str, port: int, verify, deadline: float | None) -> _Connection:
        while True:
            if self._closed:
                raise UpstreamError("the client is closed")
            conn = self._reuse(key)
            if conn is not None:
                return conn
            if len(self._open) + self._opening < self.limit or self._close_one_idle():
                break
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            timeout = None if deadline is None else max(0.0, deadline - self.loop.time())
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("no free connection to the native service in time") from None
        self._opening += 1
        try:
            timeout = None if deadline is None else max(0.0, deadline - self.loop.time())
            context = self._context(scheme, verify)
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Connection(self, key), host, port, ssl=context,
                                            server_hostname=host if context is not None else None),
                timeout,
            )
        except asyncio.TimeoutError:
            raise ConnectFailed("connecting to the native service timed out", timed_out=True) from None
        except (OSError, _ssl.SSLError) as exc:
            raise ConnectFailed(f"cannot connect to the native service ({exc.__class__.__name__})") from None
        finally:
            self._opening -= 1
            if len(self._open) + self._opening < self.limit:
                self._wake_one()
        self._open.add(conn)
        return conn

    # --- requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: AsyncIterator[bytes] | None = None,
        *,
        length: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        verify=True,
        share=None,
    ) -> UpstreamResponse:
        """Send a request; returns once the answer's status and headers are in.

        ``headers`` go as given (the Host header is added from ``url``); with a ``body`` and no
        ``length``, the body is sent chunked."""
        base, target = split_target(url)
        scheme, host, port, host_header = split_url(base)
        if not isinstance(headers, (list, tuple)):
            headers = list(headers)
        # One pass builds the lines; a name with a colon is left out (and refused below), and a line
        # break anywhere shows as more CR or LF than lines: no header can smuggle another.
        lines = [f"{name}: {value}\r\n" for name, value in headers if ":" not in name]
        text = "".join(lines)
        if len(lines) != len(headers) or text.count("\n") != len(lines) or text.count("\r") != len(lines):
            raise ValueError("header with a line break or colon")
        if body is not None and length is None:
            text += "Transfer-Encoding: chunked\r\n"
        elif body is None and method not in NO_BODY_METHODS and not any(len(name) == 14 and name.lower() == "content-length" for name, _ in headers):
            text += "Content-Length: 0\r\n"
        head = f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\n{text}\r\n".encode("utf-8", "surrogateescape")
        key = (scheme, host, port, id(verify) if isinstance(verify, _ssl.SSLContext) else bool(verify))
        deadline = None if connect_timeout is None else self.loop.time() + connect_timeout
        # The usual case runs without a nested coroutine: a free place for the share, an idle pooled
        # connection, no body; each await level is paid again when the answer wakes the request.
        entered = share is not None and self.per_share is not None
        if entered and not self._try_enter(share):
            await self._enter(share, deadline)
        try:
            for attempt in (0, 1):
                conn = None if self._closed else self._reuse(key)
                if conn is None:
                    conn = await self._acquire(key, scheme, host, port, verify, deadline)
                future = None
                try:
                    future = self._begin(conn, method, head, body is None, read_timeout)
                    if body is None:
                        response = await future
                    else:
                        response = await self._with_body(conn, future, body, length is None)
                    break
                except BaseException as exc:
                    self._abandon(conn, future)
                    if not isinstance(exc, _Stale):
                        raise
                    if attempt or body is not None or method not in RETRYABLE:  # else: once more, on a new connection
                        raise UpstreamError("the native service closed the connection") from None
        except BaseException:
            if entered:
                self._leave(share)
            raise
        if entered:
            response._share = share  # released with the answer
        return response

    def _begin(self, conn: _Connection, method: str, head: bytes, no_body: bool, read_timeout) -> asyncio.Future:
        """Send the request head on ``conn``; the future its answer's headers will resolve."""
        conn.response = UpstreamResponse(conn, method)
        conn.got_bytes = False
        conn.keep_alive = False
        conn.read_timeout = read_timeout
        conn.headers_future = future = self.loop.create_future()
        conn.body_sent = no_body
        conn.transport.write(head)  # type: ignore[union-attr]
        conn._arm_timer()
        return future

    @staticmethod
    def _abandon(conn: _Connection, future: asyncio.Future | None) -> None:
        """The exchange on ``conn`` failed or was cancelled: the connection is closed, never reused."""
        conn.headers_future = None
        if future is not None and not future.done():
            future.cancel()
        writer, conn.writer = conn.writer, None
        if writer is not None and not writer.done():
            writer.cancel()
        conn.response = None
        conn.keep_alive = False
        conn.close()

    async def _with_body(self, conn: _Connection, future: asyncio.Future, body, chunked: bool) -> UpstreamResponse:
        """The body is written while the answer is awaited, so a native service that answers early is heard."""
        writer = asyncio.ensure_future(self._send_body(conn, body, chunked))
        writer.add_done_callback(_consume)
        conn.writer = writer
        done, _ = await asyncio.wait((future, writer), return_when=asyncio.FIRST_COMPLETED)
        if writer in done and writer.exception() is not None:
            raise writer.exception()  # type: ignore[misc]
        return await future

    async def _send_body(self, conn: _Connection, body: AsyncIterator[bytes], chunked: bool) -> None:
        transport = conn.transport
        async for chunk in body:
            if not chunk:
                continue
            if chunked:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))  # type: ignore[union-attr]
            else:
                transport.write(chunk)  # type: ignore[union-attr]
            conn.last_read = conn.loop.time()  # the read timeout runs from the end of the request
            await conn.drain()
        if chunked:
            transport.write(b"0\r\n\r\n")  # type: ignore[union-attr]
        conn.body_sent = True

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn.close()
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(UpstreamError("the client is closed"))
