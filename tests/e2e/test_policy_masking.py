"""Data masking end to end against a real upstream: request bodies masked before the native service,
answers masked before the client (JSON, XML, text; mask and filter; per application), in the YAML
form and imported from vendor archives."""

from __future__ import annotations

import gzip
import json

from support.vendor_archive import action, api_doc, g, identify, routing, v, vendor_archive

APPS = [
    {"id": "partner", "name": "Partner", "isSuspended": False, "identifiers": [{"key": "apiKey", "value": ["pk"]}], "apiIDs": ["accounts-id"]},
    {"id": "other", "name": "Other", "isSuspended": False, "identifiers": [{"key": "apiKey", "value": ["ok"]}], "apiIDs": ["accounts-id"]},
]
ACCOUNT = {"owner": "Ann", "card": {"number": "4111111111111111", "cvv": "123"}, "history": [{"card": "4111"}, {"card": "5500"}], "note": "ssn 123-45-6789"}
XML_DOC = b'<?xml version="1.0"?><acct xmlns:b="urn:bank" id="7"><b:card>4111</b:card><pin>1234</pin><owner>Ann</owner></acct>'


def criteria(*rules: dict, kind: str = "jpathMasking") -> dict:
    return g(kind, *(g("maskingCriteria", *(v(k, val) for k, val in rule.items())) for rule in rules))


