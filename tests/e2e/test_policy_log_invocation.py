"""logInvocation end to end: records parsed from the JSON-lines file and the access log, headers and
payloads as chosen, capped, and free of every secret the calls carried; failure-only logging; the
global switch; the vendor's template from an archive."""

from __future__ import annotations

import asyncio
import json

from support.vendor_archive import action, api_doc, g, routing, v, vendor_archive

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.c2lnbmF0dXJlLXNlY3JldA"
SECRETS = ("SECRET-Q", "SECRET-C", "SECRET-P", "SECRET-S", "key-alpha-123", TOKEN, "SECRET-F", "SECRET-H", "SECRET-T")


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def until_records(path, count: int) -> list[dict]:
    """Records are appended by a thread after the answer went out: wait until ``count`` are there."""
    deadline = asyncio.get_running_loop().time() + 10
    while len(found := records(path)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"only {len(found)} records in {path}"
        await asyncio.sleep(0.02)
    return found


async def test_records_carry_what_was_chosen_and_no_secret(gateway, upstream, client, tmp_path):
    log_file = tmp_path / "logs" / "invocations.jsonl"
    config = {
        "logging": {"transactions": {"file": str(log_file), "redact_headers": ["X-Internal"], "redact_fields": ["ssn"]}},
        "applications": [{"id": "alpha", "name": "Alpha", "api_keys": ["key-alpha-123"]}],
        "apis": [
            {"name": "logged", "version": "1", "endpoint": upstream.url, "policies": {
                "identify": {"rules": ["apiKey"], "lookup": "open"},
                "logInvocation": {"request_payload": True, "response_payload": True, "max_payload_bytes": 400, "destinations": ["file", "access_log"]},
            }},
            {"name": "failures", "version": "1", "endpoint": upstream.url, "policies": {
                "logInvocation": {"when": "failure", "destinations": ["file"]},
            }},
        ],
    }
    gw = await gateway(config)
    body = {"user": "ann", "password": "SECRET-P", "nested": {"client_secret": "SECRET-S", "ssn": "SECRET-F"}, "note": "n" * 600}
    headers = {
        "Authorization": f"Bearer {TOKEN}", "Cookie": "session=SECRET-C", "x-Gateway-APIKey": "key-alpha-123",
        "X-Internal": "SECRET-H", "X-Trace": "visible", "Content-Type": "application/json",
    }
    async with client.post(f"{gw.http}/gateway/logged/1/mirror?access_token=SECRET-Q&page=2", json=body, headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["password"] == "SECRET-P"  # the client gets its answer unchanged; only the log is redacted
    async with client.post(f"{gw.http}/gateway/logged/1/mirror", data="grant_type=password&password=SECRET-T&user=bob",
                           headers={"Content-Type": "application/x-www-form-urlencoded", "x-Gateway-APIKey": "key-alpha-123"}) as resp:
        assert resp.status == 200
    for path in ("/echo/ok", "/status/503"):
        async with client.get(f"{gw.http}/gateway/failures/1{path}") as resp:
            assert resp.status in (200, 503)
    lines = await until_records(log_file, 3)
    logged = [r for r in lines if r["api"] == "logged"]
    assert len(logged) == 2
    first, form = logged
    assert (first["method"], first["path"], first["status"], first["application"]) == ("POST", "/gateway/logged/1/mirror", 200, "alpha")
    assert first["query"] == "access_token=[redacted]&page=2"
    request_headers = {k.lower(): v for k, v in first["request_headers"].items()}
    assert request_headers["authorization"] == request_headers["cookie"] == request_headers["x-gateway-apikey"] == "[redacted]"
    assert request_headers["x-internal"] == "[redacted]" and request_headers["x-trace"] == "visible"
    payload = first["request_payload"]
    assert payload["truncated"] is True and payload["bytes"] > 600 and len(payload["text"].encode()) <= 400
    assert '"password":"[redacted]"' in payload["text"] and '"client_secret":"[redacted]"' in payload["text"] and '"ssn":"[redacted]"' in payload["text"]
    assert first["response_payload"]["text"].startswith('{"user":"ann","password":"[redacted]"')
    assert first["duration_ms"] >= 0 and first["request_id"]
    assert "password=[redacted]" in form["request_payload"]["text"] and "user=bob" in form["request_payload"]["text"]
    failures = [r for r in lines if r["api"] == "failures"]
    assert [r["status"] for r in failures] == [503]  # when: failure
    assert "request_payload" not in failures[0] and "response_headers" in failures[0]
    # the same records in the access log's stream; no secret anywhere a user could read
    deadline = asyncio.get_running_loop().time() + 10
    while sum('"kind":"invocation"' in line for line in gw.lines) < 2:  # written by the log thread
        assert asyncio.get_running_loop().time() < deadline, gw.log
        await asyncio.sleep(0.02)
    assert sum('"kind":"invocation"' in line for line in gw.lines) == 2
    everything = log_file.read_text() + gw.log
    for secret in SECRETS:
        assert secret not in everything, secret


async def test_the_global_switch_and_the_vendor_template(gateway, upstream, client, tmp_path):
    log_file = tmp_path / "off.jsonl"
    config = {"logging": {"transactions": {"enabled": False, "file": str(log_file)}},
              "apis": [{"name": "quiet", "version": "1", "endpoint": f"{upstream.url}/echo", "policies": {"logInvocation": {"destinations": ["file"]}}}]}
    gw = await gateway(config)
    async with client.get(f"{gw.http}/gateway/quiet/1/x") as resp:
        assert resp.status == 200
    assert not log_file.exists()

    logged = action(
        "logInvocation",
        v("storeRequestHeaders", "true"), v("storeRequestPayload", "false"), v("storeResponseHeaders", "false"), v("storeResponsePayload", "true"),
        v("storeAsZip", "false"), v("logGenerationFrequency", "Always"), g("destination", v("destinationType", "GATEWAY")),
        name="Log Invocation",
    )
    (tmp_path / "a.zip").write_bytes(vendor_archive((api_doc("Audited", "1.0"), [routing(), logged])))
    gw = await gateway({"endpoint_rewrites": {"https://prod.example.com": f"{upstream.url}/echo"}}, args=("-a", str(tmp_path / "a.zip")))
    async with client.get(f"{gw.http}/gateway/Audited/1.0/films?api_key=SECRET-Q", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
    line = await gw.wait_for_log(r'"kind":"invocation"')
    record = json.loads(line[line.index("{"):])
    assert record["api"] == "Audited" and record["query"] == "api_key=[redacted]"
    assert "request_headers" in record and "response_headers" not in record and record["response_payload"]["bytes"] > 0
    assert "records go to the access log" in gw.log
    for secret in SECRETS:
        assert secret not in gw.log, secret


async def test_the_stdout_destination_writes_bare_json_lines(upstream, client, tmp_path):
    """stdout gets one JSON object a line and nothing else (the gateway's own log stays on stderr)."""
    import os
    import re
    import sys

    from support.gateway import REPO, write_config

    config = write_config(tmp_path, {"apis": [{"name": "out", "version": "1", "endpoint": f"{upstream.url}/echo",
                                               "policies": {"logInvocation": {"destinations": ["stdout"], "response_payload": True}}}]})
    env = {k: val for k, val in os.environ.items() if not k.lower().startswith("mcgw_")}
    env["mcgw_state_dir"] = str(tmp_path / "state")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "microgw", "start", "-c", str(config), "-p", "0",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(REPO))
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "microgw exited before listening"
            found = re.search(r"listening on http://[^:]+:(\d+)", line)
            port = int(found.group(1)) if found else None
        async with client.get(f"http://127.0.0.1:{port}/gateway/out/1/x?token=SECRET-Q", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 200
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        record = json.loads(line)
        assert record["api"] == "out" and record["query"] == "token=[redacted]" and record["status"] == 200
        assert "SECRET-Q" not in line and TOKEN not in line
    finally:
        proc.terminate()
        await proc.wait()
