"""A parent microgw exports every policy to its children: a child that downloads an API enforces
what its parent enforces (masking, scopes, CORS, transformations, validateAPISpec from a file,
setMediaType), and an API whose export could not carry everything is not offered at all."""

from __future__ import annotations

import json

import yaml

from support import basic_auth
from support.gateway import write_config

ADMIN = basic_auth("Administrator", "manage")
ORIGIN = "https://app.example.com"
ACCOUNT = {"owner": "Ann", "card": {"number": "4111111111111111", "cvv": "123"}}
PETS = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["name"]}}}},
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def parent_config(upstream) -> dict:
    return {
        "admin": {"user": "Administrator", "password": "{encoded}bWFuYWdl"},
        "issuer": {"issuer": "fleet-parent", "https_only": False},
        "users": [{"name": "Administrator", "password": "{encoded}bWFuYWdl"}],
        "apis": [
            {
                "name": "vault",
                "version": "1",
                "endpoint": f"{upstream.url}/doc",
                "policies": {
                    "jwt": {},
                    "cors": {"allowed_origins": [ORIGIN], "allow_methods": ["GET"]},
                    "responseDataMasking": {"json": [{"path": "$.card.number", "mask": "XXXX"}, {"path": "$..cvv", "action": "filter"}]},
                    "scopes": [
                        {"name": "public", "resources": ["/public/**"],
                         "policies": {"jwt": {"required": False}, "responseDataMasking": {"json": [{"path": "$.card", "action": "filter"}]}}},
                        {"name": "partner", "resources": ["/partner/**"], "policies": {"jwt": {"auth_servers": ["local"]}}},
                    ],
                },
            },
            {
                "name": "pets",
                "version": "1",
                "endpoint": f"{upstream.url}/echo",
                "policies": {
                    "validateAPISpec": {"spec": "pets.yaml"},
                    "requestDataMasking": {"json": [{"path": "$.password", "action": "filter"}]},
                    "requestTransformation": {"headers": {"set": {"X-Via": "microgw"}}},
                    "responseTransformation": {"headers": {"set": {"X-Served-By": "microgw"}}},
                    "setMediaType": {"accept": "application/json"},
                },
            },
            {"name": "gone", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"validateAPISpec": {"spec": "gone.yaml"}}},
        ],
    }


async def enforces_the_parents_policies(client, upstream, base: str, token: str) -> None:
    """What a user sees on a gateway running the parent's policies (asked of the parent and of the child)."""
    bearer = {"Authorization": f"Bearer {token}"}
    # masking, API level: mask and filter
    async with client.get(f"{base}/gateway/vault/1/account.json", headers=bearer) as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"owner": "Ann", "card": {"number": "XXXX"}}
    # the API's jwt is required outside the scopes
    async with client.get(f"{base}/gateway/vault/1/account.json") as resp:
        assert resp.status == 401
    # scope "public": no token needed, its own masking (the card filtered out)
    async with client.get(f"{base}/gateway/vault/1/public/account.json") as resp:
        assert resp.status == 200
        assert await resp.json() == {"owner": "Ann"}
    # scope "partner": tokens of the parent's own issuer (`local` there, `parent-local` on a child)
    async with client.get(f"{base}/gateway/vault/1/partner/account.json", headers=bearer) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["card"] == {"number": "XXXX"}
    # CORS: the preflight answered by the gateway
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    async with client.options(f"{base}/gateway/vault/1/account.json", headers=preflight) as resp:
        assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    async with client.options(f"{base}/gateway/vault/1/account.json", headers={**preflight, "Access-Control-Request-Method": "DELETE"}) as resp:
        assert resp.status == 403 and (await resp.json())["code"] == "cors_method_not_allowed"
    # validateAPISpec from the parent's file, request masking, transformations, setMediaType
    async with client.post(f"{base}/gateway/pets/1/pets", json={"age": 3}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "invalid_request"
    async with client.post(f"{base}/gateway/pets/1/pets", json={"name": "Rex", "password": "pw"}, skip_auto_headers=["Accept"]) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["X-Served-By"] == "microgw"
        echoed = await resp.json()
    assert json.loads(echoed["body"]) == {"name": "Rex"}
    assert echoed["headers"]["x-via"] == "microgw" and echoed["headers"]["accept"] == "application/json"
    async with client.get(f"{base}/gateway/pets/1/cats") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == "not_in_specification"


async def test_child_enforces_every_policy_of_its_parent(gateway, upstream, client, tmp_path):
    upstream.documents["account.json"] = ("application/json", json.dumps(ACCOUNT).encode())
    upstream.documents["public/account.json"] = ("application/json", json.dumps(ACCOUNT).encode())
    upstream.documents["partner/account.json"] = ("application/json", json.dumps(ACCOUNT).encode())
    folder = tmp_path / "parent"
    folder.mkdir()
    (folder / "pets.yaml").write_text(yaml.safe_dump(PETS))
    (folder / "gone.yaml").write_text(yaml.safe_dump(PETS))
    parent = await gateway(write_config(folder, parent_config(upstream)))
    (folder / "gone.yaml").unlink()  # the parent loaded it; an export can no longer carry it

    child = await gateway({"api_gateway": {"url": parent.http, "user": "Administrator", "password": "manage", "download_settings": True}})
    await child.wait_for_log(r"downloaded the settings of the parent")
    async with client.get(f"{parent.http}/rest/pub/apigateway/jwt/getJsonWebToken", headers=ADMIN) as resp:
        token = (await resp.json())["jwt"]

    await enforces_the_parents_policies(client, upstream, parent.http, token)
    await enforces_the_parents_policies(client, upstream, child.http, token)

    # the API the parent could not export whole is not offered, and both sides say why
    async with client.get(f"{child.http}/gateway/gone/1/cats") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == "not_found"  # no such API here
    async with client.get(f"{parent.http}/gateway/gone/1/cats") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == "not_in_specification"  # the parent still enforces it
    async with client.get(f"{parent.http}/rest/apigateway/apis", headers=ADMIN) as resp:
        listed = {item["api"]["apiName"] for item in (await resp.json())["apiResponse"]}
    assert listed == {"vault", "pets"}
    await parent.wait_for_log(r"not served to child gateways: API 'gone' version '1': not exported: policy validateAPISpec: cannot read the API definition .*gone\.yaml")
    async with client.get(f"{parent.http}/rest/apigateway/archive", params={"apis": "*"}, headers=ADMIN) as resp:
        assert resp.status == 200  # every API offered
