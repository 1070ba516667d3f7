"""``logInvocation``: one JSON record per call of the API — what was asked and answered, with the
headers and payloads the API chooses, capped and with credentials redacted (the vendor's Log
Invocation); where the records go is per API (``access_log``, ``file``, ``stdout``), and what every
such policy shares is the global ``logging.transactions`` (on/off, the file, more names to redact,
the default cap).

Redaction is by name and never by guess alone: ``Authorization``, ``Proxy-Authorization``,
``Cookie``, ``Set-Cookie``, the API key header and the configured headers are logged as
``[redacted]``; so are query parameters and JSON fields whose names are token-like (``token``,
``access_token``, ``api_key``, ``password``, ``secret``, ``client_secret``, ...) or configured, and
``name=value`` pairs of such names in form or text payloads. A bearer token that shows up anywhere
else in a logged text (three base64url parts) is redacted too. Payloads are cut at the cap
(``truncated: true``); a payload that is not text is logged as its size.

The record is written after the answer is complete (so it has the status and the duration); the
call is logged whether it succeeded or not (``when: failure`` / ``success`` narrow it: a failure is a
status of 400 or more). Requests refused before the forward (401, 403, 429 ...) are in the access
log, not here. Logged payloads are read whole: an API with ``request_payload`` / ``response_payload``
does not stream those bodies (bounded by ``server.max_body_size``). Files are appended by a thread,
one line per record; the event loop never waits on a disk.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, quote

import orjson

from microgw.config.model import ApiConfig, TransactionLogging
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.logs import AccessStream
from microgw.policies.bodies import kind_of, request_body, OTHER
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import Unsupported, VendorAction, VendorTemplate, first

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services

DESTINATIONS = ("access_log", "file", "stdout")
WHEN = ("always", "failure", "success")
REDACTED = "[redacted]"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "One JSON record per call: headers and payloads as chosen, capped, credentials redacted (the vendor's logInvocation).",
    "properties": {
        "request_headers": {"type": "boolean", "description": "Default true."},
        "request_payload": {"type": "boolean", "description": "Default false."},
        "response_headers": {"type": "boolean", "description": "Default true."},
        "response_payload": {"type": "boolean", "description": "Default false."},
        "max_payload_bytes": {"type": "integer", "minimum": 0, "description": "Cap of a logged payload (default logging.transactions.max_payload_bytes, 4096)."},
        "when": {"enum": list(WHEN), "description": "always (default); failure: status 400 or more; success: below 400 (the vendor's logGenerationFrequency)."},
        "destinations": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(DESTINATIONS)},
            "description": "access_log (the access log's stream), file (logging.transactions.file, JSON lines), stdout (JSON lines). Default [access_log].",
        },
    },
}

ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
TOKEN_LIKE = re.compile(
    r"^(?:.*[_-])?(?:token|access[_-]?token|id[_-]?token|refresh[_-]?token|jwt|assertion|api[_-]?key|apikey|key|secret|client[_-]?secret|"
    r"password|passwd|pwd|pass|signature|sig|code|session|sessionid|auth|authorization|credentials?)$",
    re.IGNORECASE,
)
_JWT_LIKE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_PAIRS = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|[^&\s,;\"]+)")


@dataclass(frozen=True, slots=True)
class LogConfig:
    request_headers: bool = True
    request_payload: bool = False
    response_headers: bool = True
    response_payload: bool = False
    max_payload_bytes: int | None = None  # None: the global default
    when: str = "always"
    destinations: tuple[str, ...] = ("access_log",)


def parse(data: Mapping[str, Any]) -> LogConfig:
    return LogConfig(
        request_headers=bool(data.get("request_headers", True)),
        request_payload=bool(data.get("request_payload", False)),
        response_headers=bool(data.get("response_headers", True)),
        response_payload=bool(data.get("response_payload", False)),
        max_payload_bytes=data.get("max_payload_bytes"),
        when=data.get("when", "always"),
        destinations=tuple(data.get("destinations", ("access_log",))),
    )


# --- redaction ---------------------------------------------------------------------------------

class Redactor:
    """What is never logged, by name: headers, query parameters, JSON fields."""

    def __init__(self, settings: TransactionLogging, api_key_header: str) -> None:
        self.headers = ALWAYS_REDACTED_HEADERS | {api_key_header.lower()} | set(settings.redact_headers)
        self.fields = frozenset(settings.redact_fields)
        self._names: dict[str, bool] = {}

    def secret_name(self, name: str) -> bool:
        known = self._names.get(name)
        if known is None:
            known = name.lower() in self.fields or TOKEN_LIKE.match(name) is not None
            if len(self._names) < 4096:  # names are few (headers, fields); a flood of new ones is not remembered
                self._names[name] = known
        return known

    def header_items(self, items) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in items:
            name, value = str(name), str(value)  # multidict gives istr names; orjson wants plain str
            shown = REDACTED if name.lower() in self.headers or self.secret_name(name) else _JWT_LIKE.sub(REDACTED, value)
            if name in out:
                out[name] = [*out[name], shown] if isinstance(out[name], list) else [out[name], shown]
            else:
                out[name] = shown
        return out

    def query(self, raw: str) -> str:
        if not raw:
            return ""
        pairs = parse_qsl(raw, keep_blank_values=True)
        return "&".join(f"{quote(k, safe='')}={REDACTED if self.secret_name(k) else quote(_JWT_LIKE.sub(REDACTED, v), safe='')}" for k, v in pairs)

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (REDACTED if isinstance(k, str) and self.secret_name(k) else self.json(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)  # a URL or form text inside a JSON string: its secrets too
        return value

    def text(self, value: str) -> str:
        def pair(match: re.Match) -> str:
            if self.secret_name(match.group("name")):
                return f"{match.group('name')}{match.group('sep')}{REDACTED}"
            return match.group(0)

        return _JWT_LIKE.sub(REDACTED, _PAIRS.sub(pair, value))

    def payload(self, body: bytes | None, content_type: str | None, cap: int) -> dict[str, Any] | None:
        """``{"text": ..., "bytes": N, "truncated": bool}``, or the size alone for what is not text."""
        if body is None:
            return None
        kind = kind_of(content_type)
        media = (content_type or "").split(";", 1)[0].strip().lower()
        textual = kind != OTHER or media in ("application/x-www-form-urlencoded", "application/javascript", "")
        if not textual:
            return {"bytes": len(body), "content_type": media}
        text = body.decode("utf-8", "replace")
        if kind == "json":
            try:
                text = orjson.dumps(self.json(orjson.loads(body))).decode()
            except orjson.JSONDecodeError:
                text = self.text(text)
        else:
            text = self.text(text)
        cut = len(text.encode()) > cap
        if cut:  # cut after redaction: a cut can never expose half a secret the whole text would hide
            text = text.encode()[:cap].decode("utf-8", "ignore")
        return {"text": text, "bytes": len(body), "truncated": cut}


# --- writers -----------------------------------------------------------------------------------

class Lines:
    """Whole lines handed to a thread that writes them: the event loop only puts a string on a queue
    (no log record, no formatting, no lock, no disk on the loop)."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="microgw-invocations", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def info(self, _format: str, line: str) -> None:  # the logging.Logger call the stage makes
        self.queue.put(line)

    def _run(self) -> None:
        while (line := self.queue.get()) is not None:
            self.handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))

    def close(self) -> None:
        """Write what is queued (at exit): the last records of a stopping gateway are not lost."""
        self.queue.put(None)
        self.thread.join(timeout=5)
        self.handler.close()


