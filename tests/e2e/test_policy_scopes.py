"""Scopes end to end: a scope's policies override and add to the API's for its resources and
methods; the most specific matching scope wins; requests outside every scope run the API's."""

from __future__ import annotations

import pytest

from microgw.config.errors import ConfigError
from support.configs import load_settings, problems, write


async def test_most_specific_scope_wins(gateway, upstream, client):
    config = {
        "apis": [
            {
                "name": "films",
                "version": "1",
                "endpoint": f"{upstream.url}/echo",
                "policies": {
                    "jwt": {},
                    "scopes": [
                        {"name": "open", "resources": ["/public/**"], "policies": {"jwt": {"required": False}}},
                        {"name": "write", "resources": ["/public/{id}"], "methods": ["POST"], "policies": {"jwt": {"required": True}}},
                        {"name": "read-one", "resources": ["/films/{id}"], "methods": ["GET"],
                         "policies": {"jwt": {"required": False}, "outbound": {"remove_headers": ["X-Debug"]}}},
                    ],
                },
            }
        ]
    }
    gw = await gateway(config)
    base = f"{gw.http}/gateway/films/1"
    expected = [
        ("GET", "/public/1", 200),  # scope "open": the API's jwt overridden
        ("GET", "/public/a/b/c", 200),  # ** takes any rest
        ("POST", "/public/1", 401),  # "write" names the method: more specific than "open"
        ("GET", "/private", 401),  # no scope: the API's policies
        ("GET", "/films/7", 200),  # "read-one"
        ("DELETE", "/films/7", 401),  # not its method
        ("GET", "/films/7/extra", 401),  # {id} is one segment
    ]
    for method, path, status in expected:
        async with client.request(method, base + path, headers={"X-Debug": "1"}) as resp:
            assert resp.status == status, (method, path, await resp.text())
            if status == 200:
                seen = (await resp.json())["headers"]
                assert ("x-debug" in seen) == (path != "/films/7"), path  # the scope added outbound
    assert upstream.received[-1]["path_qs"] == "/echo/films/7"


def test_scope_policies_are_parsed_and_checked_where_they_stand(tmp_path):
    path = write(tmp_path, "c.yml", """
apis:
  - name: a
    version: '1'
    mock: {}
    policies:
      scopes:
        - {name: s, resources: ['/x'], policies: {outbound: {auth: INCOMING_JWT}}}
        - {name: t, resources: ['/y'], policies: {nope: {}}}
""")
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    found = "\n".join(problems(exc))
    assert "apis[0].policies.scopes[1].policies" in found and "nope" in found
    path.write_text(path.read_text().replace("        - {name: t, resources: ['/y'], policies: {nope: {}}}\n", ""))
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ={})
    assert "apis[0].policies.scopes[0].policies.outbound.auth: INCOMING_JWT needs a jwt policy" in "\n".join(problems(exc))
