"""A gateway with 10,000 applications: start-up, memory, reloads under load.

Run by hand: ``python bench/scale.py [--apps 10000] [--apis 50] [--connections 1000] [--reloads 10] [--rounds 3]``
(needs ``wrk``: ``apt-get install wrk``). One microgw process on loopback, access log off. Reported:

- start-up: from the process start until serving (``/rest/microgateway/health`` no longer says ``starting``),
  and the CPU the process used until then (on a machine busy with other work the wall time grows, not that);
- RSS idle, and with ``--connections`` idle keep-alive connections open (each made one request);
- reloads under load: wrk (32 connections) on a mocked API whose callers are identified by API key
  among all applications; requests answered per second (the gateway's own counters) for 2 s before
  a reload, while it runs and 2 s after: the drop against the mean of before and after, for each of
  ``--rounds`` reloads and their median (a machine shared with other work moves single numbers a lot),
  and the same drop in requests answered per CPU second of the gateway (what the reload takes from
  serving, whatever else the machine runs);
- RSS after each of ``--reloads`` reloads (the last compared with the first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ADMIN_AUTH, REPO, admin_reload, free_port, many_applications, wait_started, wrk  # noqa: E402

def config(port: int, apps: int, apis: int, state: str) -> dict:
    return {
        "ports": {"http": port},
        "state_dir": state,
        "server": {"shutdown_grace": 1},  # a replaced runtime is retired 1 s after a reload (default 10)
        "logging": {"level": "warning", "access_log": False},
        **many_applications(apis, apps),
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered(port: int) -> int:
    """Requests answered so far, from the gateway's own counters (/metrics)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/rest/microgateway/metrics", headers={"Authorization": ADMIN_AUTH})
    text = urllib.request.urlopen(request, timeout=30).read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if line.startswith("microgw_requests_total{"))


async def idle_connections(port: int, count: int) -> list:
    """``count`` keep-alive connections, each after one request, left open."""
    opened = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /rest/microgateway/health HTTP/1.1\r\nHost: bench\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        opened.append((reader, writer))
    return opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--apis", type=int, default=50)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="reloads under load, each measured on its own (the median is reported)")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scale.yml"
        path.write_text(yaml.safe_dump(config(port, args.apps, args.apis, str(Path(folder) / "state"))))
        print(f"{args.apps} applications, {args.apis} APIs ({path.stat().st_size / 1e6:.1f} MB of YAML)")
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "microgw", "start", "-c", str(path)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_started(port)
            print(f"start-up:            {time.monotonic() - started:6.2f} s from the process start to serving (health no longer says starting),"
                  f" {cpu_seconds(proc.pid):.2f} s of CPU (what a busy machine does not change)")
            time.sleep(1)
            idle = rss_mib(proc.pid)
            print(f"RSS idle:            {idle:6.1f} MiB")

            async def with_connections() -> float:
                opened = await idle_connections(port, args.connections)
                await asyncio.sleep(1)
                rss = rss_mib(proc.pid)
                for _, writer in opened:
                    writer.close()
                return rss

            print(f"RSS + {args.connections} idle conns: {asyncio.run(with_connections()):6.1f} MiB")

            url = f"http://127.0.0.1:{port}/gateway/api0/1.0/"
            headers = {"x-Gateway-APIKey": "key-00000-0123456789abcdef"}
            alone = admin_reload(port)  # how long one reload takes without load
            loaded: dict = {}
            # each round: 2 s before, the reload, 2 s after; long enough for reloads slowed down by the load
            window = round(10 + args.rounds * (4 + alone * 14))
            load = threading.Thread(target=lambda: loaded.update(wrk(url, seconds=window, headers=headers)))
            load.start()
            time.sleep(1)
            drops, per_cpu, took = [], [], []

            def mark() -> tuple[int, float, float]:
                return answered(port), time.monotonic(), cpu_seconds(proc.pid)

            c0, t0, u0 = mark()
            for _ in range(args.rounds):
                time.sleep(2)
                c1, t1, u1 = mark()
                took.append(admin_reload(port))
                c2, t2, u2 = mark()
                time.sleep(2)
                c3, t3, u3 = mark()
                before, during, after = (c1 - c0) / (t1 - t0), (c2 - c1) / (t2 - t1), (c3 - c2) / (t3 - t2)
                drops.append(during / ((before + after) / 2) - 1)
                # requests per CPU second of the gateway: what the reload costs the serving, whatever
                # else the machine runs (wrk saturates the gateway: its throughput follows its CPU)
                efficiency = [(c1 - c0) / max(u1 - u0, 1e-3), (c2 - c1) / max(u2 - u1, 1e-3), (c3 - c2) / max(u3 - u2, 1e-3)]
                per_cpu.append(efficiency[1] / ((efficiency[0] + efficiency[2]) / 2) - 1)
                print(f"throughput:          {before:8.0f} req/s before, {during:8.0f} while the reload ran, {after:8.0f} after"
                      f" ({drops[-1]:+.0%} against before/after); per CPU second {per_cpu[-1]:+.0%}")
                c0, t0, u0 = c3, t3, u3
            load.join()
            print(f"reload:              {alone:6.2f} s alone, {statistics.median(took):.2f} s under load (wrk -c32, median of {args.rounds})")
            print(f"throughput drop:     {statistics.median(drops):+.0%} median of {args.rounds} reloads under load (each against the 2 s before and after),"
                  f" {statistics.median(per_cpu):+.0%} in requests per CPU second of the gateway;"
                  f" whole wrk run: p99 {loaded['p99_ms']:.1f} ms, non-2xx {loaded['non2xx']}")

            sizes = []
            for _ in range(args.reloads):
                admin_reload(port)
                time.sleep(2)  # the previous runtime retired (shutdown_grace 1 s)
                sizes.append(rss_mib(proc.pid))
            print(f"RSS after {args.reloads} reloads: " + ", ".join(f"{s:.0f}" for s in sizes)
                  + f" MiB (last vs first {sizes[-1] / sizes[0] - 1:+.0%})")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
