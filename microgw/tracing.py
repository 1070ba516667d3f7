"""Request ids, W3C trace context and the time a request spends in the gateway vs the native service.

* ``X-Request-ID`` (the header name is ``logging.request_id_header``): a client's id is kept when it
  is short and plain (at most 128 characters of letters, digits and ``._:-``), else one is made; it
  goes to the native service, back to the client and into the access log.
* ``traceparent`` (W3C Trace Context level 1): the trace id of a valid incoming header is kept and
  the gateway's own span id takes the parent-id's place, so the native service's span hangs under
  the gateway's; without a valid one a new trace starts (sampled flag set, so the native service
  may record it). ``tracestate`` passes unchanged.
* Latency: the whole request as the gateway saw it, and the part spent waiting for the native
  service (from sending the request until its answer's headers arrived), per API, as Prometheus
  histograms; the gateway's own share is the difference.
"""

from __future__ import annotations

import random
import re
import time
from typing import Callable

from aiohttp import web


KEY = "microgw.trace"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def _ids() -> str:
    """80 hex digits: a request id (32), a trace id (32) and a span id (16), drawn at once. Ids for
    correlation, not secrets: the fast PRNG is enough (and never all zeros in practice)."""
    return f"{random.getrandbits(320):080x}"


class Trace:
    """What one request carries for correlation and timing."""

    __slots__ = ("header", "request_id", "trace_id", "span_id", "flags", "started", "upstream_seconds")

    def __init__(self, header: str, request_id: str, trace_id: str, span_id: str, flags: str, started: float) -> None:
        self.header = header  # the request id's header name
        self.request_id = request_id
        self.trace_id = trace_id
        self.span_id = span_id  # the gateway's span: the parent-id the native service receives
        self.flags = flags
        self.started = started
        self.upstream_seconds: float | None = None  # set by the forward

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def begin(headers, request_id_header: str) -> Trace:
    """The trace of a request from its headers: kept where sane, made where missing or malformed."""
    started = time.perf_counter()
    ids = _ids()
    given = headers.get(request_id_header)
    request_id = given if given is not None and _SANE_ID.fullmatch(given) else ids[:32]
    parent = headers.get("traceparent")
    match = _TRACEPARENT.fullmatch(parent.strip()) if parent is not None else None
    if match and match.group(1) != _ZERO_TRACE and match.group(2) != _ZERO_SPAN:
        trace_id, flags = match.group(1), match.group(3)
    else:
        trace_id, flags = ids[32:64], "01"
    return Trace(request_id_header, request_id, trace_id, ids[64:], flags, started)


def of(request: web.Request) -> Trace | None:
    return request.get(KEY)


def middleware(request_id_header: Callable[[], str]):
    """Start each request's trace (the gateway's handler records the latency split of /gateway
    requests; /gateway requests that skip aiohttp's router start theirs there)."""

    @web.middleware
    async def trace(request: web.Request, handler):
        request[KEY] = begin(request.headers, request_id_header())
        return await handler(request)

    return trace
