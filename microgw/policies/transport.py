"""Transport stage: is this entry protocol (the vendor's entryProtocolPolicy) and method allowed?

Many frameworks take the method from ``X-HTTP-Method-Override`` (and its cousins) instead of the
request line: a ``POST`` carrying ``X-HTTP-Method-Override: DELETE`` is a DELETE to them. With a
``methods`` restriction such a header must name an allowed method too, or the request is refused;
on an API with scopes (chosen by the request line's method) it may not name another method at all.
"""

from __future__ import annotations

from microgw.config.model import ApiConfig
from microgw.errors import GatewayError
from microgw.context import RequestContext

OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
ALL_PROTOCOLS = frozenset({"http", "https"})


def transport_stages(api: ApiConfig, *, scoped: bool | None = None) -> list:
    """The pipeline's first stage, as ``[("transport", stage)]``, or nothing when it could refuse
    nothing (both protocols, every method, no scopes): a stage that always passes still costs a
    coroutine per request."""
    stage = TransportStage(api, scoped=scoped)
    return [("transport", stage)] if stage.refuses_anything() else []


class TransportStage:
    __slots__ = ("protocols", "methods", "scoped")

    def __init__(self, api: ApiConfig, *, scoped: bool | None = None) -> None:
        self.protocols = api.protocols
        self.methods = api.methods
        # scopes choose their pipeline by the request line's method (a scope's own pipeline says scoped=True)
        self.scoped = "scopes" in api.policies if scoped is None else scoped

    def refuses_anything(self) -> bool:
        return not ALL_PROTOCOLS <= self.protocols or self.methods is not None or self.scoped

    async def apply(self, ctx: RequestContext) -> None:
        if ctx.protocol not in self.protocols:
            allowed = " or ".join(sorted(self.protocols)).upper()
            raise GatewayError(403, "protocol_not_allowed", f"This API is served over {allowed} only")
        if self.methods is not None and ctx.request.method not in self.methods:
            allow = ", ".join(sorted(self.methods))
            raise GatewayError(405, "method_not_allowed", f"Method {ctx.request.method} is not allowed", headers={"Allow": allow})
        if self.methods is not None or self.scoped:
            headers = ctx.request.headers
            for name in OVERRIDE_HEADERS:
                for value in headers.getall(name, ()):
                    method = value.strip().upper()
                    if self.scoped and method != ctx.request.method:
                        raise GatewayError(
                            400, "method_override_not_allowed",
                            f"{name} may not name another method here: this API's scopes follow the request's method",
                        )
                    if self.methods is not None and method not in self.methods:
                        allow = ", ".join(sorted(self.methods))
                        raise GatewayError(405, "method_not_allowed", f"{name} names a method that is not allowed", headers={"Allow": allow})
