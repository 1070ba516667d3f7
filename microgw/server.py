"""The gateway process: listeners, the request path, start, stop and reload.

One aiohttp application serves both listeners; the protocol of a request is that of the socket it
arrived on. The request path reads the current runtime once and never reaches back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any, Mapping

import aiohttp
from aiohttp import web

from microgw import mock
from microgw.config.errors import ConfigError
from microgw.config.loader import Loaded, load_settings
from microgw.endpoints import admin
from microgw.errors import GatewayError, not_found
from microgw.keys.tls import TlsConfigError, client_context, server_context
from microgw.logs import AccessLogger, configure
from microgw.metrics import Metrics
from microgw.context import RequestContext
from microgw.proxy import Forwarder
from microgw.responses import error_response
from microgw.routing import GATEWAY_PREFIX, split_gateway_path
from microgw.policies.registry import CATALOG
from microgw.runtime import Runtime, build_runtime

log = logging.getLogger("microgw")

ALL_METHODS = "*"


class Gateway:
    """A running microgw: owns the listeners, the upstream pool and the current runtime."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        config_paths: list[str] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: dict | None = None,
    ) -> None:
        self.loaded = loaded
        self.config_paths = list(config_paths or [])
        self.environ = environ
        self.overrides = overrides
        self._runtime: Runtime | None = None
        self.metrics = Metrics()
        self.started_at = time.time()
        self.listener_urls: list[str] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.forwarder: Forwarder | None = None
        self._reload_lock = asyncio.Lock()
        self._archives: list[tuple[str, dict]] = []  # APIs from the vendor's archives (-a)
        self._downloaded: dict | None = None  # the settings last accepted from the parent
        self.sync: Any = None  # sync.poller.ParentSync when a parent gateway is configured
        self._retiring: dict[asyncio.Task, Runtime] = {}  # replaced runtimes waiting to be closed

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None
        return self._runtime

    # --- lifecycle ---------------------------------------------------------------------------

    # --- settings ----------------------------------------------------------------------------

    def _overlays(self, downloaded: dict | None) -> list[tuple[str, dict]]:
        """Archives, then the parent's settings (the loader applies endpoint_rewrites to both)."""
        overlays = list(self._archives)
        if downloaded is not None and self.sync is not None:
            overlays.append((f"parent gateway {self.sync.client.base}", downloaded))
        return overlays

    def _load(self, downloaded: dict | None, *, reread: bool = False) -> Loaded:
        """Settings over the YAML read at the last start or reload; only a reload (``reread``) reads
        the files again, so a half-edited file neither blocks a download nor goes live unasked."""
        files = None if reread else self.loaded.files
        return load_settings(
            self.config_paths, policies=CATALOG, environ=self.environ, overrides=self.overrides, overlays=self._overlays(downloaded), files=files
        )

    async def _build(self, downloaded: dict | None, *, reread: bool = False) -> tuple[Loaded, Runtime]:
        """Load and build a runtime (not started); ConfigError when either refuses."""
        if downloaded is None and not self._archives and not reread and self._runtime is None:
            loaded = self.loaded  # as the command line loaded it
        else:
            loaded = await asyncio.to_thread(self._load, downloaded, reread=reread)
        runtime = await asyncio.to_thread(build_runtime, loaded.settings, self._runtime)
        return loaded, runtime

    async def _prepare(self) -> tuple[Loaded, Runtime]:
        """The settings to start with, and their runtime: archives and the parent's settings over the
        YAML. A download refused by the loader or by the runtime build leaves the next candidate: the
        saved copy of the last good download, then the YAML alone (whose problems stop the start)."""
        from microgw.sync.archive_files import load_archive_files

        settings = self.loaded.settings
        self._archives = await asyncio.to_thread(load_archive_files, settings)
        if settings.parent is not None and settings.parent.download:
            from microgw.sync.poller import ParentSync

            self.sync = sync = ParentSync(self, settings.parent, settings.state_dir, client_context(settings.trust_store))
            fresh = await sync.initial()
            if fresh is not None:
                built = await self._try_download(fresh, "the settings downloaded from the parent")
                if built is not None:
                    sync.serving(fresh, "downloaded", fresh=True)
                    return built
            why = "downloaded settings refused" if fresh is not None else "parent unreachable"
            saved = sync.saved()
            if saved is not None:
                document, saved_at = saved
                built = await self._try_download(document, "the saved copy of the parent's settings")
                if built is not None:
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved_at))
                    sync.serving(document, f"{why}; serving the copy downloaded at {stamp}")
                    return built
            sync.serving(None, f"{why} and no usable saved copy; serving the YAML settings alone")
        return await self._build(None)

    async def _try_download(self, document: dict, what: str) -> tuple[Loaded, Runtime] | None:
        try:
            built = await self._build(document)
        except ConfigError as exc:
            log.error("%s were refused:\n%s", what, exc)
            self.sync.refused(exc)
            return None
        except Exception as exc:  # a bug of ours met by what the parent sent: the YAML may still start
            log.exception("%s could not be loaded", what)
            self.sync.refused(f"unexpected error ({exc.__class__.__name__})")
            return None
        self._downloaded = document
        return built

    async def apply_download(self, document: dict) -> ConfigError | None:
        """Swap in settings newly downloaded from the parent; the refusal (and nothing changes) when
        the loader or the runtime build refuses them."""
        async with self._reload_lock:
            try:
                loaded, runtime = await self._build(document)
            except ConfigError as exc:
                log.error("refused the settings downloaded from the parent, keeping the current ones:\n%s", exc)
                return exc
            await self._swap(loaded, runtime)
            self._downloaded = document
            return None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.loaded, runtime = await self._prepare()
        for warning in self.loaded.warnings:  # configuration warnings and what downloads replaced
            log.warning("%s", warning)
        settings = self.loaded.settings
        https_context = None
        if settings.server.https_port is not None and settings.key_store is not None:
            try:
                https_context = server_context(settings.key_store)
            except TlsConfigError as exc:
                from microgw.config.errors import ConfigProblem

                raise ConfigError([ConfigProblem("configuration", "key_store", str(exc))]) from None
        srv = settings.server
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=srv.upstream_connections, limit_per_host=0, enable_cleanup_closed=True),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        self.forwarder = Forwarder(self._session, srv.max_body_size)
        await runtime.start()
        self._runtime = runtime
        app = web.Application(client_max_size=1 << 20)
        app.on_response_prepare.append(_server_header)
        app.add_routes(admin.routes(self))
        app.add_routes(self.extra_routes())
        app.router.add_route(ALL_METHODS, GATEWAY_PREFIX + "{tail:[\\s\\S]*}", self.handle_gateway, expect_handler=_defer_continue)
        app.router.add_route(ALL_METHODS, "/{tail:[\\s\\S]*}", self.handle_unknown)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            shutdown_timeout=srv.shutdown_grace,
            access_log_class=AccessLogger,
            access_log=logging.getLogger("microgw.access") if settings.access_log else None,
            keepalive_timeout=srv.idle_timeout,
            max_line_size=srv.max_header_size,
            max_field_size=srv.max_header_size,
            max_headers=srv.max_headers,
            auto_decompress=False,
        )
        await self._runner.setup()
        for scheme, port, context in (("http", srv.http_port, None), ("https", srv.https_port, https_context)):
            if port is None:
                continue
            site = web.TCPSite(self._runner, srv.host, port, ssl_context=context, backlog=1024, reuse_address=True)
            await site.start()
            for sock in site._server.sockets:  # type: ignore[union-attr]
                host, bound = sock.getsockname()[:2]
                url = f"{scheme}://{host}:{bound}"
                self.listener_urls.append(url)
                log.info("listening on %s", url)
        if self.sync is not None:
            self.sync.start_polling()

    def _retire_later(self, previous: Runtime, successor: Runtime, delay: float) -> None:
        async def retire() -> None:
            await asyncio.sleep(delay)
            await previous.close(successor)

        task = asyncio.ensure_future(retire())
        self._retiring[task] = previous
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish (bounded by shutdown_grace), then close."""
        if self.sync is not None:
            await self.sync.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        for task, previous in list(self._retiring.items()):  # nothing runs on replaced runtimes any more
            task.cancel()
            await previous.close(self._runtime)
        if self._runtime is not None:
            await self._runtime.close()

    async def reload(self) -> bool:
        """Re-read the configuration files; on any problem keep serving the current runtime."""
        async with self._reload_lock:
            try:
                loaded, runtime = await self._build(self._downloaded, reread=True)
            except ConfigError as exc:
                log.error("reload refused, keeping the current settings:\n%s", exc)
                return False
            await self._swap(loaded, runtime)
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
        if previous is not None:
            # requests still running on the previous runtime keep its parts until they finish
            self._retire_later(previous, runtime, max(old.shutdown_grace, 1.0))

    # --- request path ------------------------------------------------------------------------

    async def handle_gateway(self, request: web.Request) -> web.StreamResponse:
        runtime = self.runtime
        route = None
        try:
            url = request.rel_url  # the origin form, also for absolute-form request targets (RFC 9112 §3.2.2)
            name, version, resource, query = split_gateway_path(url.raw_path, url.raw_query_string)
            route = runtime.routes.get((name, version))
            if route is None:
                raise not_found("No API matches this path")
            ctx = RequestContext(request, route, resource, query, "https" if request.secure else "http", request.remote or "")
            request["microgw"] = ctx
            for stage in route.stages:
                await stage.apply(ctx)
            if request.headers.get("Expect", "").lower() == "100-continue":
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # only once the policies passed
            if route.upstream is None:
                response = await mock.answer(ctx)
            else:
                response = await self.forwarder.forward(ctx)  # type: ignore[union-attr]
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
        return response

    async def handle_unknown(self, request: web.Request) -> web.Response:
        allowed = sorted(
            {route.method for resource in request.app.router.resources() if resource.get_info().get("path") == request.path for route in resource}
        )
        if allowed:
            return error_response(GatewayError(405, "method_not_allowed", f"Method {request.method} is not allowed", headers={"Allow": ", ".join(allowed)}))
        if request.path.startswith(admin.PREFIX + "/") or request.path.startswith("/rest/"):
            return error_response(GatewayError(404, "not_found", "No such endpoint"))
        return error_response(not_found())

    # --- hooks for other rooms ---------------------------------------------------------------

    def extra_routes(self) -> list[web.RouteDef]:
        """Built-in endpoints of other rooms (token issuing, JWKS); registered before /gateway/."""
        from microgw.endpoints import builtin_routes, parent

        return [*builtin_routes(self), *parent.routes(self)]

    def runtime_assets(self) -> dict[str, Any]:
        return {}


async def _defer_continue(request: web.Request) -> None:
    """Answer ``Expect: 100-continue`` only after the policies passed (handle_gateway does it), so a
    client that would be refused never sends its body."""


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Say who answers without naming the stack (native services keep their own Server header)."""
    if "microgw" in request or "Server" not in response.headers or response.headers["Server"].startswith("Python/"):
        response.headers["Server"] = "microgw"


async def serve(gateway: Gateway) -> int:
    """Run until SIGINT/SIGTERM; SIGHUP reloads. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(gateway.reload()))
    try:
        await gateway.start()
    except ConfigError as exc:
        log.error("cannot start:\n%s", exc)
        await gateway.stop()
        return 2
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        await gateway.stop()
        return 1
    log.info("microgw started with %d APIs", len(gateway.runtime.routes))
    await stop.wait()
    log.info("stopping: draining in-flight requests (at most %ss)", gateway.runtime.settings.server.shutdown_grace)
    await gateway.stop()
    log.info("stopped")
    return 0


def run(loaded: Loaded, **kwargs: Any) -> int:
    configure(loaded.settings.log_level)
    try:  # uvloop, when installed, roughly doubles what one process serves
        import uvloop

        return uvloop.run(serve(Gateway(loaded, **kwargs)))
    except ImportError:
        return asyncio.run(serve(Gateway(loaded, **kwargs)))
