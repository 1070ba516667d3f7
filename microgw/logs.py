"""Logging set-up and the access log. Query strings are never logged: tokens may travel in them."""

from __future__ import annotations

import atexit
import logging
import queue
import sys
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

    Text lines are written by a thread: a slow or full stderr pipe (a busy log collector) must
    never stall the event loop, which would show as latency on every request in flight."""
    access = logging.getLogger("microgw.access")
    if access_json and not any(getattr(h, "_microgw", False) for h in access.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._microgw = True  # type: ignore[attr-defined]
        access.addHandler(handler)
        access.propagate = False
    root = logging.getLogger()
    if not any(getattr(h, "_microgw", False) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        prefix = f"[{tag}] " if tag else ""
        stream.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s"))
        lines: queue.SimpleQueue = queue.SimpleQueue()
        handler = QueueHandler(lines)
        handler._microgw = True  # type: ignore[attr-defined]
        listener = QueueListener(lines, stream)
        listener.start()
        atexit.register(listener.stop)  # writes what is queued before the process ends
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("microgw").setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, RedactBadRequests) for f in server_log.filters):
        server_log.addFilter(RedactBadRequests())


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
        self.logger.info(
            '%s "%s %s" %s %s %.1fms api=%s app=%s id=%s upstream=%s',
            request.remote,
            request.method,
            request.rel_url.raw_path,  # percent-encoded as sent: a %0a cannot forge a log line
            response.status,
            response.body_length,
            time * 1000,
            api,
            app,
            trace.request_id if trace is not None else "-",
            f"{upstream * 1000:.1f}ms" if upstream is not None else "-",
        )

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
        self.logger.info("%s", orjson.dumps(record).decode())
