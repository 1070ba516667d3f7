"""A policy as one self-contained unit, after Oathkeeper's pipeline handlers.

A policy module defines one :class:`Policy`: its configuration's JSON Schema fragment, how that
configuration becomes a frozen config object, its cross-checks against the rest of the settings,
and a builder that turns the config into request stages against the runtime's services. Adding a
policy is one new module plus one line in :mod:`microgw.policies.registry`.

Builders run once per runtime; the stages they return are small objects whose ``apply`` runs per
request, in the fixed order of :data:`STAGE_ORDER` (``preflight`` comes before the API's protocol and
method checks: a CORS preflight is answered there). A policy that acts on the exchange with the
native service (the answer, a cache, the choice of endpoint) returns an :class:`Exchange` under the
step :data:`EXCHANGE`: it wraps the forward, after every request stage passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services

STAGE_ORDER = ("preflight", "transport", "authenticate", "identify", "authorize", "outbound")
EXCHANGE = "exchange"
"""The step of :class:`Exchange` stages: around the forward, in the order the API lists its policies."""


class Stage(Protocol):
    async def apply(self, ctx: RequestContext) -> None: ...


Send = Callable[[RequestContext], Awaitable["web.StreamResponse"]]
"""Forwards the request (or answers it from the mock) and returns the answer for the client."""


class Exchange(Protocol):
    """Wraps the forward: may answer without calling ``send`` (a cache hit), change ``ctx`` before it
    (``ctx.upstream``: another endpoint; ``ctx.want_answer()``: get the answer whole, as an unsent
    ``web.Response`` whose body, headers and status it may change; ``want_answer(when)`` only for
    answers whose content type ``when`` accepts, the others stream), or look at the answer after it."""

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse": ...


Staged = list[tuple[str, Any]]
"""Stages with the name of the step they run in: one of :data:`STAGE_ORDER` (a :class:`Stage`) or
:data:`EXCHANGE` (an :class:`Exchange`)."""


def _no_checks(config: Any, checks: PolicyChecks) -> None:
    return None


def _provides_nothing(config: Any) -> frozenset[str]:
    return frozenset()


Portable = Callable[[Any], Any]
"""Makes a nested ``policies`` mapping portable (what :attr:`Policy.portable` gets for policies it holds)."""


def _as_written(config: Any, nested: Portable) -> Any:
    return config


@dataclass(frozen=True)
class Policy:
    """One policy: the key it has under an API's ``policies``, and everything about it."""

    name: str
    schema: Mapping[str, Any]  # JSON Schema of its configuration, published in schemas/policies.schema.json
    parse: Callable[[Mapping[str, Any]], Any]  # schema-valid configuration -> frozen config object
    build: Callable[[ApiConfig, Any, "Services"], Staged]  # (api, config, services) -> stages
    check: Callable[[Any, PolicyChecks], None] = _no_checks
    provides: Callable[[Any], frozenset[str]] = _provides_nothing
    vendor: tuple[VendorTemplate, ...] = ()  # the vendor archive templates it imports
    # The YAML configuration as another gateway can use it (a parent exporting to its children):
    # files it names read and inlined, policies it holds made portable with ``nested``. Raises
    # ValueError when it cannot be (the API is then not exported: a child never enforces less).
    portable: Callable[[Any, Portable], Any] = _as_written
