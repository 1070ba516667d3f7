"""A policy pipeline: the stages of one API, in the fixed stage order of the architecture.

Each policy module registers a builder under its configuration name. Builders run once, when a
runtime is built, and return small stage objects whose ``apply`` runs per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from microgw.config.model import ApiConfig
from microgw.policies.context import RequestContext

STAGE_ORDER = ("transport", "credentials", "authenticate", "identify", "authorize", "outbound")


class Stage(Protocol):
    async def apply(self, ctx: RequestContext) -> None: ...


Builder = Callable[[ApiConfig, Any, Any], "list[tuple[str, Stage]]"]
"""(api, its policy config, runtime services) -> [(stage name, stage)]."""


@dataclass(frozen=True)
class PolicyType:
    name: str
    builder: Builder


_REGISTRY: dict[str, PolicyType] = {}


def register(name: str):
    """Decorator: make a policy builder known under its configuration key."""

    def wrap(builder: Builder) -> Builder:
        _REGISTRY[name] = PolicyType(name, builder)
        return builder

    return wrap


def build_pipeline(api: ApiConfig, services: Any, always: list[tuple[str, Stage]]) -> tuple[Stage, ...]:
    """All stages of an API sorted by stage order (stable for stages of the same kind)."""
    staged: list[tuple[str, Stage]] = list(always)
    for name, config in api.policies.items():
        policy = _REGISTRY.get(name)
        if policy is None:  # the schema lists every policy; this guards a schema/code mismatch
            raise ValueError(f"policy {name!r} is not implemented")
        staged.extend(policy.builder(api, config, services))
    staged.sort(key=lambda item: STAGE_ORDER.index(item[0]))
    return tuple(stage for _, stage in staged)
