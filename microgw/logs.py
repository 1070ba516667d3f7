"""Logging set-up and the access log. Query strings are never logged: tokens may travel in them."""

from __future__ import annotations

import logging
import sys

from aiohttp.abc import AbstractAccessLogger


def configure(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_microgw", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._microgw = True  # type: ignore[attr-defined]
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
    """One line a request: client, method, path without query, status, bytes, time, API, application."""

    def log(self, request, response, time: float) -> None:
        ctx = request.get("microgw")
        api = f"{ctx.route.api.name}/{ctx.route.api.version}" if ctx is not None else "-"
        app = getattr(getattr(ctx, "application", None), "id", None) or "-"
        self.logger.info(
            '%s "%s %s" %s %s %.1fms api=%s app=%s',
            request.remote,
            request.method,
            request.rel_url.raw_path,  # percent-encoded as sent: a %0a cannot forge a log line
            response.status,
            response.body_length,
            time * 1000,
            api,
            app,
        )

    @property
    def enabled(self) -> bool:
        """aiohttp asks this before building a log line (it overrides AbstractAccessLogger.enabled)."""
        return self.logger.isEnabledFor(logging.INFO)
