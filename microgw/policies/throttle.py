"""``throttle``: at most N requests per interval — per API, per application or per client address
(the vendor's Traffic Optimization, template ``throttle``).

Counting is a fixed window per counter key: the window opens with the key's first request and lasts
``per`` seconds; the request that would make the count exceed the limit gets 429 with
``Retry-After`` (seconds until the window closes) and is not counted. Every answer of a throttled API
carries ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` of the tightest limit.

Exact under concurrency: the check and the count happen in one step on the event loop, with no
``await`` between them, so N concurrent requests can never all pass a limit of N-1.

Counters live in this module, keyed by the API and the limit, so a reload (which rebuilds the
stages) keeps them; a changed limit starts afresh. In a ``--workers N`` group each worker counts on
its own and allows ``floor(limit / N)`` (at least 1): the group never lets more than the limit
through (a client whose connections all land on one worker is refused earlier), and no worker waits
on another. ``ceil`` would let up to N-1 more through; only a limit below N can be exceeded (each
worker still allows one).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.policies import durations
from microgw.policies.unit import Policy, Staged
from microgw.policies.vendor import Invalid, Unsupported, VendorAction, VendorTemplate, first
from microgw.workers import WorkerRole

if TYPE_CHECKING:
    from microgw.services import Services

BY = ("api", "application", "client")
ANONYMOUS = "-"  # the counter of requests no application was identified for (by: application)
SWEEP_AT = 10_000  # keys per limit before closed windows are swept out

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["limits"],
    "description": "At most N requests per interval, per API, application or client address (the vendor's throttle / Traffic Optimization).",
    "properties": {
        "limits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["requests", "per"],
                "properties": {
                    "requests": {"type": "integer", "minimum": 1, "description": "Requests allowed in one interval."},
                    "per": durations.DURATION_SCHEMA,
                    "by": {"enum": list(BY), "description": "One counter for the API (default), one per application, or one per client address."},
                },
            },
        },
        "applications": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": "Only requests of these applications are counted (the vendor's consumerIds); default all.",
        },
    },
}


@dataclass(frozen=True, slots=True)
class Limit:
    requests: int
    per: float  # seconds
    by: str = "api"


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    limits: tuple[Limit, ...]
    applications: tuple[str, ...] = ()  # empty: every request counts


def parse(data: Mapping[str, Any]) -> ThrottleConfig:
    return ThrottleConfig(
        limits=tuple(Limit(int(item["requests"]), durations.seconds(item["per"]), item.get("by", "api")) for item in data["limits"]),
        applications=tuple(data.get("applications", ())),
    )


def check(config: ThrottleConfig, checks: PolicyChecks) -> None:
    for index, app in enumerate(config.applications):
        if app not in checks.application_ids:
            checks.fail_unknown(["applications", index], f"no application has the id {app!r}")
    if (config.applications or any(limit.by == "application" for limit in config.limits)) and "identify" not in checks.policies:
        checks.fail(["limits"], "counting by application needs the identify policy on this API (nothing identifies the caller)")


class Counter:
    """Fixed windows by key: ``key -> [window end, count]``."""

    __slots__ = ("limit", "allowed", "windows")

    def __init__(self, limit: Limit, allowed: int) -> None:
        self.limit = limit
        self.allowed = allowed
        self.windows: dict[str, list] = {}

    def take(self, key: str, now: float) -> tuple[bool, int, float]:
        """Count one request for ``key``: (allowed, remaining, seconds until the window closes)."""
        window = self.windows.get(key)
        if window is None or window[0] <= now:
            if window is None and len(self.windows) >= SWEEP_AT:
                self._sweep(now)
            window = [now + self.limit.per, 0]
            self.windows[key] = window
        if window[1] >= self.allowed:
            return False, 0, window[0] - now
        window[1] += 1
        return True, self.allowed - window[1], window[0] - now

    def _sweep(self, now: float) -> None:
        for key in [k for k, w in self.windows.items() if w[0] <= now]:
            del self.windows[key]


_COUNTERS: dict[tuple, Counter] = {}
"""Counters by (API name, version, limit index, limit, share): kept across reloads of the same limit."""


def _counter(api: ApiConfig, index: int, limit: Limit, workers: int) -> Counter:
    allowed = max(1, limit.requests // workers)
    key = (api.name, api.version, index, limit, allowed)
    found = _COUNTERS.get(key)
    if found is None:
        for stale in [k for k in _COUNTERS if k[:3] == key[:3]]:  # the limit changed: the old counts go
            del _COUNTERS[stale]
        found = _COUNTERS[key] = Counter(limit, allowed)
    return found


class ThrottleStage:
    __slots__ = ("counters", "applications")

    def __init__(self, counters: tuple[Counter, ...], applications: frozenset[str]) -> None:
        self.counters = counters
        self.applications = applications

    async def apply(self, ctx: RequestContext) -> None:
        app = getattr(ctx.application, "id", None)
        if self.applications and app not in self.applications:
            return
        now = time.monotonic()
        tightest: tuple[int, float, int] | None = None  # (remaining, reset, allowed)
        taken: list[tuple[Counter, str]] = []
        for counter in self.counters:  # no await in this loop: check and count are one step
            by = counter.limit.by
            key = "" if by == "api" else (app or ANONYMOUS) if by == "application" else ctx.client_ip
            ok, remaining, reset = counter.take(key, now)
            if not ok:
                for earlier, earlier_key in taken:  # a refused request uses none of the other limits
                    earlier.windows[earlier_key][1] -= 1
                retry = max(1, math.ceil(reset))
                raise GatewayError(
                    429, "rate_limited", f"Too many requests: at most {counter.allowed} per {durations.text(counter.limit.per)}; retry in {retry} s",
                    headers={
                        "Retry-After": str(retry),
                        "RateLimit-Limit": str(counter.allowed),
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(retry),
                    },
                )
            taken.append((counter, key))
            if tightest is None or remaining < tightest[0]:
                tightest = (remaining, reset, counter.allowed)
        if tightest is not None:
            ctx.answer_headers.extend(
                (("RateLimit-Limit", str(tightest[2])), ("RateLimit-Remaining", str(tightest[0])), ("RateLimit-Reset", str(max(1, math.ceil(tightest[1])))))
            )


def build(api: ApiConfig, config: ThrottleConfig, services: "Services") -> Staged:
    role = WorkerRole.from_environ()
    workers = role.count if role is not None else 1
    counters = tuple(_counter(api, index, limit, workers) for index, limit in enumerate(config.limits))
    return [("authorize", ThrottleStage(counters, frozenset(config.applications)))]


# --- the vendor's template ---------------------------------------------------------------------

ALL_CONSUMERS = frozenset({"allconsumers", "all", "*", ""})


def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``throttle``: ``throttleRule {throttleRuleName requestCount, monitorRuleOperator GT, value}``,
    ``alertInterval`` + ``alertIntervalUnit`` (the counting interval), ``consumerSpecificCounter``
    (one counter per application), ``consumerIds`` (whose requests count). Alerts (``alertFrequency``,
    ``alertMessage``, ``destination``) are not sent: microgw logs and counts refusals instead."""
    rules = action.groups("throttleRule") or [action.parameters]
    if len(rules) != 1:
        raise Unsupported("more than one throttleRule")
    rule = rules[0]
    name = (first(rule, "throttleRuleName") or "requestCount").strip()
    if name.lower() != "requestcount":
        raise Unsupported(f"throttleRuleName {name!r} (only requestCount)")
    operator = (first(rule, "monitorRuleOperator") or "GT").strip().upper()
    if operator not in ("GT", "GREATERTHAN", "GREATER_THAN"):
        raise Unsupported(f"monitorRuleOperator {operator!r} (only GT: the limit is the most requests allowed)")
    value = (first(rule, "value") or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise Invalid("needs a throttleRule value: a whole number of requests, at least 1")
    interval = (action.first("alertInterval") or "1").strip()
    unit = (action.first("alertIntervalUnit") or "minutes").strip().lower()
    if not interval.isdigit() or int(interval) < 1:
        raise Invalid(f"alertInterval must be a whole number of at least 1, not {interval!r}")
    if unit not in durations.UNIT_NAMES:
        raise Invalid(f"alertIntervalUnit {unit!r} is not one of {', '.join(sorted(set(durations.UNIT_NAMES) - {'sec', 'secs', 'min', 'mins'}))}")
    per = int(interval) * durations.UNIT_NAMES[unit]
    specific = (action.first("consumerSpecificCounter") or "false").strip().lower() == "true"
    limit: dict[str, Any] = {"requests": int(value), "per": durations.text(per)}
    if specific:
        limit["by"] = "application"
    out: dict[str, Any] = {"limits": [limit]}
    consumers = [c.strip() for c in action.values("consumerIds") if c.strip().lower() not in ALL_CONSUMERS]
    if consumers:
        out["applications"] = consumers
    if action.first("destination") or action.groups("destination") or action.first("alertMessage"):
        action.warn("alerts (destination, alertMessage, alertFrequency) are not sent; refusals are counted in /metrics as rate_limited")
    return out


VENDOR = VendorTemplate(
    template="throttle",
    stage="LMT",
    parameters=frozenset({
        "throttleRule", "throttleRuleName", "monitorRuleOperator", "value", "consumerIds", "consumerSpecificCounter",
        "alertInterval", "alertIntervalUnit", "alertFrequency", "alertMessage", "destination",
    }),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="throttle", schema=SCHEMA, parse=parse, build=build, check=check, vendor=(VENDOR,))
