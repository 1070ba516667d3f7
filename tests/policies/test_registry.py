"""Policies are self-contained units: their schema fragments, parsing and checks reach users as one."""

from __future__ import annotations

import pytest

from microgw.config.errors import ConfigError
from microgw.config.schema import schema_dir, validate
from microgw.policies.registry import CATALOG, POLICIES, schema_text
from support.configs import load_settings, problems, write


def test_published_policy_schema_is_composed_from_the_policy_modules():
    """schemas/policies.schema.json is what editors and the loader read; regenerate it with
    `python -m microgw.policies.registry` after changing a policy's SCHEMA."""
    published = (schema_dir() / "policies.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), "run: python -m microgw.policies.registry"


def test_every_policy_name_is_registered_once_and_listed_in_the_schema():
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)) == len(CATALOG)
    assert [p[-1] for p, _ in validate({"apis": [{"name": "a", "version": "1", "mock": {}, "policies": {"nope": {}}}]})] == ["nope"]  # reported at the unknown name itself


def test_a_policy_config_is_parsed_once_into_its_own_frozen_object(tmp_path):
    path = write(tmp_path, "c.yml", """
apis:
  - name: a
    version: '1'
    mock: {}
    policies:
      jwt: {required: false, token_from: {cookie: at}}
      outbound: {auth: INCOMING_JWT, remove_headers: [X-Secret]}
""")
    api = load_settings([path], environ={}).settings.apis[0]
    jwt, outbound = api.policies["jwt"], api.policies["outbound"]
    assert (jwt.required, jwt.location) == (False, ("cookie", "at"))
    assert (outbound.auth, outbound.remove_headers) == ("INCOMING_JWT", frozenset({"x-secret"}))
    with pytest.raises(AttributeError):
        jwt.required = True  # frozen: a runtime never changes under a request


@pytest.mark.parametrize(
    "policies, expected",
    [
        ("{outbound: {auth: INCOMING_JWT}}", "apis[0].policies.outbound.auth: INCOMING_JWT needs a jwt policy (or jwtClaims identification)"),
        ("{jwt: {auth_servers: [local, nope]}}", "apis[0].policies.jwt.auth_servers[1]: no auth server with id 'nope'"),
        ("{identify: {rules: [apiKey], default_application: ghost}}", "apis[0].policies.identify.default_application: no application with id 'ghost'"),
        ("{outbound: {auth: HTTP_BASIC}}", "apis[0].policies.outbound.auth: HTTP_BASIC needs basic: {user, password}"),
    ],
)
def test_each_policy_cross_checks_against_the_rest_of_the_settings(tmp_path, policies, expected):
    path = write(tmp_path, "c.yml", f"""
issuer: {{}}
state_dir: {tmp_path / 'state'}
apis:
  - name: a
    version: '1'
    mock: {{}}
    policies: {policies}
""")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    found = problems(exc)
    assert len(found) == 1 and expected in found[0] and "c.yml:8" in found[0]


def test_jwt_claims_identification_provides_the_token_that_incoming_jwt_forwards(tmp_path):
    path = write(tmp_path, "c.yml", """
apis:
  - name: a
    version: '1'
    mock: {}
    policies:
      identify: {rules: [jwtClaims], lookup: open}
      outbound: {auth: INCOMING_JWT}
""")
    api = load_settings([path], environ={}).settings.apis[0]
    assert api.policies["identify"].reads_token and api.policies["outbound"].auth == "INCOMING_JWT"
