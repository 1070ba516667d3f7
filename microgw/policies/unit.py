"""A policy as one self-contained unit, after Oathkeeper's pipeline handlers.

A policy module defines one :class:`Policy`: its configuration's JSON Schema fragment, how that
configuration becomes a frozen config object, its cross-checks against the rest of the settings,
and a builder that turns the config into request stages against the runtime's services. Adding a
policy is one new module plus one line in :mod:`microgw.policies.registry`.

Builders run once per runtime; the stages they return are small objects whose ``apply`` runs per
request, in the fixed order of :data:`STAGE_ORDER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from microgw.services import Services

STAGE_ORDER = ("transport", "authenticate", "identify", "authorize", "outbound")


class Stage(Protocol):
    async def apply(self, ctx: RequestContext) -> None: ...


Staged = list[tuple[str, Stage]]
"""Stages with the name of the step they run in (one of :data:`STAGE_ORDER`)."""


def _no_checks(config: Any, checks: PolicyChecks) -> None:
    return None


def _provides_nothing(config: Any) -> frozenset[str]:
    return frozenset()


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
