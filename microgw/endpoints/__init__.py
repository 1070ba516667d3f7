"""Built-in HTTP endpoints: admin (status, assets, settings, metrics, probes), token issuing, JWKS,
RFC 7662 introspection of the gateway's own tokens, and the parent API served to child gateways. They see the gateway only as a :class:`GatewayHost`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.host import GatewayHost


def builtin_routes(gateway: "GatewayHost") -> "list[web.RouteDef]":
    """Routes of every built-in endpoint.

    The server registers them before ``/gateway/{tail}``, so ``/gateway/security/getJsonWebToken``
    is ours whatever APIs are configured.
    """
    from microgw.endpoints import admin, introspect, parent, tokens

    return [*admin.routes(gateway), *tokens.routes(gateway), *introspect.routes(gateway), *parent.routes(gateway)]