_WRITERS: dict[str, Lines] = {}


def _writer(target: str) -> Lines:
    """The writer of ``stdout`` or of a file path (one per process, shared by every API)."""
    found = _WRITERS.get(target)
    if found is not None:
        return found
    if target == "stdout":
        handler: logging.Handler = logging.StreamHandler(sys.stdout)
    else:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        # append mode (O_APPEND, one write a line); reopened when logrotate moved the file away
        handler = logging.handlers.WatchedFileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    found = _WRITERS[target] = Lines(handler)
    return found


class LogInvocation:
    __slots__ = ("api", "config", "redactor", "cap", "outputs", "max_body")

    def __init__(self, api: ApiConfig, config: LogConfig, redactor: Redactor, cap: int, outputs: tuple[Any, ...], max_body: int) -> None:
        self.max_body = max_body
        self.api = api
        self.config = config
        self.redactor = redactor
        self.cap = cap
        self.outputs = outputs

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        config = self.config
        started = time.perf_counter()
        request_payload = None
        if config.request_payload:
            request_payload = await request_body(ctx, self.max_body)
        if config.response_payload:
            ctx.want_answer()
        try:
            response = await send(ctx)
        except GatewayError as error:
            self._log(ctx, started, error.status, None, None, request_payload)
            raise
        self._log(ctx, started, response.status, response, getattr(response, "body", None) if config.response_payload else None, request_payload)
        return response

    def _log(self, ctx: RequestContext, started: float, status: int, response, response_body, request_payload) -> None:
        config = self.config
        failed = status >= 400
        if (config.when == "failure" and not failed) or (config.when == "success" and failed):
            return
        request = ctx.request
        redact = self.redactor
        record: dict[str, Any] = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "kind": "invocation",
            "api": self.api.name,
            "version": self.api.version,
            "application": getattr(ctx.application, "id", None),
            "client": ctx.client_ip,
            "method": request.method,
            "path": request.rel_url.raw_path,
            "query": redact.query(ctx.query),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        trace = request.get("microgw.trace")
        if trace is not None:
            record["request_id"] = trace.request_id
        if config.request_headers:
            record["request_headers"] = redact.header_items(request.headers.items())
        if request_payload is not None:
            record["request_payload"] = redact.payload(request_payload, request.headers.get("Content-Type"), self.cap)
        if response is not None and config.response_headers:
            record["response_headers"] = redact.header_items(response.headers.items())
        if response is not None and config.response_payload and isinstance(response_body, (bytes, bytearray)):
            record["response_payload"] = redact.payload(bytes(response_body), response.headers.get("Content-Type"), self.cap)
        line = orjson.dumps(record).decode()
        for output in self.outputs:
            output.info("%s", line)


