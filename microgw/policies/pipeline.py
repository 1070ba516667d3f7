"""An API's policy pipeline: the stages its policies build, in the fixed stage order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from microgw.config.model import ApiConfig
from microgw.policies.registry import CATALOG
from microgw.policies.unit import STAGE_ORDER, Stage, Staged

if TYPE_CHECKING:
    from microgw.services import Services


def build_pipeline(api: ApiConfig, services: "Services", always: Staged) -> tuple[Stage, ...]:
    """All stages of an API sorted by stage order (stable for stages of the same step)."""
    staged: Staged = list(always)
    for name, config in api.policies.items():
        staged.extend(CATALOG[name].build(api, config, services))
    staged.sort(key=lambda item: STAGE_ORDER.index(item[0]))
    return tuple(stage for _, stage in staged)
