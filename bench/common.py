"""Helpers for the hand-run benchmarks: free ports, processes, wrk runs and their parsing."""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 20, headers: dict | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1)
            return
        except Exception as exc:  # noqa: BLE001 - any answer but success means "not yet"
            if getattr(exc, "code", None):
                return
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def wait_started(port: int, timeout: float = 300) -> None:
    """Until the gateway on ``port`` has its settings in place: it listens first, and until then its
    health answers ``"starting": true`` (and everything else 503)."""
    import json

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/microgateway/health", timeout=1) as resp:
                if not json.loads(resp.read() or b"{}").get("starting"):
                    return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the gateway on port {port} did not start")


@contextmanager
def process(*argv: str):
    proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def upstream():
    port = free_port()
    with process(sys.executable, str(REPO / "bench" / "upstream_app.py"), str(port)):
        wait_http(f"http://127.0.0.1:{port}/hello")
        yield f"http://127.0.0.1:{port}"


@contextmanager
def gateway(config: dict):
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yml"
        config = {**config, "ports": {"http": port}, "logging": {"level": "warning", "access_log": False}}
        path.write_text(yaml.safe_dump(config))
        with process(sys.executable, "-m", "microgw", "start", "-c", str(path)):
            wait_started(port)  # health answers while a gateway with a parent is still starting (503 elsewhere)
            yield f"http://127.0.0.1:{port}"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, seconds: int = 10, connections: int = 32, headers: dict | None = None) -> dict:
    """Run ``wrk -t1 -c32 --latency``; returns req/s and p50/p99 latency in ms."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


def show(label: str, result: dict) -> None:
    print(f"{label:<38} {result['rps']:>9.0f} req/s  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms"
          f"  non-2xx {result['non2xx']} {result['socket_errors']}")


ADMIN_AUTH = "Basic " + base64.b64encode(b"Administrator:manage").decode()  # the benches' admin (password 'manage')


def many_applications(apis: int, apps: int) -> dict:
    """Settings with ``apis`` mocked APIs (API key, strict lookup) and ``apps`` applications spread
    over them, plus the admin user the benches reload with: the load of the scale benches."""
    return {
        "admin": {"user": "Administrator", "password": "{encoded}bWFuYWdl"},
        "apis": [
            {"name": f"api{i}", "version": "1.0", "mock": {"json": {"n": i}}, "policies": {"identify": {"rules": ["apiKey"], "lookup": "strict"}}}
            for i in range(apis)
        ],
        "applications": [
            {"id": f"app-{i:05d}", "name": f"Application {i}", "api_keys": [f"key-{i:05d}-0123456789abcdef"], "apis": [f"api{i % apis}/1.0"]}
            for i in range(apps)
        ],
    }


def admin_reload(port: int, timeout: float = 300) -> float:
    """POST the admin reload; the seconds it took."""
    started = time.monotonic()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/rest/microgateway/reload", method="POST", headers={"Authorization": ADMIN_AUTH})
    urllib.request.urlopen(request, timeout=timeout).read()
    return time.monotonic() - started
