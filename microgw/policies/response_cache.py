"""``serviceResultCache``: GET answers of the native service kept for a while and answered by the
gateway itself (the vendor's Service Result Cache).

The key is the method, the resource, the whole query string, ``Accept-Encoding`` (a gzip answer is
never served to a client that did not ask for one), the identified application, and the values of
the headers the criteria name. Answers are never shared across applications: a request that carries
credentials (a token, an API key, Basic, a cookie) but was identified as no application is not
cached at all, unless ``shared: true`` says the answers are the same for every caller (then the
application is left out of the key too).

HTTP caching rules honoured: a client's ``Cache-Control: no-store`` bypasses the cache, ``no-cache``
or ``max-age=0`` fetches afresh (and stores the new answer); an answer with ``no-store``, ``private``
or ``no-cache``, a ``Set-Cookie``, ``Vary: *`` or a ``Vary`` on a header outside the key is not
stored; its ``s-maxage`` / ``max-age`` shortens the lifetime. Only 200 answers of at most
``max_entry_bytes`` are stored; the cache holds at most ``max_entries`` answers and ``max_bytes`` of
bodies, the least recently used go first. Answers carry ``X-Cache: HIT | MISS | BYPASS`` and hits an
``Age``. Concurrent misses of one key make one call: the others wait for its answer (and make their
own call when it was not kept).

To be stored the answer is taken whole (``ctx.want_answer()``, bounded by ``max_body_size``), so a
cached API's answers are not streamed. The cache lives in this module keyed by the API and its cache
settings: a reload that keeps them keeps the answers. Each worker of a ``--workers`` group has its own.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web
from multidict import CIMultiDict

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.policies import durations
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import Invalid, Unsupported, VendorAction, VendorTemplate, first, values

if TYPE_CHECKING:
    from microgw.services import Services

_SIZE_SCHEMA = {
    "oneOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^\\s*[0-9]+\\s*([kKmMgG][bB]?|[bB])?\\s*$", "x-expected": "bytes, or a number with a unit: 64k, 10m, 1g"},
    ],
}
_NAME = {"type": "string", "minLength": 1, "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "x-expected": "a header name"}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "GET answers kept and answered by the gateway (the vendor's serviceResultCache).",
    "properties": {
        "ttl": {**durations.DURATION_SCHEMA, "description": "How long an answer is kept (default 5m); an answer's max-age may shorten it."},
        "max_entries": {"type": "integer", "minimum": 1, "description": "Answers kept at most (default 1000)."},
        "max_bytes": {**_SIZE_SCHEMA, "description": "Bytes of bodies kept at most (default 10m)."},
        "max_entry_bytes": {**_SIZE_SCHEMA, "description": "Larger answers are not kept (default 1m; the vendor's max-payload-size)."},
        "headers": {"type": "array", "items": _NAME, "description": "Request headers whose values are part of the key."},
        "only_when": {
            "type": "object",
            "additionalProperties": False,
            "description": "Cache only requests whose header / query parameter has one of these values (the vendor's whiteList).",
            "properties": {
                "headers": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                "query": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
            },
        },
        "shared": {"type": "boolean", "description": "Answers are the same for every caller: shared across applications and credentials (default false)."},
    },
}

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE = re.compile(r"^\s*([0-9]+)\s*([kmg]?)b?\s*$", re.IGNORECASE)


def size(value: int | str) -> int:
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True)
class CacheConfig:
    ttl: float = 300.0
    max_entries: int = 1000
    max_bytes: int = 10 << 20
    max_entry_bytes: int = 1 << 20
    headers: tuple[str, ...] = ()  # lower-case
    only_headers: tuple[tuple[str, frozenset[str]], ...] = ()
    only_query: tuple[tuple[str, frozenset[str]], ...] = ()
    shared: bool = False


def parse(data: Mapping[str, Any]) -> CacheConfig:
    only = data.get("only_when") or {}
    return CacheConfig(
        ttl=durations.seconds(data.get("ttl", 300)),
        max_entries=int(data.get("max_entries", 1000)),
        max_bytes=size(data.get("max_bytes", 10 << 20)),
        max_entry_bytes=size(data.get("max_entry_bytes", 1 << 20)),
        headers=tuple(dict.fromkeys(h.lower() for h in data.get("headers", ()))),
        only_headers=tuple((name.lower(), frozenset(vals)) for name, vals in (only.get("headers") or {}).items()),
        only_query=tuple((name, frozenset(vals)) for name, vals in (only.get("query") or {}).items()),
        shared=bool(data.get("shared", False)),
    )


# --- the store ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Entry:
    status: int
    reason: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored: float  # monotonic
    expires: float


class Store:
    """LRU by entries and body bytes; expired entries go when met."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.bytes = 0
        self.fetching: dict[tuple, asyncio.Future] = {}  # keys a request is fetching now: the others wait for it

    def get(self, key: tuple, now: float) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires <= now:
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry

    def put(self, key: tuple, entry: Entry) -> None:
        if key in self.entries:
            self._drop(key)
        self.entries[key] = entry
        self.bytes += len(entry.body)
        while self.entries and (len(self.entries) > self.max_entries or self.bytes > self.max_bytes):
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple) -> None:
        self.bytes -= len(self.entries.pop(key).body)