async def test_masking_yaml_and_archive(gateway, upstream, client, tmp_path):
    upstream.documents["account.json"] = ("application/json", json.dumps(ACCOUNT).encode())
    upstream.documents["account.xml"] = ("application/xml", XML_DOC)
    upstream.documents["gz.json"] = ("application/json", gzip.compress(json.dumps(ACCOUNT).encode()), {"Content-Encoding": "gzip"})
    upstream.documents["broken.json"] = ("application/json", b'{"card": ')
    upstream.documents["photo.png"] = ("image/png", b"\x89PNG 4111111111111111")
    response_archive = action(
        "responseDataMasking",
        criteria({"action": "$.card.number", "maskingType": "Mask", "maskValue": "####"}, {"action": "$..cvv", "maskingType": "Filter"}),
        criteria({"action": r"\d{3}-\d{2}-\d{4}", "maskingType": "Mask", "maskValue": "***-**-****"}, kind="regexMasking"),
        v("applyForPayload", "true"),
        name="Data Masking",
    )
    request_archive = action("requestDataMasking", criteria({"action": "$.password", "maskingType": "Filter"}), name="Data Masking")
    archive = vendor_archive((api_doc("Vault", "1.0"), [routing("https://prod.example.com/${sys:resource_path}"), request_archive, response_archive]))
    (tmp_path / "vault.zip").write_bytes(archive)
    config = {
        "endpoint_rewrites": {"https://prod.example.com": upstream.url},
        "applications": APPS,
        "apis": [
            {
                "name": "accounts",
                "version": "1",
                "id": "accounts-id",
                "endpoint": f"{upstream.url}/doc",
                "policies": {
                    "identify": {"rules": ["apiKey"], "allow_anonymous": True},
                    "responseDataMasking": {
                        "json": [{"path": "$.card.number", "mask": "XXXX"}, {"path": "$.card.cvv", "action": "filter"}, {"path": "$.history[*].card"}],
                        "xml": [{"path": "//b:card"}, {"path": "/acct/pin", "action": "filter"}, {"path": "/acct/@id", "mask": "?"}],
                        "namespaces": {"b": "urn:bank"},
                        "applications": [{"ids": ["partner"], "json": [{"path": "$.card", "action": "filter"}]}],
                    },
                },
            },
            {
                "name": "signup",
                "version": "1",
                "endpoint": f"{upstream.url}/mirror",
                "policies": {"requestDataMasking": {"json": [{"path": "$.password", "action": "filter"}, {"path": "$..ssn", "mask": "***"}], "regex": [{"pattern": "secret-\\w+", "mask": "[hidden]"}]}},
            },
        ],
    }
    gw = await gateway(config, args=("-a", str(tmp_path / "vault.zip")))

    # answers, YAML form: JSON mask + filter, XML element / attribute mask and filter
    async with client.get(f"{gw.http}/gateway/accounts/1/account.json") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["card"] == {"number": "XXXX"} and [h["card"] for h in body["history"]] == ["********", "********"]
    assert body["owner"] == "Ann"
    async with client.get(f"{gw.http}/gateway/accounts/1/account.xml") as resp:
        text = await resp.text()
    assert "4111" not in text and "1234" not in text and "<owner>Ann</owner>" in text and ">********<" in text and 'id="?"' in text
    # per application: the partner's criteria instead of the default ones; another application gets the default
    async with client.get(f"{gw.http}/gateway/accounts/1/account.json", headers={"x-Gateway-APIKey": "pk"}) as resp:
        body = await resp.json()
    assert "card" not in body and body["history"][0]["card"] == "4111"
    async with client.get(f"{gw.http}/gateway/accounts/1/account.json", headers={"x-Gateway-APIKey": "ok"}) as resp:
        assert (await resp.json())["card"] == {"number": "XXXX"}
    # a gzip answer is decoded and masked; a broken JSON answer is not sent; other types pass untouched
    async with client.get(f"{gw.http}/gateway/accounts/1/gz.json") as resp:
        assert "Content-Encoding" not in resp.headers
        assert json.loads(await resp.read())["card"] == {"number": "XXXX"}
    async with client.get(f"{gw.http}/gateway/accounts/1/broken.json") as resp:
        assert resp.status == 502 and (await resp.json())["code"] == "bad_answer"
    async with client.get(f"{gw.http}/gateway/accounts/1/photo.png") as resp:
        assert await resp.read() == b"\x89PNG 4111111111111111"

    # requests, YAML form: the native service gets the masked body (the mirror answers what it got)
    sent = {"user": "ann", "password": "pw", "profile": {"ssn": "123"}, "text": "code secret-abc"}
    async with client.post(f"{gw.http}/gateway/signup/1/", json=sent) as resp:
        assert resp.status == 200
        assert await resp.json() == {"user": "ann", "profile": {"ssn": "***"}, "text": "code [hidden]"}
    async with client.post(f"{gw.http}/gateway/signup/1/", data=b'{"password": ', headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "invalid_body"

    # the archive's forms: response jpath mask + filter + regex, request filter
    async with client.get(f"{gw.http}/gateway/Vault/1.0/doc/account.json") as resp:
        body = await resp.json()
    assert body["card"] == {"number": "####"} and body["note"] == "ssn ***-**-****"
    async with client.post(f"{gw.http}/gateway/Vault/1.0/mirror", json={"user": "a", "password": "pw"}) as resp:
        assert await resp.json() == {"user": "a"}


async def test_answers_no_criterion_covers_stream_past_the_body_limit(gateway, upstream, client):
    """Only answers the masking reads are taken whole (and bounded): a 1 MiB binary answer streams
    through an API with JSON masking and a 64 KiB body limit; a JSON answer over it is not sent."""
    big = {"card": {"number": "4111"}, "pad": "x" * 70_000}
    upstream.documents["big.json"] = ("application/json", json.dumps(big).encode())
    upstream.documents["small.json"] = ("application/json", json.dumps({"card": {"number": "4111"}}).encode())
    config = {
        "server": {"max_body_size": "64k"},
        "apis": [{"name": "files", "version": "1", "endpoint": upstream.url, "policies": {"responseDataMasking": {"json": [{"path": "$.card.number"}]}}}],
    }
    gw = await gateway(config)
    async with client.get(f"{gw.http}/gateway/files/1/stream?size=1048576") as resp:
        assert resp.status == 200
        assert resp.headers.get("Transfer-Encoding") == "chunked"  # relayed as it came, not taken whole
        assert await resp.read() == b"x" * 1048576
    async with client.get(f"{gw.http}/gateway/files/1/doc/small.json") as resp:
        assert (await resp.json())["card"] == {"number": "********"}
    async with client.get(f"{gw.http}/gateway/files/1/doc/big.json") as resp:
        assert resp.status == 502 and (await resp.json())["code"] == "answer_too_large"


async def test_archive_xml_and_per_application_masking(gateway, upstream, client, tmp_path):
    """The vendor's Data Masking in archive form with XPath criteria (and their namespace) and criteria
    for one consumer application, against a real upstream: the partner gets its own, others the default."""
    upstream.documents["account.xml"] = ("application/xml", XML_DOC)
    upstream.documents["account.json"] = ("application/json", json.dumps(ACCOUNT).encode())
    masking = action(
        "responseDataMasking",
        criteria({"action": "//b:card", "maskingType": "Mask", "maskValue": "####"}, {"action": "/acct/pin", "maskingType": "Filter"}, kind="xpathMasking"),
        g("namespace", v("prefix", "b"), v("uri", "urn:bank")),
        criteria({"action": "$.card.number", "maskingType": "Mask"}),
        g("dataMasking", v("consumerApplications", "partner"), criteria({"action": "$.card", "maskingType": "Filter"})),
        v("applyForPayload", "true"),
        name="Data Masking",
    )
    doc = api_doc("Bank", "1.0", id="bank-id")
    archive = vendor_archive((doc, [routing("https://prod.example.com/doc/${sys:resource_path}"), identify(("apiKey", "open"), anonymous="true"), masking]))
    (tmp_path / "bank.zip").write_bytes(archive)
    gw = await gateway({"endpoint_rewrites": {"https://prod.example.com": upstream.url}, "applications": APPS}, args=("-a", str(tmp_path / "bank.zip")))
    async with client.get(f"{gw.http}/gateway/Bank/1.0/account.xml") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert ">####<" in text and "4111" not in text and "1234" not in text and "<owner>Ann</owner>" in text
    async with client.get(f"{gw.http}/gateway/Bank/1.0/account.json", headers={"x-Gateway-APIKey": "ok"}) as resp:
        assert (await resp.json())["card"] == {"number": "********", "cvv": "123"}
    async with client.get(f"{gw.http}/gateway/Bank/1.0/account.json", headers={"x-Gateway-APIKey": "pk"}) as resp:
        body = await resp.json()
    assert "card" not in body and body["owner"] == "Ann"
