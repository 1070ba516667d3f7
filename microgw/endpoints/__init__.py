"""Built-in HTTP endpoints: admin (status, assets, settings, metrics, probes), token issuing, JWKS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.server import Gateway


def builtin_routes(gateway: "Gateway") -> "list[web.RouteDef]":
    """Routes of the built-in endpoints other than admin: the token endpoints and the JWKS.

    The server registers them before ``/gateway/{tail}``, so ``/gateway/security/getJsonWebToken``
    is ours whatever APIs are configured.
    """
    from microgw.endpoints import tokens

    return tokens.routes(gateway)
