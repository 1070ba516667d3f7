"""Transport stage: is this entry protocol (the vendor's entryProtocolPolicy) and method allowed?"""

from __future__ import annotations

from microgw.config.model import ApiConfig
from microgw.errors import GatewayError
from microgw.context import RequestContext


class TransportStage:
    __slots__ = ("protocols", "methods")

    def __init__(self, api: ApiConfig) -> None:
        self.protocols = api.protocols
        self.methods = api.methods

    async def apply(self, ctx: RequestContext) -> None:
        if ctx.protocol not in self.protocols:
            allowed = " or ".join(sorted(self.protocols)).upper()
            raise GatewayError(403, "protocol_not_allowed", f"This API is served over {allowed} only")
        if self.methods is not None and ctx.request.method not in self.methods:
            allow = ", ".join(sorted(self.methods))
            raise GatewayError(405, "method_not_allowed", f"Method {ctx.request.method} is not allowed", headers={"Allow": allow})
