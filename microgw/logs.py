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
            request.path,
            response.status,
            response.body_length,
            time * 1000,
            api,
            app,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
