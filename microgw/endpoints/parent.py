"""microgw as a parent gateway: its loaded settings, read-only, in the central gateway's REST shapes.

``GET /rest/apigateway/{alias,applications,strategies,apis,archive}`` — the subset a child needs
(see README). Basic auth of the admin user is required: these answers hold API keys and secrets,
so without ``admin`` configured they are refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from microgw.config.loader import expand_aliases
from microgw.endpoints.admin import guard
from microgw.errors import bad_request
from microgw.responses import json_response
from microgw.sync import vendor

if TYPE_CHECKING:
    from microgw.host import GatewayHost

PREFIX = "/rest/apigateway"

log = logging.getLogger("microgw.sync")


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def routes(gateway: "GatewayHost") -> list[web.RouteDef]:
    def guarded(handler):
        return guard(gateway, handler, needs_admin="Serving settings to child gateways needs admin credentials (admin.user, admin.password)")

    def raw():
        return gateway.runtime.settings.raw

    def own_issuer():
        issuer = gateway.runtime.settings.issuer
        return issuer.issuer if issuer else None

    told: set[tuple[str, str]] = set()  # withheld auth servers already logged

    async def alias(request: web.Request) -> web.Response:
        withheld: list[tuple[str, str]] = []
        served = vendor.served_aliases(raw(), own_issuer(), _base_url(request), withheld)
        for server_id, why in withheld:
            if (server_id, why) not in told:
                told.add((server_id, why))
                log.warning("auth server %r is not served to child gateways: %s, and a child can only fetch keys", server_id, why)
        return json_response({"alias": served})

    async def applications(request: web.Request) -> web.Response:
        items = raw().get("applications") or []
        return json_response({"applications": [vendor.application_to_vendor(item) for item in items]})

    async def strategies(request: web.Request) -> web.Response:
        return json_response({"strategies": vendor.served_strategies(raw().get("applications") or [])})

    def served_apis() -> tuple[list[dict], dict]:
        """The configured APIs with aliases expanded (children may not have them), and their ids."""
        items = []
        for item in raw().get("apis") or []:
            item = dict(item)
            if "endpoint" in item:
                item["endpoint"] = expand_aliases(item["endpoint"], raw().get("aliases") or {})
            items.append(item)
        ids = {(route.api.name, route.api.version): route.api.id for route in gateway.runtime.routes.values()}
        return items, ids

    exports: dict = {"runtime": None}

    async def exportable() -> tuple[list[dict], dict, dict[str, str]]:
        """The APIs a child can get whole, their ids, and why the others are withheld (by id).

        Each API is exported and read back once per runtime (see ``build_archive``): one whose
        export would reach a child weaker than it is here (a policy or file that cannot travel) is
        not offered at all, and the log says why, so no child ever enforces less than its parent.
        """
        from microgw.sync.archive import ArchiveError, api_id, build_archive, version_text

        def check(items: list[dict], ids: dict) -> tuple[list[dict], dict[str, str]]:
            offered, withheld = [], {}
            for item in items:
                key = (str(item["name"]), version_text(item["version"]))
                try:
                    build_archive([item], ids=ids)
                except ArchiveError as exc:
                    withheld[ids.get(key) or api_id(*key)] = str(exc)
                    continue
                offered.append(item)
            return offered, withheld

        runtime = gateway.runtime
        if exports["runtime"] is not runtime:
            items, ids = served_apis()
            offered, withheld = await asyncio.to_thread(check, items, ids)  # files read, archives parsed
            for reason in withheld.values():
                log.warning("an API is not served to child gateways: %s", reason)
            exports.update(runtime=runtime, offered=offered, ids=ids, withheld=withheld)
        return exports["offered"], exports["ids"], exports["withheld"]

    async def apis(request: web.Request) -> web.Response:
        from microgw.sync.archive import api_list

        items, ids, _ = await exportable()
        return json_response(api_list(items, ids))

    async def archive(request: web.Request) -> web.Response:
        from microgw.sync.archive import ArchiveError, build_archive, select_apis

        wanted = request.query.getall("apis", [])
        if not wanted:
            raise bad_request("Name the APIs to export: ?apis=<id>[,<id>] or ?apis=*")
        items, ids, withheld = await exportable()
        named = [part.strip() for item in wanted for part in item.split(",")]
        refused = [f"{ident}: {withheld[ident]}" for ident in dict.fromkeys(named) if ident in withheld]
        if refused:
            raise bad_request("Not exported (a child would enforce less than this gateway): " + "; ".join(refused))
        try:
            chosen = select_apis(items, wanted, ids)
            body = build_archive(chosen, ids=ids, verify=False)  # each was verified by exportable()
        except ArchiveError as exc:
            raise bad_request(str(exc)) from None
        return web.Response(
            body=body,
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
