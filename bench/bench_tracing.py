"""The per-request cost of request ids, trace context, latency histograms and the access log.

Two parts, run by hand:  python bench/bench_tracing.py [seconds]
1. In-process: microseconds per call of each piece the request path added (timeit, best of 5).
2. End to end with wrk: the same proxied API with the access log off, as text, and as JSON lines
   (stderr to /dev/null, as with a collector that keeps up). Request ids and tracing are always on.
To compare with a tree from before tracing, run bench/bench_proxy.py in both trees.
"""

from __future__ import annotations

import logging
import sys
import timeit
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidict import CIMultiDict  # noqa: E402

from common import free_port, process, show, upstream, wait_http, wrk  # noqa: E402
from microgw import tracing  # noqa: E402
from microgw.logs import AccessLogger, JsonAccessLogger  # noqa: E402
from microgw.metrics import Metrics  # noqa: E402

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def per_call(statement, number: int = 20000) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6


def in_process() -> None:
    bare = CIMultiDict({"Host": "x", "Accept": "*/*"})
    given = CIMultiDict({"Host": "x", "X-Request-ID": "abc-123", "traceparent": TRACE})
    trace = tracing.begin(given, "X-Request-ID")
    metrics = Metrics()
    out = CIMultiDict()

    def set_headers():
        out[trace.header] = trace.request_id
        out["traceparent"] = trace.traceparent

    null = logging.getLogger("bench.null")
    null.addHandler(logging.NullHandler())
    null.propagate = False
    null.setLevel(logging.INFO)
    request = {
        "microgw": SimpleNamespace(route=SimpleNamespace(api=SimpleNamespace(name="bench", version="1.0")), application=None),
        tracing.KEY: trace,
    }
    fake = SimpleNamespace(get=request.get, remote="127.0.0.1", method="GET", rel_url=SimpleNamespace(raw_path="/gateway/bench/1.0/hello"))
    response = SimpleNamespace(status=200, body_length=12)
    text, json_ = AccessLogger(null, ""), JsonAccessLogger(null, "")
    rows = [
        ("begin(): no ids given (both made)", lambda: tracing.begin(bare, "X-Request-ID")),
        ("begin(): X-Request-ID and traceparent kept", lambda: tracing.begin(given, "X-Request-ID")),
        ("two upstream headers set", set_headers),
        ("latency histograms (gateway + upstream)", lambda: metrics.latency("bench", "1.0", 0.002, 0.0015)),
        ("access log line, text (formatted, null handler)", lambda: text.log(fake, response, 0.002)),
        ("access log line, JSON (formatted, null handler)", lambda: json_.log(fake, response, 0.002)),
    ]
    for label, call in rows:
        print(f"{label:<50} {per_call(call):6.2f} us/call")


@contextmanager
def gateway_with(native: str, access: dict):
    import tempfile

    import yaml

    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yml"
        config = {"ports": {"http": port}, "logging": {"level": "warning", **access}, "apis": [{"name": "bench", "version": "1.0", "endpoint": native}]}
        path.write_text(yaml.safe_dump(config))
        with process(sys.executable, "-m", "microgw", "start", "-c", str(path)):
            wait_http(f"http://127.0.0.1:{port}/rest/microgateway/health")
            yield f"http://127.0.0.1:{port}"


def end_to_end(seconds: int) -> None:
    with upstream() as native:
        for label, access in (
            ("access log off", {"access_log": False}),
            ("access log text", {"access_log": True, "access_log_format": "text"}),
            ("access log JSON", {"access_log": True, "access_log_format": "json"}),
        ):
            with gateway_with(native, access) as gw:
                wrk(f"{gw}/gateway/bench/1.0/hello", 2)  # warm the pool
                show(label, wrk(f"{gw}/gateway/bench/1.0/hello", seconds, headers={"traceparent": TRACE}))


if __name__ == "__main__":
    in_process()
    end_to_end(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
