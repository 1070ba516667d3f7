"""``loadBalancer``: the API's native service at several endpoints — round robin or failover, with
health marking (the vendor's Load Balancer Routing, template ``loadBalancerRouting``).

The pool is the API's ``endpoint`` followed by ``loadBalancer.endpoints``. Round robin sends each
request to the next endpoint of the pool; failover always to the first endpoint that is up. An
endpoint that cannot be connected to (refused, unreachable, connect timeout: nothing was sent) is
marked down for ``suspend`` seconds, and the request is tried on the next endpoint up — safe for any
method, since the failed endpoint never saw it. An endpoint that was connected to and then failed
(reset, read timeout, a 5xx) is not retried: the request may have done its work there. When every
endpoint is down, the request is tried on the one whose suspension ends first (an endpoint that
comes back is found without waiting), and if that fails too the client gets 502.

Health marks live in this module, keyed by the endpoint's URL, so a reload keeps them; each worker
of a ``--workers`` group marks on its own.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.errors import EndpointUnreachable
from microgw.policies import durations
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import Invalid, VendorAction, VendorTemplate, first, values
from microgw.routing import UpstreamTarget

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services

log = logging.getLogger("microgw.routing")

STRATEGIES = ("round_robin", "failover")
_URL = {"type": "string", "pattern": "^https?://", "x-expected": "an http:// or https:// URL (aliases are not expanded here)"}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["endpoints"],
    "description": "More endpoints of the native service beside the API's endpoint: round robin or failover, endpoints that cannot be reached skipped for a while (the vendor's loadBalancerRouting).",
    "properties": {
        "endpoints": {"type": "array", "minItems": 1, "items": _URL, "description": "The other endpoints (each like the API's endpoint; ${sys:resource_path} allowed)."},
        "strategy": {"enum": list(STRATEGIES), "description": "round_robin (default): each request to the next endpoint; failover: to the first endpoint up."},
        "suspend": {**durations.DURATION_SCHEMA, "description": "How long an endpoint that could not be connected to is skipped (default 30s)."},
    },
}


@dataclass(frozen=True, slots=True)
class LoadBalancerConfig:
    endpoints: tuple[str, ...]
    strategy: str = "round_robin"
    suspend: float = 30.0


def parse(data: Mapping[str, Any]) -> LoadBalancerConfig:
    return LoadBalancerConfig(
        endpoints=tuple(data["endpoints"]),
        strategy=data.get("strategy", "round_robin"),
        suspend=durations.seconds(data.get("suspend", 30)),
    )


def check(config: LoadBalancerConfig, checks: PolicyChecks) -> None:
    for index, endpoint in enumerate(config.endpoints):
        try:
            UpstreamTarget.parse(endpoint)
        except ValueError as exc:
            checks.fail(["endpoints", index], str(exc))


_DOWN_UNTIL: dict[str, float] = {}
"""Endpoint origin URL (scheme://host:port/path prefix) -> monotonic time it is skipped until."""


def is_up(name: str, now: float) -> bool:
    until = _DOWN_UNTIL.get(name)
    if until is None:
        return True
    if until <= now:
        del _DOWN_UNTIL[name]
        return True
    return False


class LoadBalancer:
    __slots__ = ("targets", "names", "strategy", "suspend", "turn", "api")

    def __init__(self, api: ApiConfig, pool: tuple[UpstreamTarget, ...], config: LoadBalancerConfig) -> None:
        self.api = f"{api.name}/{api.version}"
        self.targets = pool
        self.names = tuple(t.prefix for t in self.targets)
        self.strategy = config.strategy
        self.suspend = config.suspend
        self.turn = itertools.count()

    def order(self, now: float) -> list[int]:
        """Indexes of the endpoints to try, in order: those up first (from the strategy's start),
        then those down, the soonest back first."""
        count = len(self.targets)
        start = next(self.turn) % count if self.strategy == "round_robin" else 0
        rotated = [(start + i) % count for i in range(count)]
        up = [i for i in rotated if is_up(self.names[i], now)]
        if up:
            return up
        return sorted(rotated, key=lambda i: _DOWN_UNTIL.get(self.names[i], 0.0))[:1]

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        if ctx.upstream is not None:  # a policy listed earlier chose the endpoint (conditional routing)
            return await send(ctx)
        failure: EndpointUnreachable | None = None
        for index in self.order(time.monotonic()):
            ctx.upstream = self.targets[index]
            try:
                return await send(ctx)
            except EndpointUnreachable as exc:
                failure = exc
                name = self.names[index]
                if name not in _DOWN_UNTIL:
                    log.warning("endpoint %s of %s marked down for %ss: it cannot be reached", _origin(name), self.api, durations.text(self.suspend))
                _DOWN_UNTIL[name] = time.monotonic() + self.suspend
        assert failure is not None
        raise failure


def targets(api: ApiConfig, endpoints, services: "Services") -> tuple[UpstreamTarget, ...]:
    """Endpoints as targets with the API's TLS choice for each (an https endpoint in a pool whose API
    endpoint is http is verified against the trust store like any other)."""
    found = []
    for endpoint in endpoints:
        target = UpstreamTarget.parse(endpoint, append_resource=api.append_resource)
        if target.prefix.startswith("https:"):
            target = replace(target, tls=services.client_ssl if api.tls_verify else False)
        found.append(target)
    return tuple(found)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"


def build(api: ApiConfig, config: LoadBalancerConfig, services: "Services") -> Staged:
    pool = tuple(dict.fromkeys(((api.endpoint,) if api.endpoint else ()) + config.endpoints))
    return [("exchange", LoadBalancer(api, targets(api, pool, services), config))]


# --- the vendor's template ---------------------------------------------------------------------

def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``loadBalancerRouting``: the endpoints as ``endpoints`` groups (each with ``endpointUri``) or
    as ``endpointUri`` values; ``suspendInterval`` (seconds). The first endpoint becomes the API's
    ``endpoint``, the others ``loadBalancer.endpoints``; the vendor balances round robin."""
    uris = [u.strip() for group in action.groups("endpoints") for u in values(group, "endpointUri") if u.strip()]
    uris += [u.strip() for u in action.values("endpointUri") if u.strip()]
    uris = list(dict.fromkeys(uris))
    if len(uris) < 2:
        raise Invalid("needs at least two endpoints (endpointUri)")
    action.fields["endpoint"] = uris[0]
    out: dict[str, Any] = {"endpoints": uris[1:]}
    suspend = (action.first("suspendInterval") or "").strip()
    if suspend:
        try:
            out["suspend"] = durations.text(durations.seconds(suspend))
        except ValueError:
            raise Invalid(f"suspendInterval {suspend!r} is not a number of seconds") from None
    for group in action.groups("endpoints"):
        for key in ("connectTimeout", "readTimeout"):
            if first(group, key):
                action.warn(f"{key} of one endpoint is not used: the API's timeouts apply to every endpoint")
                break
    return out


VENDOR = VendorTemplate(
    template="loadBalancerRouting",
    stage="routing",
    parameters=frozenset({"endpoints", "endpointUri", "suspendInterval", "method"}),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="loadBalancer", schema=SCHEMA, parse=parse, build=build, check=check, vendor=(VENDOR,))