def build(api: ApiConfig, config: LogConfig, services: "Services") -> Staged:
    settings = services.settings
    transactions = settings.transactions
    if not transactions.enabled:
        return []
    outputs = []
    for destination in config.destinations:
        if destination == "access_log":
            outputs.append(AccessStream())
        elif destination == "stdout":
            outputs.append(_writer("stdout"))
        else:
            outputs.append(_writer(transactions.file or str(Path(settings.state_dir) / "invocations.jsonl")))
    cap = config.max_payload_bytes if config.max_payload_bytes is not None else transactions.max_payload_bytes
    return [("exchange", LogInvocation(api, config, Redactor(transactions, settings.api_key_header), cap, tuple(outputs), settings.server.max_body_size))]


# --- the vendor's template ---------------------------------------------------------------------

_FREQUENCIES = {"always": "always", "onfailure": "failure", "failure": "failure", "onsuccess": "success", "success": "success"}


def _flag(action: VendorAction, *keys: str) -> bool | None:
    for key in keys:
        text = (action.first(key) or "").strip().lower()
        if text in ("true", "false"):
            return text == "true"
    return None


def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``logInvocation``: ``storeRequestHeaders``, ``storeRequestPayload``, ``storeResponseHeaders``,
    ``storeResponsePayload`` (older exports: ``storeRequest`` / ``storeResponse`` for both),
    ``logGenerationFrequency`` (Always, On Failure, On Success). The vendor's destinations (its
    analytics store, Elasticsearch, email ...) are not microgw's: records go to the access log
    (warned). ``storeAsZip`` (compression) is not modelled."""
    out: dict[str, Any] = {}
    for ours, theirs, older in (
        ("request_headers", "storeRequestHeaders", "storeRequest"),
        ("request_payload", "storeRequestPayload", "storeRequest"),
        ("response_headers", "storeResponseHeaders", "storeResponse"),
        ("response_payload", "storeResponsePayload", "storeResponse"),
    ):
        flag = _flag(action, theirs, older)
        if flag is not None:
            out[ours] = flag
    frequency = re.sub(r"[\s_-]", "", (action.first("logGenerationFrequency") or "always")).lower()
    if frequency not in _FREQUENCIES:
        raise Unsupported(f"logGenerationFrequency {action.first('logGenerationFrequency')!r}")
    out["when"] = _FREQUENCIES[frequency]
    groups = action.groups("destination")
    kinds = [first(g, "destinationType") or "" for g in groups] + action.values("destinationType")
    if kinds or action.values("destination"):
        action.warn(f"the vendor's destinations ({', '.join(k for k in kinds if k) or 'as exported'}) are not microgw's: records go to the access log (destinations: [access_log])")
    return out


VENDOR = VendorTemplate(
    template="logInvocation",
    stage="LMT",
    parameters=frozenset({
        "storeRequestHeaders", "storeRequestPayload", "storeResponseHeaders", "storeResponsePayload", "storeRequest", "storeResponse",
        "storeAsZip", "logGenerationFrequency", "destination", "destinationType",
    }),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="logInvocation", schema=SCHEMA, parse=parse, build=build, vendor=(VENDOR,))
