"""microgw as a parent gateway: its loaded settings, read-only, in the central gateway's REST shapes.

``GET /rest/apigateway/{alias,applications,strategies,apis,archive}`` — the subset a child needs
(see README). Basic auth of the admin user is required: these answers hold API keys and secrets,
so without ``admin`` configured they are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from microgw.endpoints.admin import check_admin
from microgw.errors import GatewayError, bad_request
from microgw.responses import error_response, json_response
from microgw.sync import vendor

if TYPE_CHECKING:
    from microgw.server import Gateway

PREFIX = "/rest/apigateway"


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def routes(gateway: "Gateway") -> list[web.RouteDef]:
    def guarded(handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                if gateway.runtime.settings.admin is None:
                    raise GatewayError(403, "parent_disabled", "Serving settings to child gateways needs admin credentials (admin.user, admin.password)")
                await check_admin(request, gateway)
                return await handler(request)
            except GatewayError as error:
                return error_response(error, realm="microgw-admin")

        return wrapped

    def raw():
        return gateway.runtime.settings.raw

    def own_issuer():
        issuer = gateway.runtime.settings.issuer
        return issuer.issuer if issuer else None

    async def alias(request: web.Request) -> web.Response:
        return json_response({"alias": vendor.served_aliases(raw(), own_issuer(), _base_url(request))})

    async def applications(request: web.Request) -> web.Response:
        items = raw().get("applications") or []
        return json_response({"applications": [vendor.application_to_vendor(item) for item in items]})

    async def strategies(request: web.Request) -> web.Response:
        return json_response({"strategies": vendor.served_strategies(raw().get("applications") or [])})

    async def apis(request: web.Request) -> web.Response:
        from microgw.sync.archive import api_summary

        return json_response({"apiResponse": [{"api": api_summary(item)} for item in raw().get("apis") or []]})

    async def archive(request: web.Request) -> web.Response:
        from microgw.sync.archive import api_id, build_archive

        wanted = {i for part in request.query.getall("apis", []) for i in part.split(",") if i}
        if not wanted:
            raise bad_request("Name the APIs to export: ?apis=<id>[,<id>]")
        items = [item for item in raw().get("apis") or [] if api_id(item["name"], str(item["version"])) in wanted]
        missing = wanted - {api_id(item["name"], str(item["version"])) for item in items}
        if missing:
            raise GatewayError(404, "not_found", f"No API with id {sorted(missing)[0]!r}")
        return web.Response(
            body=build_archive(items),
            content_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="archive.zip"'},
        )

    return [
        web.get(f"{PREFIX}/alias", guarded(alias)),
        web.get(f"{PREFIX}/applications", guarded(applications)),
        web.get(f"{PREFIX}/strategies", guarded(strategies)),
        web.get(f"{PREFIX}/apis", guarded(apis)),
        web.get(f"{PREFIX}/archive", guarded(archive)),
    ]
