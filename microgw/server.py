"""The gateway process: listeners, the request path, start, stop and reload.

One aiohttp application serves both listeners; the protocol of a request is that of the socket it
arrived on. The request path reads the current runtime once and never reaches back.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from microgw import banner, mock, startup, tracing
from microgw.config.errors import ConfigError
from microgw.config.loader import Loaded
from microgw.endpoints import admin, builtin_routes
from microgw.errors import Answered, GatewayError, not_found
from microgw.listener import Guard, GuardedRunner, GuardedSite, connection_cap
from microgw.logs import AccessLogger, JsonAccessLogger, configure, flush_access
from microgw.metrics import Metrics
from microgw.context import RequestContext
from microgw.http_client import UpstreamPool
from microgw.proxy import Forwarder
from microgw.responses import error_response, stamp
from microgw.routing import GATEWAY_PREFIX, split_gateway_path
from microgw.runtime import Runtime
from microgw.workers import FLUSH, WorkerRole
from microgw.yielding import answering

if TYPE_CHECKING:
    from microgw.sync.poller import ParentSync

log = logging.getLogger("microgw")

ALL_METHODS = "*"


class Gateway:
    """A running microgw: owns the listeners, the upstream pool and the current runtime.

    It is the :class:`~microgw.host.GatewayHost` of the built-in endpoints and the
    :class:`~microgw.sync.poller.DownloadTarget` of the parent sync; ``assembly`` puts its settings
    together.
    """

    def __init__(self, assembly: startup.Assembly, loaded: Loaded, role: WorkerRole | None = None) -> None:
        self.assembly = assembly
        self.loaded = loaded
        self._runtime: Runtime | None = None
        self.role = role  # set when this process is one of a --workers group
        self.metrics = Metrics(peers=role.peer_counters if role else None)
        if role is not None:  # a restarted worker continues its counts: the group's totals never drop
            self.metrics.add(role.load_counters(role.index) or {})
        self._flusher: asyncio.Task | None = None
        self.started_at = time.time()
        self.listener_urls: list[str] = []
        self._runner: web.AppRunner | None = None
        self._pool: UpstreamPool | None = None
        self.forwarder: Forwarder | None = None
        self._reload_lock = asyncio.Lock()
        self._downloaded: dict | None = None  # the settings last accepted from the parent
        self.sync: ParentSync | None = None  # when a parent gateway is configured
        self._retiring: dict[asyncio.Task, Runtime] = {}  # replaced runtimes waiting to be closed

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None
        return self._runtime

    def parent_status(self) -> dict[str, Any] | None:
        return self.sync.status() if self.sync is not None else None

    def worker_status(self) -> dict[str, Any] | None:
        if self.role is None:
            return None
        return {"index": self.role.index, "workers": self.role.count, "pid": os.getpid()}

    # --- settings ----------------------------------------------------------------------------

    async def _build(self, downloaded: dict | None, *, reread: bool = False) -> tuple[Loaded, Runtime]:
        busy = answering(lambda: sum(self.metrics.requests.values())) if self._runtime is not None else None
        return await self.assembly.build(downloaded, current=self.loaded, previous=self._runtime, reread=reread, busy=busy)

    async def apply_download(self, document: dict) -> ConfigError | None:
        """Swap in settings newly downloaded from the parent; the refusal (and nothing changes) when
        the loader or the runtime build refuses them."""
        async with self._reload_lock:
            try:
                loaded, runtime = await self._build(document)
            except ConfigError as exc:
                log.error("refused the settings downloaded from the parent, keeping the current ones: %s", startup.render(exc))
                return exc
            await self._swap(loaded, runtime)
            self._downloaded = document
            return None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Assemble the settings (which may wait for a parent gateway) and serve them.

        A single process with a parent gateway listens first: until the runtime is in place the
        listeners answer the liveness probe (200) and everything else 503 ``starting``, so a sidecar
        whose parent hangs is alive and probed, not a closed port. A worker of a ``--workers`` group
        listens only once ready (its port is shared: the others serve meanwhile).
        The listeners and the upstream pool follow the files and the command line (a download
        changes APIs, applications and auth servers, never listeners)."""
        follower = self.role is not None and not self.role.downloads
        settings = self.loaded.settings
        try:
            https_context = startup.https_context(settings)
        except ConfigError as exc:
            raise startup.locate(exc, self.loaded) from None
        srv = settings.server
        self._pool = UpstreamPool(srv.upstream_connections, per_share=srv.api_share)
        self.forwarder = Forwarder(self._pool, srv.max_body_size, srv.body_timeout)
        guard = self._guard(srv)
        app = web.Application(
            client_max_size=1 << 20,
            middlewares=[self._while_starting, tracing.middleware(lambda: self.runtime.settings.request_id_header)],
        )
        app.on_response_prepare.append(_answer_headers)
        builtins = builtin_routes(self)
        app.add_routes(builtins)  # before /gateway/: /gateway/security/getJsonWebToken is ours
        gateway_route = app.router.add_route(
            ALL_METHODS, GATEWAY_PREFIX + "{tail:[\\s\\S]*}", self.handle_gateway, expect_handler=_defer_continue
        )
        app.router.add_route(ALL_METHODS, "/{tail:[\\s\\S]*}", self.handle_unknown)
        self._runner = GuardedRunner(
            app,
            guard,
            handle_signals=False,
            shutdown_timeout=srv.shutdown_grace,
            access_log_class=JsonAccessLogger if settings.access_log_format == "json" else AccessLogger,
            access_log=logging.getLogger("microgw.access") if settings.access_log else None,
            keepalive_timeout=srv.idle_timeout,
            max_line_size=srv.max_header_size,
            max_field_size=srv.max_header_size,
            max_headers=srv.max_headers,
            auto_decompress=False,
        )
        await self._runner.setup()
        self._runner.server.request_handler = _fast_dispatch(  # type: ignore[union-attr]
            app, gateway_route, builtins, self._serve, lambda: self._runtime is not None
        )
        async def listen() -> None:
            for scheme, port, context in (("http", srv.http_port, None), ("https", srv.https_port, https_context)):
                if port is None:
                    continue
                site = GuardedSite(
                    self._runner, srv.host, port, ssl_context=context, backlog=1024, reuse_address=True,
                    reuse_port=self.role is not None, handshake_timeout=guard.header_timeout,
                )
                await site.start()
                for sock in site._server.sockets:  # type: ignore[union-attr]
                    host, bound = sock.getsockname()[:2]
                    self.listener_urls.append(f"{scheme}://{host}:{bound}")

        # A single process with a parent listens first (its probes answer while the parent hangs); a
        # worker of a group listens only when ready, so the kernel never hands it requests before.
        early = settings.parent is not None and settings.parent.download and self.role is None
        if early:
            await listen()
            for url in self.listener_urls:
                log.info("answering health probes on %s while the settings are assembled", url)
        self.loaded, runtime, self.sync, self._downloaded = await self.assembly.prepare(self.loaded, self, follower=follower)
        for warning in self.loaded.warnings:  # configuration warnings and what downloads replaced
            log.warning("%s", warning)
        self.forwarder.max_body_size = self.loaded.settings.server.max_body_size
        self.forwarder.body_timeout = self.loaded.settings.server.body_timeout
        await runtime.start()
        self._runtime = runtime
        if not early:
            await listen()
        for url in self.listener_urls:
            log.info("listening on %s", url)
        if self.sync is not None:
            self.sync.start_polling()
        if self.role is not None:
            self._flusher = asyncio.ensure_future(self._flush_counters())

    @web.middleware
    async def _while_starting(self, request: web.Request, handler):
        """Before the runtime is in place: liveness 200, everything else 503 (retry shortly)."""
        if self._runtime is not None:
            return await handler(request)
        if request.path == admin.PREFIX + "/health":
            return web.json_response({"status": "up", "starting": True})
        return error_response(GatewayError(503, "starting", "The gateway is starting", headers={"Retry-After": "1"}))

    def _guard(self, srv) -> Guard:
        """The client-connection limits (microgw.listener); the loop's accept failures rate-limited."""
        cap, nofile = connection_cap(srv.max_connections, srv.upstream_connections)
        if nofile is not None:
            log.info("client connections capped at %d, below the open-files limit %d (server.max_connections %d)", cap, nofile, srv.max_connections)
        guard = Guard(cap, min(srv.header_timeout, srv.idle_timeout))
        asyncio.get_running_loop().set_exception_handler(guard.loop_exception_handler)
        return guard

    async def _flush_counters(self) -> None:
        """Write this worker's counters for the others every FLUSH seconds (when they changed)."""
        written = None
        while True:
            await asyncio.sleep(FLUSH)
            snapshot = self.metrics.snapshot()
            if snapshot != written:
                try:
                    self.role.save_counters(snapshot)  # type: ignore[union-attr]
                    written = snapshot
                except OSError as exc:
                    log.warning("cannot write this worker's counters: %s", exc)

    def _retire_later(self, previous: Runtime, successor: Runtime, delay: float) -> None:
        async def retire() -> None:
            await asyncio.sleep(delay)
            await previous.close(successor)
            if _gc_settled and not self._retiring.keys() - {task}:  # the last replaced runtime is gone
                _settle_gc(again=True)

        task = asyncio.ensure_future(retire())
        self._retiring[task] = previous
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish (bounded by shutdown_grace), then close."""
        if self.sync is not None:
            await self.sync.close()
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        for task, previous in list(self._retiring.items()):  # nothing runs on replaced runtimes any more
            task.cancel()
            await previous.close(self._runtime)
        if self._runtime is not None:
            await self._runtime.close()
        flush_access()  # the last requests' lines go out with the last log lines
        if self.role is not None:
            try:
                self.role.save_counters(self.metrics.snapshot())
            except OSError:
                pass

    async def reload(self, *, group: bool = True) -> bool:
        """Re-read the configuration files; on any problem keep serving the current runtime.

        In a --workers group a reload asked over the admin API (``group``) then reaches the other
        workers through the supervisor; a SIGHUP (sent to all by the supervisor) does not."""
        async with self._reload_lock:
            try:
                loaded, runtime = await self._build(self._downloaded, reread=True)
            except ConfigError as exc:
                log.error("reload refused, keeping the current settings: %s", startup.render(exc))
                return False
            await self._swap(loaded, runtime)
        if group and self.role is not None and self.role.count > 1:
            self.role.reload_others()
        return True

    async def _swap(self, loaded: Loaded, runtime: Runtime) -> None:
        """Make ``runtime`` (built for ``loaded``) current; requests in flight finish on the old one."""
        logged = set(self.loaded.warnings)
        for warning in loaded.warnings:  # new configuration warnings and download replacements
            if warning not in logged:
                log.warning("%s", warning)
        old = self.runtime.settings.server
        if loaded.settings.server != old:
            log.warning("listener settings changed; they take effect after a restart")
        previous = self._runtime
        await runtime.start(previous)
        self._runtime, self.loaded = runtime, loaded
        log.info("settings applied: %d APIs", len(runtime.routes))
        self.forwarder.max_body_size = loaded.settings.server.max_body_size  # type: ignore[union-attr]
        self.forwarder.body_timeout = loaded.settings.server.body_timeout  # type: ignore[union-attr]
        if previous is not None:
            # requests still running on the previous runtime keep its parts until they finish
            self._retire_later(previous, runtime, max(old.shutdown_grace, 1.0))

    # --- request path ------------------------------------------------------------------------

    async def handle_gateway(self, request: web.Request) -> web.StreamResponse:
        """A /gateway/ request that came through aiohttp's router (its middleware began the trace)."""
        return await self._serve(request, request.get(tracing.KEY))

    async def _serve(self, request: web.Request, trace: tracing.Trace | None) -> web.StreamResponse:
        """One /gateway/ request: its API's stages, then the forward (or mock), as few awaits deep as
        possible; counted, and its latency split recorded, however it ends. Most come straight from
        _fast_dispatch (no trace yet: begun here)."""
        runtime = self.runtime
        if trace is None:
            trace = request[tracing.KEY] = tracing.begin(request.headers, runtime.settings.request_id_header)
        route = None
        ctx = None
        try:
            try:
                url = request.rel_url  # the origin form, also for absolute-form request targets (RFC 9112 §3.2.2)
                name, version, resource, query = split_gateway_path(url.raw_path, url.raw_query_string)
                route = runtime.routes.get((name, version))
                if route is None:
                    raise not_found("No API matches this path")
                ctx = RequestContext(request, route, resource, query, "https" if request.secure else "http", request.remote or "")
                ctx.trace = trace
                request["microgw"] = ctx
                stages, exchanges = route.stages, route.exchanges
                if route.scoped is not None:  # the pipeline of the most specific scope the request is in
                    stages, exchanges = route.scoped.choose(request.method, resource, (stages, exchanges))
                for stage in stages:
                    await stage.apply(ctx)
                if request.headers.get("Expect", "").lower() == "100-continue":
                    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # only once the policies passed
                if exchanges:
                    response = await _around(exchanges, self._send)(ctx)
                elif route.upstream is None:
                    response = await mock.answer(ctx)
                else:
                    response = await self.forwarder.forward(ctx)  # type: ignore[union-attr]
            except Answered as answered:
                response = answered.response
            except GatewayError as error:
                self.metrics.refused(error.code)
                response = error_response(error)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours: log it, answer without internals
                log.exception("unexpected error on %s %s", request.method, request.path)
                response = error_response(GatewayError(500, "internal_error", "Internal gateway error"))
            if route is not None:
                self.metrics.observe(route.api.name, route.api.version, response.status)
            if not response.prepared:  # a streamed answer was stamped before it started
                stamp(response, trace, ctx)
            return response
        finally:
            if ctx is not None and trace is not None:  # the latency split, also for answers that end in an exception
                api = route.api  # type: ignore[union-attr]
                self.metrics.latency(api.name, api.version, time.perf_counter() - trace.started, trace.upstream_seconds)

    async def _send(self, ctx: RequestContext) -> web.StreamResponse:
        if ctx.route.upstream is None:
            return await mock.answer(ctx)
        return await self.forwarder.forward(ctx)  # type: ignore[union-attr]

    async def handle_unknown(self, request: web.Request) -> web.Response:
        allowed = sorted(
            {route.method for resource in request.app.router.resources() if resource.get_info().get("path") == request.path for route in resource}
        )
        if allowed:
            return error_response(GatewayError(405, "method_not_allowed", f"Method {request.method} is not allowed", headers={"Allow": ", ".join(allowed)}))
        if request.path.startswith(admin.PREFIX + "/") or request.path.startswith("/rest/"):
            return error_response(GatewayError(404, "not_found", "No such endpoint"))
        return error_response(not_found())


