"""Every policy microgw knows, in one explicit list: adding a policy is one module and one line here.

The catalog is handed to the configuration loader (which parses and cross-checks each API's
policies with it) and to the pipeline builder. :func:`published_schema` composes the policies' own
schema fragments into ``schemas/policies.schema.json``, the file editors and the loader read;
``python -m microgw.policies.registry`` writes it, and a test keeps the two in step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from microgw.policies import (
    api_spec,
    conditional_routing,
    cors,
    identify,
    jwt,
    load_balancer,
    log_invocation,
    media_type,
    oauth2,
    outbound,
    request_masking,
    request_transformation,
    response_cache,
    response_masking,
    response_transformation,
    scopes,
    throttle,
)
from microgw.policies.unit import STAGE_ORDER, Policy
from microgw.policies.vendor import VendorTemplate

POLICIES: tuple[Policy, ...] = (
    jwt.POLICY,
    oauth2.POLICY,
    identify.POLICY,
    outbound.POLICY,
    cors.POLICY,
    scopes.POLICY,
    request_masking.POLICY,
    response_masking.POLICY,
    request_transformation.POLICY,
    response_transformation.POLICY,
    media_type.POLICY,
    api_spec.POLICY,
    throttle.POLICY,
    response_cache.POLICY,
    load_balancer.POLICY,
    conditional_routing.POLICY,
    log_invocation.POLICY,
)

CATALOG: Mapping[str, Policy] = MappingProxyType({policy.name: policy for policy in POLICIES})

VENDOR_TEMPLATES: Mapping[str, tuple[Policy, VendorTemplate]] = MappingProxyType(
    {template.template: (policy, template) for policy in POLICIES for template in policy.vendor}
)
"""Vendor archive template key -> the policy that imports it (the archive importer reads this)."""


def published_schema() -> dict[str, Any]:
    """The JSON Schema of an API's ``policies`` mapping, composed from the policies' fragments."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://schemas.microgw.dev/policies.schema.json",
        "title": f"The policies of one API, by name; they run in a fixed stage order ({', '.join(STAGE_ORDER)})",
        "description": "Generated from microgw/policies/*.py by `python -m microgw.policies.registry`; do not edit.",
        "type": "object",
        "additionalProperties": False,
        "properties": {policy.name: policy.schema for policy in POLICIES},
    }


def schema_text() -> str:
    return json.dumps(published_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # regenerate the published schema
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "schemas" / "policies.schema.json"
    target.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {target}")