_STORES: dict[tuple, Store] = {}


def _store(api: ApiConfig, config: CacheConfig) -> Store:
    key = (api.name, api.version, config)
    found = _STORES.get(key)
    if found is None:
        for stale in [k for k in _STORES if k[:2] == key[:2]]:
            del _STORES[stale]
        found = _STORES[key] = Store(config.max_entries, config.max_bytes)
    return found


# --- the exchange stage ------------------------------------------------------------------------

def directives(value: str | None) -> dict[str, str]:
    """``Cache-Control`` -> {directive: argument} (lower-case names, quotes stripped)."""
    found: dict[str, str] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = argument.strip().strip('"')
    return found


_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_NOT_STORED = ("no-store", "private", "no-cache")


class ResponseCache:
    __slots__ = ("config", "store", "in_key", "credentials")

    def __init__(self, config: CacheConfig, store: Store, api_key_header: str) -> None:
        self.config = config
        self.store = store
        self.in_key = frozenset(("accept-encoding", *config.headers))
        self.credentials = tuple(dict.fromkeys((*_CREDENTIAL_HEADERS, api_key_header.lower())))

    def key(self, ctx: RequestContext) -> tuple | None:
        """The cache key, or None when this request must not be cached."""
        headers = ctx.request.headers
        config = self.config
        for name, allowed in config.only_headers:
            if headers.get(name) not in allowed:
                return None
        if config.only_query:
            query = ctx.request.rel_url.query
            for name, allowed in config.only_query:
                if query.get(name) not in allowed:
                    return None
        app = getattr(ctx.application, "id", None)
        if config.shared:
            app = ""
        elif app is None:
            if ctx.token or ctx.api_key or ctx.basic_user or any(h in headers for h in self.credentials):
                return None  # a caller with credentials but no application: never shared with others
            app = ""
        return (ctx.resource, ctx.query, app, headers.get("Accept-Encoding", ""), *(headers.get(h, "") for h in config.headers))

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        if (ctx.method or ctx.request.method) != "GET":
            return await send(ctx)
        asked = directives(ctx.request.headers.get("Cache-Control"))
        key = None if "no-store" in asked else self.key(ctx)
        if key is None:
            response = await send(ctx)
            response.headers["X-Cache"] = "BYPASS"
            return response
        store = self.store
        if "no-cache" not in asked and asked.get("max-age") != "0":
            entry = store.get(key, time.monotonic())
            if entry is None and key in store.fetching:  # one fetch for concurrent misses of one key
                await asyncio.shield(store.fetching[key])
                entry = store.get(key, time.monotonic())
            if entry is not None:
                return _answer(entry, time.monotonic())
        fetching = store.fetching.get(key)
        if fetching is None:
            fetching = store.fetching[key] = asyncio.get_running_loop().create_future()
        else:
            fetching = None  # another request fetches this key too (no-cache): it announces its own
        try:
            ctx.want_answer()
            response = await send(ctx)
            entry = self._storable(response, time.monotonic())
            if entry is not None:
                store.put(key, entry)
        finally:
            if fetching is not None:
                del store.fetching[key]
                fetching.set_result(None)  # the waiters look again (and fetch themselves when nothing was kept)
        response.headers["X-Cache"] = "MISS"
        return response

    def _storable(self, response: web.StreamResponse, now: float) -> Entry | None:
        body = getattr(response, "body", None)
        if response.status != 200 or not isinstance(body, (bytes, bytearray)) or len(body) > self.config.max_entry_bytes:
            return None
        headers = response.headers
        told = directives(",".join(headers.getall("Cache-Control", ())))
        if any(d in told for d in _NOT_STORED) or "Set-Cookie" in headers:
            return None
        for vary in headers.getall("Vary", ()):
            names = {n.strip().lower() for n in vary.split(",") if n.strip()}
            if "*" in names or names - self.in_key:
                return None
        ttl = self.config.ttl
        for directive in ("s-maxage", "max-age"):
            if directive in told:
                try:
                    ttl = min(ttl, float(told[directive]))
                except ValueError:
                    return None
                break
        if ttl <= 0:
            return None
        kept = tuple((name, value) for name, value in headers.items() if name.lower() not in ("x-cache", "age", "content-length"))
        return Entry(response.status, response.reason, kept, bytes(body), now, now + ttl)