def _around(exchanges: tuple, send):
    """``send`` wrapped by the API's exchange stages, the first listed outermost."""
    for stage in reversed(exchanges):
        send = _wrap(stage, send)
    return send


def _wrap(stage, send):
    async def wrapped(ctx: RequestContext) -> web.StreamResponse:
        return await stage.exchange(ctx, send)

    return wrapped


def _fast_dispatch(app: web.Application, gateway_route, builtins, direct, ready):
    """The request handler of the listeners: /gateway/ requests go straight to ``direct``.

    aiohttp's way to a handler (the router's walk, a match-info object, the middleware chain, the
    Expect check) costs about as much as a cached JWT check, on every request. The outcome for a
    /gateway/ path is always the same route, so it is resolved once here: a path the router would
    give to the gateway route (``path_safe``, as the router reads it) and that is not a built-in
    endpoint goes to ``direct`` with a shared, frozen match-info of that route, so the request's
    app and its response-prepare hooks are those of the app. Everything else, and everything until
    the gateway is ``ready`` (the app's middleware answers 503 starting), takes aiohttp's way.
    """
    from aiohttp.web_urldispatcher import UrlMappingMatchInfo

    match = UrlMappingMatchInfo({}, gateway_route)
    match.current_app = app  # request.app is the app, but no app's response-prepare hooks run:
    match.freeze()  # _serve and the forward stamp the answers themselves (responses.stamp), no signal
    builtin = frozenset(route.path for route in builtins if route.path.startswith(GATEWAY_PREFIX))
    if any("{" in path for path in builtin):  # a variable built-in path: let the router decide
        return app._handle
    slow = app._handle

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path_safe
        if path.startswith(GATEWAY_PREFIX) and path not in builtin and ready():
            request._match_info = match  # type: ignore[attr-defined]
            return await direct(request, None)
        return await slow(request)

    return dispatch


