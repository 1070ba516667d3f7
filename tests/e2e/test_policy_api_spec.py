"""validateAPISpec end to end: requests checked against the API's OpenAPI (a file, YAML form) or the
archive's own apiDefinition (archive form), answers too when asked; 400 names what is wrong."""

from __future__ import annotations

import json

import yaml

from support.vendor_archive import action, api_doc, routing, v, vendor_archive

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "required": ["method"]}}}}},
            },
            "get": {
                "parameters": [{"name": "limit", "in": "query", "required": True, "schema": {"type": "integer", "maximum": 50}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "required": ["nope"]}}}}},
            },
        },
        "/pets/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}], "responses": {"200": {"description": "ok"}}}},
    },
    "components": {"schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}}},
}
SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "Shop", "version": "1.0"},
    "paths": {"/orders": {"post": {"parameters": [{"name": "order", "in": "body", "required": True, "schema": {"type": "object", "required": ["item"], "properties": {"qty": {"type": "integer"}}}},
                                                   {"name": "X-Shop", "in": "header", "required": True, "type": "string"}],
                                    "responses": {"200": {"description": "ok"}}}}},
}


async def test_api_spec_yaml_and_archive(gateway, upstream, client, tmp_path):
    (tmp_path / "pets.yaml").write_text(yaml.safe_dump(OPENAPI))
    validate = action("validateAPISpec", v("schemaValidationFlag", "true"), v("validateQueryParams", "true"), v("headersValidationFlag", "true"), name="Validate API Specification")
    doc = api_doc("Shop", "1.0", apiDefinition=SWAGGER)
    (tmp_path / "shop.zip").write_bytes(vendor_archive((doc, [routing("https://prod.example.com/echo/${sys:resource_path}"), validate])))
    config = {
        "endpoint_rewrites": {"https://prod.example.com": upstream.url},
        "apis": [{"name": "pets", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"validateAPISpec": {"spec": "pets.yaml", "responses": True, "content_type": True}}}],
    }
    config_path = tmp_path / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    gw = await gateway(config_path, args=("-a", str(tmp_path / "shop.zip")))
    base = f"{gw.http}/gateway/pets/1"

    async def call(method, url, **kwargs):
        async with client.request(method, url, **kwargs) as resp:
            return resp.status, (await resp.json()), resp.headers

    status, body, _ = await call("POST", base + "/pets", json={"name": "Rex", "age": 3})
    assert status == 200 and json.loads(body["body"]) == {"name": "Rex", "age": 3}
    seen = len(upstream.received)
    status, body, _ = await call("POST", base + "/pets", json={"age": -1})
    assert status == 400 and body["code"] == "invalid_request" and "name" in body["message"]
    status, body, _ = await call("POST", base + "/pets", data=b"name=Rex", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "Content-Type" in body["message"]
    status, body, _ = await call("POST", base + "/pets")
    assert status == 400 and "needs a body" in body["message"]
    status, body, _ = await call("GET", base + "/pets?limit=500")
    assert status == 400 and "limit" in body["message"] and "50" in body["message"]
    status, body, _ = await call("GET", base + "/pets")
    assert status == 400 and "'limit' is required" in body["message"]
    status, body, _ = await call("GET", base + "/pets/abc")
    assert status == 400 and "'id'" in body["message"]
    status, body, headers = await call("DELETE", base + "/pets/1")
    assert status == 405 and headers["Allow"] == "GET"
    status, body, _ = await call("GET", base + "/owners")
    assert status == 404 and body["code"] == "not_in_specification"
    assert len(upstream.received) == seen  # refused requests never reach the native service
    # answers: GET /pets promises a member the echo does not have -> not sent
    status, body, _ = await call("GET", base + "/pets?limit=5")
    assert status == 502 and body["code"] == "invalid_answer" and "nope" in body["message"]
    status, body, _ = await call("GET", base + "/pets/7")
    assert status == 200 and body["path_qs"] == "/echo/pets/7"

    # the archive's form: its own Swagger 2 apiDefinition, header validation switched on
    shop = f"{gw.http}/gateway/Shop/1.0/orders"
    status, body, _ = await call("POST", shop, json={"item": "a", "qty": 2}, headers={"X-Shop": "s1"})
    assert status == 200 and body["path_qs"] == "/echo/orders"
    status, body, _ = await call("POST", shop, json={"item": "a", "qty": "two"}, headers={"X-Shop": "s1"})
    assert status == 400 and "qty" in body["message"]
    status, body, _ = await call("POST", shop, json={"item": "a"})
    assert status == 400 and "X-Shop" in body["message"]