def _answer(entry: Entry, now: float) -> web.Response:
    headers = CIMultiDict(entry.headers)
    headers["Age"] = str(int(now - entry.stored))
    headers["X-Cache"] = "HIT"
    return web.Response(status=entry.status, reason=entry.reason, body=entry.body, headers=headers)


def build(api: ApiConfig, config: CacheConfig, services: "Services") -> Staged:
    return [("exchange", ResponseCache(config, _store(api, config), services.settings.api_key_header))]


# --- the vendor's template ---------------------------------------------------------------------

def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``serviceResultCache``: ``ttl`` (``1d``, ``5m``, seconds), ``max-payload-size`` (bytes, or with a
    unit), ``cacheCriteria`` of ``httpHeader {httpHeaderName, whiteList}`` (the header joins the key;
    a white list caches only those values) and ``queryParam {queryParamName, whiteList}`` (the whole
    query is always in the key; a white list caches only those values). XPath criteria (SOAP) are
    not supported."""
    out: dict[str, Any] = {}
    ttl = (action.first("ttl") or "").strip()
    if ttl:
        try:
            durations.seconds(ttl)
        except ValueError:
            raise Invalid(f"ttl {ttl!r} is not a duration (seconds, or 30s, 5m, 2h, 1d)") from None
        out["ttl"] = ttl if not ttl.replace(".", "", 1).isdigit() else float(ttl) if "." in ttl else int(ttl)
    limit = (action.first("max-payload-size") or action.first("maxPayloadSize") or "").strip()
    if limit:
        try:
            out["max_entry_bytes"] = size(limit)
        except ValueError:
            raise Invalid(f"max-payload-size {limit!r} is not a size") from None
    headers: list[str] = []
    only: dict[str, dict[str, list[str]]] = {}
    for criteria in action.groups("cacheCriteria") or [action.parameters]:
        for item in criteria:
            key = item["templateKey"]
            group = item.get("parameters") if isinstance(item.get("parameters"), list) else []
            group = [p for p in group if isinstance(p, dict) and isinstance(p.get("templateKey"), str)]
            if key == "httpHeader":
                name = (first(group, "httpHeaderName") or "").strip()
                if not name:
                    raise Invalid("an httpHeader criterion names no httpHeaderName")
                headers.append(name)
                allowed = [w for w in values(group, "whiteList") if w != ""]
                if allowed:
                    only.setdefault("headers", {})[name] = allowed
            elif key == "queryParam":
                name = (first(group, "queryParamName") or "").strip()
                if not name:
                    raise Invalid("a queryParam criterion names no queryParamName")
                allowed = [w for w in values(group, "whiteList") if w != ""]
                if allowed:
                    only.setdefault("query", {})[name] = allowed
            elif key in ("xpath", "xPath", "XPath"):
                raise Unsupported("an XPath cache criterion")
    if headers:
        out["headers"] = list(dict.fromkeys(headers))
    if only:
        out["only_when"] = only
    return out


VENDOR = VendorTemplate(
    template="serviceResultCache",
    stage="LMT",
    parameters=frozenset({"ttl", "max-payload-size", "maxPayloadSize", "cacheCriteria", "httpHeader", "queryParam", "xpath"}),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="serviceResultCache", schema=SCHEMA, parse=parse, build=build, vendor=(VENDOR,))
