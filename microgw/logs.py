"""Logging set-up and the access log. Query strings are never logged: tokens may travel in them."""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import sys
import threading
import time
from datetime import datetime, timezone
from time import perf_counter

import orjson
from logging.handlers import QueueHandler, QueueListener

from aiohttp.abc import AbstractAccessLogger

TRACE_KEY = "microgw.trace"  # tracing.KEY; logs sit below tracing (tracing imports metrics only)


def _duration(trace, measured: float) -> float:
    """The request's time: from its trace's start by the precise clock when it has one. aiohttp's
    ``time`` comes from the event loop's clock, which uvloop keeps in whole milliseconds, so it could
    show a request shorter than the native service's share of it."""
    return perf_counter() - trace.started if trace is not None else measured


def configure(level: str, tag: str | None = None, *, access_json: bool = False) -> None:
    """Log records go to stderr as text; with ``access_json`` the access log's records are bare JSON
    lines (no time/level prefix), so a collector reads each line as one object. ``tag`` names the
    process in each line when several share the log (``worker 1``).

    Lines are written by a thread: a slow or full stderr pipe (a busy log collector) must never
    stall the event loop, which would show as latency on every request in flight. Access lines
    reach that thread in batches (:class:`AccessLines`)."""
    global _access_lines
    root = logging.getLogger()
    if not any(getattr(h, "_microgw", False) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        prefix = f"[{tag}] " if tag else ""
        stream.setFormatter(_Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s"))
        lines: queue.SimpleQueue = queue.SimpleQueue()
        _access_lines = AccessLines(lines.put_nowait, prefix)
        handler = _InOrder(lines)
        handler._microgw = True  # type: ignore[attr-defined]
        listener = QueueListener(lines, stream)
        listener.start()
        atexit.register(listener.stop)  # writes what is queued before the process ends
        atexit.register(flush_access)  # runs first (atexit is last in, first out)
        root.addHandler(handler)
    if _access_lines is not None:
        _access_lines.json = access_json
    root.setLevel(level)
    logging.getLogger("microgw").setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, RedactBadRequests) for f in server_log.filters):
        server_log.addFilter(RedactBadRequests())


class AccessLines:
    """The access log's lines, handed to the writer thread in batches.

    Through ``logging`` an access line cost about 20 µs of the event loop's time (a LogRecord, the
    formatting, a queue put that wakes the writer thread, which then competes for the GIL): a fifth
    of a proxied request. Here a line is one string appended to a list; the list goes to the writer
    as one item when it holds BATCH lines or DELAY seconds after its first line, whichever comes
    first, and before any other log record, so the log keeps its order."""

    BATCH = 256
    DELAY = 0.05

    def __init__(self, put, prefix: str) -> None:
        self.queue_put = put  # the writer thread's queue
        self.prefix = prefix  # "[worker 1] " in a --workers group
        self.json = False  # logging.access_log_format json: bare lines, no time/level prefix
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def text(self, message: str) -> str:
        """``message`` as logging's text format would show it (time with milliseconds, level, name)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d} INFO {self.prefix}microgw.access: {message}"

    def add(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= self.BATCH:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.DELAY, self.flush)
            except RuntimeError:  # no event loop here: no batching either
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            text, self._lines = "\n".join(self._lines), []
            self.queue_put(_raw_record(text))


_access_lines: AccessLines | None = None  # set by configure(); None when embedded (plain logging then)
_ACCESS = logging.getLogger("microgw.access")


def access_line(message: str) -> None:
    """One line of the access log's stream, as its format writes it (text with time and level, or
    the bare line for ``json``): the access logger's lines and logInvocation's ``access_log``
    records go the same way, batched, in the order they were made."""
    lines = _access_lines
    if lines is None:  # logging not set up by configure() (an embedding program): plain logging
        _ACCESS.info("%s", message)
    else:
        lines.add(message if lines.json else lines.text(message))


class AccessStream:
    """The access log's stream for other writers (logInvocation's ``access_log`` destination): what
    the logging level lets through goes out with the access lines."""

    def info(self, _format: str, line: str) -> None:  # the call a logging.Logger answers
        if _ACCESS.isEnabledFor(logging.INFO):
            access_line(line)


def flush_access() -> None:
    """Hand the pending access lines to the writer (the gateway's stop and the process's exit)."""
    if _access_lines is not None:
        try:
            _access_lines.flush()
        except RuntimeError:  # the loop that held the timer is closed: the lines still go out
            _access_lines._timer = None
            _access_lines.flush()


def _raw_record(text: str) -> logging.LogRecord:
    record = logging.LogRecord("microgw.access", logging.INFO, "", 0, text, None, None)
    record.microgw_raw = True  # type: ignore[attr-defined]
    return record


class _Formatter(logging.Formatter):
    """The text format, except for records already written out whole (access lines, JSON lines)."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "microgw_raw", False):
            return record.msg  # type: ignore[return-value]
        return super().format(record)