async def _defer_continue(request: web.Request) -> None:
    """Answer ``Expect: 100-continue`` only after the policies passed (handle_gateway does it), so a
    client that would be refused never sends its body."""


async def _answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Say who answers without naming the stack, give the request id back, and put the headers
    policies asked for on any answer that went aiohttp's way (built-in endpoints, unknown paths,
    /gateway requests while starting). /gateway answers that came through _fast_dispatch skip this
    hook (a signal and three coroutines per answer): the gateway stamps them itself."""
    trace = request.get(tracing.KEY)
    ctx = request.get("microgw")
    if ctx is not None or "Server" not in response.headers or response.headers["Server"].startswith("Python/"):
        stamp(response, trace, ctx)
    elif trace is not None:
        response.headers[trace.header] = trace.request_id


GC_THRESHOLDS = (20_000, 20, 20)  # Python's are (700, 10, 10)
_gc_settled = False  # serve() froze what start-up made (an embedding process keeps its own collector)


def _settle_gc(*, again: bool = False) -> None:
    """Keep the garbage collector off the tail latency.

    What start-up loaded (modules, settings, keys: tens of MB of objects) lives as long as the
    process, yet every full collection walked it all: a 20-50 ms pause every few seconds under
    load, the p99 of every request in flight. ``gc.freeze`` moves it out of the collector's sight;
    a higher first threshold collects the short-lived per-request cycles less often, each pass as
    cheap (the young generation stays small). Reference counting still frees almost everything.

    ``again`` after a reload retired the previous runtime: what was frozen with it (its reference
    cycles: settings, routes, services) is unfrozen and collected, and the new runtime frozen in
    its place; without this, every reload left its predecessor's cycles in memory for good.
    """
    global _gc_settled
    if again:
        gc.unfreeze()
    gc.enable()  # off while start-up loaded the settings (microgw.cli.main)
    gc.collect()
    gc.freeze()
    _gc_settled = True
    gc.set_threshold(*GC_THRESHOLDS)
    _return_free_heap()


def _return_free_heap() -> None:
    """Give the C library's free heap back to the system (glibc's ``malloc_trim``, a few ms).

    What loading needed only for a while (the file's text being parsed, dicts and lists growing,
    a reload's thread arena) is freed but stays resident in the C heap, waiting for a reuse that
    mostly never comes: 3 MB at start-up with 10,000 applications, more after reloads."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return
    trim(0)


async def serve(gateway: Gateway) -> int:
    """Run until SIGINT/SIGTERM; SIGHUP reloads. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hup_during_start = [bool(EARLY_HUPS)]

    def on_hup() -> None:
        if gateway._runtime is None:  # still starting: reload once it has started, never lose it
            hup_during_start[0] = True
        else:
            asyncio.ensure_future(gateway.reload(group=False))

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await gateway.start()
    except ConfigError as exc:
        log.error("cannot start: %s", startup.render(exc))
        await gateway.stop()
        return 2
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        await gateway.stop()
        return 1
    parent = gateway.runtime.settings.parent
    for line in banner.lines(
        gateway.runtime, gateway.assembly.paths, gateway.listener_urls, [r.path for r in builtin_routes(gateway)],
        parent.url if parent is not None and parent.download else None,
    ):
        log.info("%s", line)
    if hup_during_start[0]:
        log.info("reloading: SIGHUP arrived during start-up")
        await gateway.reload(group=False)
    _settle_gc()
    if gateway.role is not None:
        gateway.role.notify_ready()
    await stop.wait()
    log.info("stopping: draining in-flight requests (at most %ss)", gateway.runtime.settings.server.shutdown_grace)
    await gateway.stop()
    log.info("stopped")
    return 0


EARLY_HUPS: list[float] = []  # SIGHUPs received before the event loop took over (see hold_sighup)


def hold_sighup() -> None:
    """From the very start of ``microgw start``: a SIGHUP (reload) must neither kill the process, as
    its default action would, nor be lost; it is remembered and served once start-up is done."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: EARLY_HUPS.append(time.monotonic()))


def run(assembly: startup.Assembly, loaded: Loaded) -> int:
    """Serve ``loaded`` (the settings of ``assembly`` as the command line loaded them) until stopped."""
    role = WorkerRole.from_environ()
    configure(loaded.settings.log_level, tag=role.tag if role else None, access_json=loaded.settings.access_log_format == "json")
    try:  # uvloop (a dependency but on Windows) roughly doubles what one process serves
        import uvloop

        return uvloop.run(serve(Gateway(assembly, loaded, role)))
    except ImportError:
        return asyncio.run(serve(Gateway(assembly, loaded, role)))
