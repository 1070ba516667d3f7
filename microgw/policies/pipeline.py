"""An API's policy pipeline: the stages its policies build, in the fixed stage order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from microgw.config.model import ApiConfig
from dataclasses import replace
from typing import Any, Callable

from microgw.policies import scopes
from microgw.policies.registry import CATALOG
from microgw.policies.unit import EXCHANGE, STAGE_ORDER, Exchange, Stage, Staged

if TYPE_CHECKING:
    from microgw.services import Services


def build_pipeline(api: ApiConfig, services: "Services", always: Staged) -> tuple[tuple[Stage, ...], tuple[Exchange, ...]]:
    """An API's request stages sorted by stage order (stable for stages of the same step), and its
    exchange stages, outermost first, in the order the API lists its policies."""
    staged: Staged = list(always)
    for name, config in api.policies.items():
        staged.extend(CATALOG[name].build(api, config, services))
    exchanges = tuple(stage for step, stage in staged if step == EXCHANGE)
    requests = sorted((item for item in staged if item[0] != EXCHANGE), key=lambda item: STAGE_ORDER.index(item[0]))
    return tuple(stage for _, stage in requests), exchanges


def build_scoped(api: ApiConfig, services: "Services", always: Callable[[ApiConfig], Staged]) -> Any:
    """The pipelines of the API's scopes (:class:`scopes.Scoped`), or None when it has none.

    Each scope runs the API's policies overridden and completed by its own; ``always`` gives the
    stages every pipeline starts with, for the API as the scope sees it."""
    config = api.policies.get(scopes.NAME)
    if not config:
        return None
    entries = []
    for scope in config:
        scoped_api = replace(api, policies=scopes.merged(api.policies, scope))
        stages, exchanges = build_pipeline(scoped_api, services, always(scoped_api))
        entries.append((scope, stages, exchanges))
    return scopes.Scoped(entries)
