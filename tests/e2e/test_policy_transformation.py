"""Request and response transformation end to end against a real upstream: headers, query, path,
method, status and JSON members, with the vendor's variables — YAML form and archive form."""

from __future__ import annotations

import json

from support.vendor_archive import action, api_doc, g, routing, v, vendor_archive


async def test_transformation_yaml_and_archive(gateway, upstream, client, tmp_path):
    request_archive = action(
        "requestTransformation",
        g("transformationConfig",
          g("headerTransformation", g("setHeader", v("key", "X-Tenant"), v("value", "t-${request.headers.X-Org}")), v("removeHeader", "X-Debug")),
          g("queryTransformation", v("removeQuery", "debug")),
          v("methodTransformation", "PUT")),
        name="Request Transformation",
    )
    response_archive = action(
        "responseTransformation",
        g("statusTransformation", v("code", "202"), v("message", "Accepted")),
        g("headerTransformation", v("removeHeader", "X-Upstream"), g("setHeader", v("key", "X-Method"), v("value", "${request.httpMethod}"))),
        name="Response Transformation",
    )
    archive = vendor_archive((api_doc("Legacy", "1.0"), [routing("https://prod.example.com/echo/${sys:resource_path}"), request_archive, response_archive]))
    (tmp_path / "legacy.zip").write_bytes(archive)
    config = {
        "endpoint_rewrites": {"https://prod.example.com": upstream.url},
        "apis": [
            {
                "name": "employees",
                "version": "1",
                "endpoint": f"{upstream.url}/echo",
                "policies": {
                    "requestTransformation": {
                        "headers": {"set": {"X-Employee": "${request.query.name}", "X-Api": "v2"}, "remove": ["X-Debug"]},
                        "query": {"set": {"format": "json"}, "remove": ["name"]},
                        "path": "/v2${request.path}",
                        "method": "POST",
                        "json": {"set": {"$.meta.via": "gateway", "$.trace": "${request.headers.X-Trace}", "$.first": "${request.payload.jsonPath[$.items[0]]}"}, "remove": ["$.secret"]},
                    },
                    "responseTransformation": {
                        "headers": {"set": {"X-Served-By": "microgw", "X-Was": "${response.statusCode}", "X-Seen-Method": "${response.payload.jsonPath[$.method]}"}, "remove": ["X-Upstream"]},
                        "status": 201,
                        "json": {"set": {"$.transformed": True}, "remove": ["$.headers"]},
                    },
                },
            },
            {"name": "climb", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"requestTransformation": {"path": "${request.headers.X-Path}"}}},
        ],
    }
    gw = await gateway(config, args=("-a", str(tmp_path / "legacy.zip")))

    sent = {"items": ["a", "b"], "secret": "s", "keep": 1}
    headers = {"X-Debug": "1", "X-Trace": "tr-9", "Content-Type": "application/json"}
    async with client.get(f"{gw.http}/gateway/employees/1/people?name=ann&x=1", data=json.dumps(sent), headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.headers["X-Served-By"] == "microgw" and resp.headers["X-Was"] == "200" and resp.headers["X-Seen-Method"] == "POST"
        assert "X-Upstream" not in resp.headers
        echoed = await resp.json()
    assert echoed["transformed"] is True and "headers" not in echoed
    assert echoed["method"] == "POST"
    assert echoed["path_qs"] == "/echo/v2/people?x=1&format=json"
    assert json.loads(echoed["body"]) == {"items": ["a", "b"], "keep": 1, "meta": {"via": "gateway"}, "trace": "tr-9", "first": "a"}
    seen = upstream.received[-1]["headers"]
    assert seen["X-Employee"] == "ann" and seen["X-Api"] == "v2" and "X-Debug" not in seen

    async with client.get(f"{gw.http}/gateway/climb/1/x", headers={"X-Path": "/../../admin"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "invalid_path"

    # the archive's form
    async with client.get(f"{gw.http}/gateway/Legacy/1.0/items?debug=1&y=2", headers={"X-Org": "acme", "X-Debug": "1"}) as resp:
        assert resp.status == 202 and resp.reason == "Accepted"
        assert "X-Upstream" not in resp.headers and resp.headers["X-Method"] == "GET"
        echoed = await resp.json()
    assert echoed["method"] == "PUT" and echoed["path_qs"] == "/echo/items?y=2"
    assert echoed["headers"]["x-tenant"] == "t-acme" and "x-debug" not in echoed["headers"]


async def test_set_media_type_yaml_and_archive(gateway, upstream, client, tmp_path):
    media = action("setMediaType", v("defaultContentType", "application/xml"), v("defaultAcceptHeader", "application/json"), name="Set Media Type")
    (tmp_path / "m.zip").write_bytes(vendor_archive((api_doc("Media", "1.0"), [routing("https://prod.example.com/echo/${sys:resource_path}"), media])))
    config = {
        "endpoint_rewrites": {"https://prod.example.com": upstream.url},
        "apis": [{"name": "m", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"setMediaType": {"content_type": "application/json", "accept": "${request.headers.X-Want}"}}}],
    }
    gw = await gateway(config, args=("-a", str(tmp_path / "m.zip")))
    async with client.post(f"{gw.http}/gateway/m/1/x", data=b"{}", headers={"X-Want": "text/csv"}, skip_auto_headers=("Content-Type", "Accept")) as resp:
        seen = (await resp.json())["headers"]
    assert seen["content-type"] == "application/json" and seen["accept"] == "text/csv"
    async with client.post(f"{gw.http}/gateway/m/1/x", data=b"a", headers={"Content-Type": "text/plain", "Accept": "text/html"}) as resp:
        seen = (await resp.json())["headers"]
    assert seen["content-type"] == "text/plain" and seen["accept"] == "text/html"  # the client's own are kept
    async with client.post(f"{gw.http}/gateway/Media/1.0/x", data=b"<a/>", skip_auto_headers=("Content-Type", "Accept")) as resp:
        seen = (await resp.json())["headers"]
    assert seen["content-type"] == "application/xml" and seen["accept"] == "application/json"
