"""The microgateway's own admin API (vendor paths) and Kubernetes probes.

``/rest/microgateway/{status,assets,settings,metrics}`` need Basic auth when ``admin`` is configured;
the probes ``/rest/microgateway/health`` (liveness) and ``/rest/microgateway/ready`` never do.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from microgw import __version__
from microgw.config.secrets import mask_secrets
from microgw.credentials import parse_basic
from microgw.errors import GatewayError, invalid_credentials
from microgw.responses import error_response, json_response

if TYPE_CHECKING:
    from microgw.host import GatewayHost

PREFIX = "/rest/microgateway"


async def check_admin(request: web.Request, gateway: "GatewayHost") -> None:
    admin = gateway.runtime.settings.admin
    if admin is None:
        return
    try:
        credentials = parse_basic(request.headers.get("Authorization"))
    except ValueError:
        credentials = None
    if credentials is None:
        raise GatewayError(401, "missing_credentials", "Admin credentials required", challenge="Basic")
    user, password = credentials
    # The admin directory bounds concurrent scrypt checks (a flood gets 503, never a stalled
    # thread pool) and spends the same time on unknown names.
    if not await gateway.runtime.services.admin_users.verify(user, password, client=request.remote or ""):
        raise invalid_credentials("Invalid admin credentials")


def degraded_reasons(gateway: "GatewayHost") -> list[str]:
    """Why the gateway serves but not as configured: one list for /ready and the metrics gauge."""
    reasons = gateway.runtime.degraded()
    parent = gateway.parent_status()
    if parent is not None and parent["state"] != "downloaded":
        reasons.append(f"parent: {parent['state']}")
    return reasons


LOOPBACK_ONLY = (
    "Settings and assets are shown only to clients on this host (loopback) unless admin credentials "
    "are configured (admin.user, admin.password)"
)


def is_loopback(request: web.Request) -> bool:
    """The client connected from this host (127.0.0.0/8, ::1, or ::ffff:127.x): the socket's peer,
    never a forwarded header."""
    try:
        address = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def guard(gateway: "GatewayHost", handler, *, needs_admin: str | None = None, private: bool = False):
    """Wrap an admin handler: Basic auth of the admin user when configured, errors as JSON.

    ``needs_admin`` refuses (403, that message) when no admin user is configured at all; ``private``
    views (settings, assets: what the gateway protects and where it goes) are then shown to loopback
    clients only — safe by default.
    """

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if needs_admin and gateway.runtime.settings.admin is None:
                raise GatewayError(403, "admin_required", needs_admin)
            if private and gateway.runtime.settings.admin is None and not is_loopback(request):
                raise GatewayError(403, "admin_required", LOOPBACK_ONLY)
            await check_admin(request, gateway)
            return await handler(request)
        except GatewayError as error:
            return error_response(error, realm="microgw-admin")

    return wrapped


def routes(gateway: "GatewayHost") -> list[web.RouteDef]:
    def guarded(handler, private: bool = False):
        return guard(gateway, handler, private=private)

    async def status(request: web.Request) -> web.Response:
        runtime = gateway.runtime
        ready, _ = runtime.readiness()
        return json_response(
            {
                "status": "running",
                "version": __version__,
                "uptime_seconds": round(time.time() - gateway.started_at, 3),
                "settings_loaded_at": runtime.built_at,
                "ready": ready,
                "apis": len(runtime.routes),
                "listeners": gateway.listener_urls,
                "requests": gateway.metrics.total(),
                "parent": mask_secrets(gateway.parent_status()),
                "worker": gateway.worker_status(),
            }
        )

    async def assets(request: web.Request) -> web.Response:
        """Every configured API; inactive ones are listed with ``active: false`` (they answer 404)."""
        apis = []
        for api in gateway.runtime.settings.apis:
            apis.append(
                {
                    "name": api.name,
                    "version": api.version,
                    "active": api.active,
                    "path": f"/gateway/{quote(api.name, safe='')}/{quote(api.version, safe='')}/",
                    "endpoint": api.endpoint,
                    "mocked": api.mock is not None,
                    "protocols": sorted(api.protocols),
                    "methods": sorted(api.methods) if api.methods else None,
                    "policies": sorted(api.policies),
                }
            )
        return json_response(mask_secrets({"apis": apis}))  # user info or keys in an endpoint URL

    async def settings(request: web.Request) -> web.Response:
        return json_response(mask_secrets(_plain(gateway.runtime.settings.raw)))

    async def metrics(request: web.Request) -> web.Response:
        text = gateway.metrics.render(gateway.runtime, degraded=bool(degraded_reasons(gateway)))
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def health(request: web.Request) -> web.Response:
        return json_response({"status": "up"})

    async def ready(request: web.Request) -> web.Response:
        is_ready, details = gateway.runtime.readiness()
        reasons = degraded_reasons(gateway)
        parent = gateway.parent_status()
        body = {"ready": is_ready, "degraded": bool(reasons), "reasons": reasons, "checks": details}
        if parent is not None:
            body["parent"] = parent
        return json_response(body, status=200 if is_ready else 503)

    async def reload(request: web.Request) -> web.Response:
        if await gateway.reload():
            return json_response({"reloaded": True, "apis": len(gateway.runtime.routes)})
        raise GatewayError(422, "reload_refused", "The configuration was refused; the current settings stay (see the log)")

    return [
        web.get(f"{PREFIX}/status", guarded(status)),
        web.get(f"{PREFIX}/assets", guarded(assets, private=True)),
        web.get(f"{PREFIX}/settings", guarded(settings, private=True)),
        web.get(f"{PREFIX}/metrics", guarded(metrics)),
        web.post(
            f"{PREFIX}/reload",
            guard(gateway, reload, needs_admin="Reloading over HTTP needs admin credentials (admin.user, admin.password); SIGHUP works without"),
        ),
        web.get(f"{PREFIX}/health", health),
        web.get(f"{PREFIX}/ready", ready),
    ]


def _plain(node):
    if hasattr(node, "items"):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node
