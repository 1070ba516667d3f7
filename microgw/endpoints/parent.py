"""microgw as a parent gateway: its loaded settings, read-only, in the central gateway's REST shapes.

``GET /rest/apigateway/{alias,applications,strategies,apis,archive}`` — the subset a child needs
(see README). Basic auth of the admin user is required: these answers hold API keys and secrets,
so without ``admin`` configured they are refused. Each answer is built once per runtime and served
with a strong ETag (304 on ``If-None-Match``), gzip when asked, and the whole-settings tag that lets
a microgw child see an unchanged parent in one request (:mod:`microgw.sync.served`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from microgw import __version__
from microgw.config.loader import expand_aliases
from microgw.endpoints.admin import guard
from microgw.errors import bad_request
from microgw.keys.publish import jwks_document
from microgw.sync import vendor
from microgw.sync.served import SETTINGS_HEADER, Answer, Served, ServedCache, json_answer, settings_tag

if TYPE_CHECKING:
    from microgw.host import GatewayHost

PREFIX = "/rest/apigateway"

log = logging.getLogger("microgw.sync")


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def respond(request: web.Request, answer: Answer, tag: str, extra: dict[str, str] | None = None) -> web.Response:
    """The answer, or 304 when the child has it; gzip when the child accepts it."""
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "private, no-cache", SETTINGS_HEADER: tag, **(extra or {})}
    gzipped = answer.wants_gzip(request.headers.get("Accept-Encoding", ""))
    headers["ETag"] = answer.gzip_etag if gzipped else answer.etag
    if answer.matches(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=answer.gzipped(), content_type=answer.content_type, headers=headers)
    return web.Response(body=answer.body, content_type=answer.content_type, headers=headers)


def routes(gateway: "GatewayHost") -> list[web.RouteDef]:
    def guarded(handler):
        return guard(gateway, handler, needs_admin="Serving settings to child gateways needs admin credentials (admin.user, admin.password)")

    cache = ServedCache()

    def raw():
        return gateway.runtime.settings.raw

    def own_issuer():
        issuer = gateway.runtime.settings.issuer
        return issuer.issuer if issuer else None

    def ids() -> dict:
        return {(route.api.name, route.api.version): route.api.id for route in gateway.runtime.routes.values()}

    def inputs() -> list:
        """Everything the answers are made of (see :mod:`microgw.sync.served`)."""
        settings = raw()
        return [
            __version__, own_issuer(), sorted([list(key), value] for key, value in ids().items()),
            {name: settings.get(name) for name in ("apis", "aliases", "applications", "security_settings")},
        ]

    def current(request: web.Request) -> tuple[Served, str]:
        """This runtime's answers for the request's base URL, and the whole-settings tag."""
        runtime = gateway.runtime
        served = cache.served(runtime, _base_url(request), inputs)
        keyring = runtime.services.keyring() if runtime.services.keyring is not None else None
        return served, settings_tag(served.inputs_tag, cache.jwks_tag(keyring, lambda: jwks_document(keyring)))

    told: set[tuple[str, str]] = set()  # withheld auth servers already logged

    async def alias(request: web.Request) -> web.Response:
        served, tag = current(request)

        def build() -> Answer:
            withheld: list[tuple[str, str]] = []
            answer = json_answer({"alias": vendor.served_aliases(raw(), own_issuer(), _base_url(request), withheld)})
            for server_id, why in withheld:
                if (server_id, why) not in told:
                    told.add((server_id, why))
                    log.warning("auth server %r is not served to child gateways: %s, and a child can only fetch keys", server_id, why)
            return answer

        return respond(request, served.get("alias", build), tag)

    async def applications(request: web.Request) -> web.Response:
        served, tag = current(request)
        build = lambda: json_answer({"applications": [vendor.application_to_vendor(item) for item in raw().get("applications") or []]})  # noqa: E731
        return respond(request, served.get("applications", build), tag)

    async def strategies(request: web.Request) -> web.Response:
        served, tag = current(request)
        build = lambda: json_answer({"strategies": vendor.served_strategies(raw().get("applications") or [])})  # noqa: E731
        return respond(request, served.get("strategies", build), tag)

    def served_apis() -> list[dict]:
        """The configured APIs with aliases expanded (children may not have them)."""
        items = []
        for item in raw().get("apis") or []:
            item = dict(item)
            if "endpoint" in item:
                item["endpoint"] = expand_aliases(item["endpoint"], raw().get("aliases") or {})
            items.append(item)
        return items

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
            items, known = served_apis(), ids()
            offered, withheld = await asyncio.to_thread(check, items, known)  # files read, archives parsed
            for reason in withheld.values():
                log.warning("an API is not served to child gateways: %s", reason)
            exports.update(runtime=runtime, offered=offered, ids=known, withheld=withheld)
        return exports["offered"], exports["ids"], exports["withheld"]

    async def apis(request: web.Request) -> web.Response:
        from microgw.sync.archive import api_list

        served, tag = current(request)
        items, known, _ = await exportable()
        return respond(request, served.get("apis", lambda: json_answer(api_list(items, known))), tag)

    async def archive(request: web.Request) -> web.Response:
        from microgw.sync.archive import ArchiveError, build_archive, select_apis

        wanted = request.query.getall("apis", [])
        if not wanted:
            raise bad_request("Name the APIs to export: ?apis=<id>[,<id>] or ?apis=*")
        items, known, withheld = await exportable()
        named = [part.strip() for item in wanted for part in item.split(",")]
        refused = [f"{ident}: {withheld[ident]}" for ident in dict.fromkeys(named) if ident in withheld]
        if refused:
            raise bad_request("Not exported (a child would enforce less than this gateway): " + "; ".join(refused))
        served, tag = current(request)

        def build() -> Answer:
            body = build_archive(select_apis(items, wanted, known), ids=known, verify=False)  # each was verified by exportable()
            return Answer(body, "application/zip", compressible=False)  # a zip is compressed already

        try:
            answer = served.archive(tuple(wanted), build)
        except ArchiveError as exc:
            raise bad_request(str(exc)) from None
        return respond(request, answer, tag, {"Content-Disposition": 'attachment; filename="archive.zip"'})

    return [
        web.get(f"{PREFIX}/alias", guarded(alias)),
        web.get(f"{PREFIX}/applications", guarded(applications)),
        web.get(f"{PREFIX}/strategies", guarded(strategies)),
        web.get(f"{PREFIX}/apis", guarded(apis)),
        web.get(f"{PREFIX}/archive", guarded(archive)),
    ]