class _InOrder(QueueHandler):
    """A queue handler that first hands over the access lines logged before its record (on the
    loop's thread, where they are batched), so nothing in the log appears out of order."""

    def __init__(self, target) -> None:
        super().__init__(target)
        self._loop_thread = threading.get_ident()

    def enqueue(self, record: logging.LogRecord) -> None:
        if _access_lines is not None and _access_lines._lines and threading.get_ident() == self._loop_thread:
            _access_lines.flush()
        super().enqueue(record)


class RedactBadRequests(logging.Filter):
    """aiohttp logs unparseable requests with their raw bytes — tokens and passwords included.

    Keep one short line naming the kind of error; other errors keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed request (%s)"
            record.args = (type(exc).__name__,)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class AccessLogger(AbstractAccessLogger):
    """One line a request: client, method, path without query, status, bytes, time, API, application,
    request id, and the part of the time spent waiting for the native service."""

    def log(self, request, response, time: float) -> None:
        ctx = request.get("microgw")
        api = f"{ctx.route.api.name}/{ctx.route.api.version}" if ctx is not None else "-"
        app = getattr(getattr(ctx, "application", None), "id", None) or "-"
        trace = request.get(TRACE_KEY)
        upstream = trace.upstream_seconds if trace is not None else None
        time = _duration(trace, time)
        message = (
            f'{request.remote} "{request.method} {request.rel_url.raw_path}" {response.status} {response.body_length} '  # path percent-encoded as sent: a %0a cannot forge a log line
            f"{time * 1000:.1f}ms api={api} app={app} id={trace.request_id if trace is not None else '-'} "
            f"upstream={f'{upstream * 1000:.1f}ms' if upstream is not None else '-'}"
        )
        access_line(message)

    @property
    def enabled(self) -> bool:
        """aiohttp asks this before building a log line (it overrides AbstractAccessLogger.enabled)."""
        return self.logger.isEnabledFor(logging.INFO)


class JsonAccessLogger(AccessLogger):
    """The same fields as one JSON object a line (``logging.access_log_format: json``)."""

    def log(self, request, response, time: float) -> None:
        ctx = request.get("microgw")
        trace = request.get(TRACE_KEY)
        upstream = trace.upstream_seconds if trace is not None else None
        time = _duration(trace, time)
        record = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "client": request.remote,
            "method": request.method,
            "path": request.rel_url.raw_path,  # no query string: tokens may travel in it
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 3),
            "upstream_ms": round(upstream * 1000, 3) if upstream is not None else None,
            "api": f"{ctx.route.api.name}/{ctx.route.api.version}" if ctx is not None else None,
            "app": getattr(getattr(ctx, "application", None), "id", None),
            "request_id": trace.request_id if trace is not None else None,
            "trace_id": trace.trace_id if trace is not None else None,
        }
        access_line(orjson.dumps(record).decode())
