"""End to end: a whole vendor archive served by a real gateway (issue 10) - aliases in endpoints,
applications with namedValues and masked keys, registrations, a name with spaces, an endpoint
without ${sys:resource_path}, an inactive API, and a skip that would have opened an API."""

from __future__ import annotations

from support.gateway import run_microgw, write_config
from support.vendor_archive import action, api_doc, identify, routing, scoped_archive, vendor_archive


def whole_archive(upstream_url: str) -> bytes:
    return vendor_archive(
        (api_doc("Pet Store", "1.0", id="api-pets"), [routing("${petsHost}/${sys:resource_path}"), identify(("apiKey", "strict"))]),
        (api_doc("Orders", "2.0", id="api-orders"), [routing("${ordersEndpoint}/fixed")]),
        (api_doc("Old", "1.0", id="api-old", isActive=False), [routing(f"{upstream_url}/echo/${{sys:resource_path}}")]),
        (api_doc("Guarded", "1.0", id="api-guarded"), [routing(f"{upstream_url}/echo/${{sys:resource_path}}"), action("customAuthPolicy", name="Corporate SSO", stage="IAM")]),
        scopes={0: {"pets:read": []}},
        registrations={0: ["app-named", "app-masked"]},
        assets_of={
            "Alias": [
                {"id": "alias-pets", "name": "petsHost", "type": "simple", "value": f"{upstream_url}/echo"},
                {"id": "alias-orders", "name": "ordersEndpoint", "type": "endpoint", "endPointURI": f"{upstream_url}/echo/orders", "readTimeout": 20},
            ],
            "Application": [
                {"id": "app-named", "name": "Named", "identifiers": [{"key": "apiKey", "name": "keys", "namedValues": [{"name": "primary", "values": ["k-named-123"]}]}]},
                {"id": "app-masked", "name": "Masked", "identifiers": [], "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": "********"}}},
            ],
        },
    )


async def test_a_whole_archive_is_served_as_the_vendor_would(gateway, client, upstream, tmp_path):
    archive = tmp_path / "export.zip"
    archive.write_bytes(whole_archive(upstream.url))
    gw = await gateway({"ports": {"http": 0}}, args=("-a", str(archive), "--skip-unsupported-policies"),
                       env={"mcgw_vendor_secrets_app-masked": "real-masked-key"})
    pets = f"{gw.http}/gateway/Pet%20Store/1.0/pets/1?q=a"
    async with client.get(pets, headers={"x-Gateway-APIKey": "k-named-123"}) as resp:  # a namedValues key
        assert resp.status == 200
        assert (await resp.json())["path_qs"] == "/echo/pets/1?q=a"  # ${petsHost} from the archive's Alias/
    async with client.get(pets, headers={"x-Gateway-APIKey": "********"}) as resp:  # the export's mask
        assert resp.status == 401
    async with client.get(pets, headers={"x-Gateway-APIKey": "real-masked-key"}) as resp:  # vendor_secrets by id
        assert resp.status == 200
    async with client.get(pets) as resp:
        assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    async with client.get(f"{gw.http}/gateway/Orders/2.0/anything/else") as resp:
        # no ${sys:resource_path}: the vendor calls the endpoint as written, so does microgw
        assert resp.status == 200 and (await resp.json())["path_qs"] == "/echo/orders/fixed"
    async with client.get(f"{gw.http}/gateway/Guarded/1.0/x") as resp:
        assert resp.status == 404  # skipping its authentication would have opened it: not loaded
    assert not any(r["path_qs"].startswith("/echo/x") for r in upstream.received)
    async with client.get(f"{gw.http}/gateway/Old/1.0/x") as resp:
        assert resp.status == 404
    async with client.get(f"{gw.http}/rest/microgateway/assets") as resp:
        apis = {a["name"]: a for a in (await resp.json())["apis"]}
    assert apis["Old"]["active"] is False and apis["Pet Store"]["active"] is True
    assert apis["Pet Store"]["path"] == "/gateway/Pet%20Store/1.0/"
    assert "Guarded" not in apis
    assert "Corporate SSO" in gw.log and "cannot be skipped" in gw.log
    assert "real-masked-key" not in gw.log and "k-named-123" not in gw.log


async def test_check_reports_inactive_apis_and_what_skipping_refused(upstream, tmp_path):
    archive = tmp_path / "export.zip"
    archive.write_bytes(whole_archive(upstream.url))
    config = write_config(tmp_path, {"ports": {"http": 0}})
    code, _, err = await run_microgw("check", "-c", str(config), "-a", str(archive), "--skip-unsupported-policies")
    assert code == 0, err
    assert "API 'Old' version '1.0' is inactive" in err
    assert "configuration OK: 3 APIs (1 inactive)" in err
    assert "'Guarded'" in err and "not loaded" in err
    code, _, err = await run_microgw("check", "-c", str(config), "-a", str(archive))
    assert code == 2 and "customAuthPolicy" in err and "'Guarded'" in err


async def test_vendor_custom_settings_start_and_report_what_has_no_effect_once(gateway, client, upstream):
    settings = f"""\
ports:
  http: "0"
applications_sync:
  enabled: true
  applications_to_sync: all
es_destination:
  url: http://elastic:9200
faults:
  default_error_message: custom
aliases:
  backend: !<simple>
    value: {upstream.url}/echo
apis:
  - name: Pet Store
    version: "1.0"
    endpoint: ${{backend}}/${{sys:resource_path}}
"""
    gw = await gateway(settings)
    async with client.get(f"{gw.http}/gateway/Pet%20Store/1.0/x") as resp:
        assert resp.status == 200 and (await resp.json())["path_qs"] == "/echo/x"
    assert gw.log.count("es_destination has no effect") == 1
    assert gw.log.count("faults has no effect") == 1
    assert gw.log.count("applications_sync.applications_to_sync has no effect") == 1


async def test_scope_policies_of_an_archive_guard_their_resources(gateway, client, upstream, tmp_path):
    archive = tmp_path / "scoped.zip"
    archive.write_bytes(scoped_archive(f"{upstream.url}/echo"))
    gw = await gateway({"ports": {"http": 0}, "applications": [{"id": "ops", "api_keys": ["ops-key-1"]}]}, args=("-a", str(archive)))
    base = f"{gw.http}/gateway/Petstore/1.0"
    async with client.get(f"{base}/public") as resp:
        assert resp.status == 200
    async with client.get(f"{base}/pets") as resp:
        assert resp.status == 200  # GET is not in the Writers scope
    async with client.post(f"{base}/pets") as resp:
        assert resp.status == 401  # POST /pets is
    async with client.get(f"{base}/admin") as resp:
        assert resp.status == 401
    async with client.get(f"{base}/admin", headers={"x-Gateway-APIKey": "ops-key-1"}) as resp:
        assert resp.status == 200
