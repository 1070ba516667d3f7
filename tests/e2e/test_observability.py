"""What an operator sees: request ids and trace context passed through, the latency split in the
metrics, the access log as JSON lines, the start-up banner and a 502 that names the native address."""

from __future__ import annotations

import json
import re
import socket


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def api(name: str, endpoint: str) -> dict:
    return {"name": name, "version": "1.0", "endpoint": endpoint}


async def test_request_id_and_traceparent_reach_the_native_service_and_come_back(gateway, upstream, client):
    gw = await gateway({"apis": [api("echo", f"{upstream.url}/echo")]})
    async with client.get(f"{gw.http}/gateway/echo/1.0/x", headers={"X-Request-ID": "abc-123", "traceparent": TRACE, "tracestate": "k=v"}) as resp:
        assert resp.status == 200 and resp.headers["X-Request-ID"] == "abc-123"
    sent = upstream.received[-1]["headers"]
    assert sent["X-Request-ID"] == "abc-123"
    version, trace_id, parent_id, flags = sent["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert re.fullmatch(r"[0-9a-f]{16}", parent_id) and parent_id != "00f067aa0ba902b7"  # the gateway's span
    assert sent["tracestate"] == "k=v"

    # nothing (or nonsense) given: made by the gateway, a new trace started; every answer carries the id
    async with client.get(f"{gw.http}/gateway/echo/1.0/x", headers={"X-Request-ID": "bad id\twith spaces", "traceparent": "junk"}) as resp:
        made = resp.headers["X-Request-ID"]
    sent = upstream.received[-1]["headers"]
    assert re.fullmatch(r"[0-9a-f]{32}", made) and sent["X-Request-ID"] == made
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", sent["traceparent"])
    async with client.get(f"{gw.http}/gateway/nothing/1.0/") as resp:
        assert resp.status == 404 and re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
    await gw.wait_for_log(rf'"GET /gateway/echo/1.0/x" 200 .* api=echo/1.0 app=- id={made} upstream=\d+\.\dms')


async def test_metrics_split_the_latency_between_gateway_and_native_service(gateway, upstream, client):
    gw = await gateway({"apis": [api("slow", upstream.url), {"name": "m", "version": "1", "mock": {"status": 204}}]})
    for _ in range(2):
        async with client.get(f"{gw.http}/gateway/slow/1.0/slow?delay=0.3") as resp:
            assert resp.status == 200
    async with client.get(f"{gw.http}/gateway/m/1/") as resp:
        assert resp.status == 204
    async with client.get(f"{gw.http}/rest/microgateway/metrics") as resp:
        text = await resp.text()
    values = dict(re.findall(r'^(microgw_\w+\{[^}]*\}) (\S+)$', text, re.MULTILINE))
    assert values['microgw_upstream_seconds_count{api="slow",version="1.0"}'] == "2"
    assert float(values['microgw_upstream_seconds_sum{api="slow",version="1.0"}']) >= 0.6  # the native service slept
    assert values['microgw_upstream_seconds_bucket{api="slow",version="1.0",le="0.25"}'] == "0"
    assert values['microgw_gateway_seconds_count{api="slow",version="1.0"}'] == "2"
    assert float(values['microgw_gateway_seconds_sum{api="slow",version="1.0"}']) < 0.6  # the sleep is not the gateway's
    assert values['microgw_gateway_seconds_count{api="m",version="1"}'] == "1"  # a mock has no native part
    assert 'microgw_upstream_seconds_count{api="m"' not in text
    assert "# TYPE microgw_gateway_seconds histogram" in text


async def test_access_log_as_json_lines(gateway, upstream, client):
    gw = await gateway({"logging": {"access_log_format": "json"}, "apis": [api("echo", f"{upstream.url}/echo")]})
    async with client.get(f"{gw.http}/gateway/echo/1.0/a?access_token=secret-in-query", headers={"X-Request-ID": "r-1", "traceparent": TRACE}) as resp:
        assert resp.status == 200
    line = await gw.wait_for_log(r'^\{.*"request_id":"r-1"')
    record = json.loads(line)
    assert record["method"] == "GET" and record["path"] == "/gateway/echo/1.0/a" and record["status"] == 200
    assert record["api"] == "echo/1.0" and record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert 0 <= record["upstream_ms"] <= record["duration_ms"]
    assert "secret-in-query" not in gw.log


async def test_invocation_records_in_a_json_access_log_are_bare_json_lines(gateway, upstream, client):
    """logInvocation's access_log destination writes into the access log's stream in its format:
    with ``json``, each record is a whole line a collector reads as one object, after the access
    lines of the requests before it."""
    gw = await gateway({
        "logging": {"access_log_format": "json"},
        "apis": [{**api("echo", f"{upstream.url}/echo"), "policies": {"logInvocation": {"destinations": ["access_log"]}}}],
    })
    for request_id in ("j-1", "j-2"):
        async with client.get(f"{gw.http}/gateway/echo/1.0/a", headers={"X-Request-ID": request_id}) as resp:
            assert resp.status == 200
    await gw.wait_for_log(r'^\{"ts":"[^"]*","client":.*"request_id":"j-2"')  # j-2's access line: written after its record
    invocations = [json.loads(line) for line in gw.lines if '"kind":"invocation"' in line]
    assert [record["request_id"] for record in invocations] == ["j-1", "j-2"]
    assert all(record["api"] == "echo" and record["status"] == 200 for record in invocations)


async def test_start_up_banner_and_a_502_naming_the_native_address(gateway, client):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    gw = await gateway({"apis": [api("gone", f"http://user:pw@127.0.0.1:{dead}/base?key=s3cret"), {"name": "m", "version": "1", "mock": {}}]})
    await gw.wait_for_log(r"microgw \S+ started \(pid \d+\)")
    await gw.wait_for_log(r"configuration: .*config0-0\.yml")
    await gw.wait_for_log(rf"APIs \(2\): /gateway/gone/1.0/ -> http://127.0.0.1:{dead}/base; /gateway/m/1/ -> mock")
    await gw.wait_for_log(r"endpoints: .*/rest/microgateway/\{[a-z,]*health[a-z,]*\}")
    async with client.get(f"{gw.http}/gateway/gone/1.0/x", headers={"X-Request-ID": "r-502"}) as resp:
        assert resp.status == 502
    await gw.wait_for_log(rf"native service of gone/1.0 at http://127.0.0.1:{dead} failed: \w+ \(request id r-502\)")
    assert "s3cret" not in gw.log and "user:pw" not in gw.log


async def test_access_lines_keep_their_order_and_are_all_written_at_stop(gateway, upstream, client):
    """Access lines are written in batches (the event loop does not pay for a log record per
    request): a warning logged after some requests still comes after their lines, and the lines of
    the last requests are written when the gateway stops, not lost with a pending batch."""
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    gw = await gateway({"apis": [api("echo", f"{upstream.url}/echo"), api("gone", f"http://127.0.0.1:{dead}")]})
    for request_id, path, status in (("o-1", "echo", 200), ("o-2", "echo", 200), ("o-3", "gone", 502)):
        async with client.get(f"{gw.http}/gateway/{path}/1.0/x", headers={"X-Request-ID": request_id}) as resp:
            assert resp.status == status
    await gw.wait_for_log(r"id=o-3 ")
    order = [n for n, line in enumerate(gw.lines) for pattern in ("id=o-1 ", "id=o-2 ", r"request id o-3\)", "id=o-3 ") if re.search(pattern, line)]
    assert len(order) == 4 and order == sorted(order), gw.log  # o-1, o-2, the 502's warning, then its access line
    for n in range(20):
        async with client.get(f"{gw.http}/gateway/echo/1.0/x", headers={"X-Request-ID": f"last-{n}"}) as resp:
            assert resp.status == 200
    assert await gw.stop() == 0
    assert [f"last-{n}" for n in range(20)] == re.findall(r"id=(last-\d+) ", gw.log)
