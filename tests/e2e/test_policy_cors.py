"""CORS end to end: preflights answered by the gateway, CORS headers on forwarded answers and on
refusals, other origins left without them — in the YAML form and imported from a vendor archive."""

from __future__ import annotations

from support.vendor_archive import action, api_doc, g, routing, v, vendor_archive

ORIGIN = "https://app.example.com"


async def test_cors_yaml_and_archive(gateway, upstream, client, tmp_path):
    cors = action(
        "cors",
        g("corsAttributes", v("allowedOrigins", ORIGIN), v("allowMethods", "GET", "PUT"), v("allowHeaders", "X-Trace"), v("exposeHeaders", "X-Upstream"), v("maxAge", "60")),
        name="CORS",
    )
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Vendor", "1.0"), [routing(), cors])))
    config = {
        "endpoint_rewrites": {"https://prod.example.com": f"{upstream.url}/echo"},
        "apis": [
            {
                "name": "shop",
                "version": "1",
                "endpoint": f"{upstream.url}/echo",
                "methods": ["GET"],  # a preflight is answered before the method check
                "policies": {
                    "cors": {"allowed_origins": ["https://*.example.com"], "allow_methods": ["GET", "PUT"], "allow_headers": ["X-Trace"], "expose_headers": ["X-Upstream"], "allow_credentials": True, "max_age": 60},
                    "jwt": {},
                },
            }
        ],
    }
    gw = await gateway(config, args=("-a", str(tmp_path / "a.zip")))
    for path, credentials in (("/gateway/shop/1/items", True), ("/gateway/Vendor/1.0/items", False)):
        seen = len(upstream.received)
        preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-trace"}
        async with client.options(gw.http + path, headers=preflight) as resp:
            assert resp.status == 204, (path, await resp.text())
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert resp.headers["Access-Control-Allow-Methods"] == "GET, PUT"
            assert resp.headers["Access-Control-Allow-Headers"] == "x-trace"
            assert resp.headers["Access-Control-Max-Age"] == "60"
            assert resp.headers.get("Access-Control-Allow-Credentials") == ("true" if credentials else None)
        async with client.options(gw.http + path, headers={**preflight, "Access-Control-Request-Method": "DELETE"}) as resp:
            assert resp.status == 403
            assert (await resp.json())["code"] == "cors_method_not_allowed"
        async with client.options(gw.http + path, headers={**preflight, "Origin": "https://evil.test"}) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with client.options(gw.http + path, headers={**preflight, "Access-Control-Request-Headers": "x-trace, x-other"}) as resp:
            assert resp.status == 403
        assert len(upstream.received) == seen  # preflights never reach the native service
    # an actual request: CORS headers on the forwarded answer, and none for another origin
    async with client.get(gw.http + "/gateway/Vendor/1.0/items", headers={"Origin": ORIGIN}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Access-Control-Expose-Headers"] == "X-Upstream"
        assert "Origin" in resp.headers["Vary"]
    async with client.get(gw.http + "/gateway/Vendor/1.0/items", headers={"Origin": "https://evil.test"}) as resp:
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
    # a refusal (no token) carries them too, so the page can read the 401
    async with client.get(gw.http + "/gateway/shop/1/items", headers={"Origin": "https://shop.example.com"}) as resp:
        assert resp.status == 401
        assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    async with client.get(gw.http + "/gateway/shop/1/items", headers={"Origin": "https://example.org"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
