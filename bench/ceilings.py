"""How fast can a Python process on this machine serve and proxy at all? The ceilings, beside microgw.

Run by hand (never in tests); needs wrk and nginx like bench/peers.py:

    python3 bench/ceilings.py [--seconds 6] [--rounds 3]

Measures, in alternating rounds against the same nginx upstream, with ``wrk -t1 -c32``: the four
servers of bench/ceiling_servers.py (aiohttp's low-level server and a raw asyncio+httptools server,
each answering by itself and proxying through microgw's UpstreamPool) and microgw itself (an API
without policies, and one with the jwt policy and one cached token). The gap between aio-proxy and
raw-proxy is what replacing aiohttp's server on the data plane could gain; the gap between
aio-proxy and mgw-open is what microgw's own request path costs on top of aiohttp.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, free_port, wait_http  # noqa: E402
from peers import keys, load_avg, microgw, mint, spawn, upstream_nginx, wrk  # noqa: E402

KINDS = ("aio-hello", "raw-hello", "aio-proxy", "raw-proxy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ceilings-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        key, cert = keys(folder)
        auth = {"Authorization": f"Bearer {mint(key, 1)[0]}"}
        _, upstream = upstream_nginx(folder, stack)
        targets: dict[str, tuple[str, dict]] = {}
        for kind in KINDS:
            port = free_port()
            stack.enter_context(spawn([sys.executable, str(REPO / "bench" / "ceiling_servers.py"), kind, str(port), upstream]))
            targets[kind] = (f"http://127.0.0.1:{port}/hello", {})
        _, url = microgw(folder, "mgw", upstream, cert, 1, stack)
        targets["mgw-open"] = (f"{url}/gateway/open/1.0/hello", {})
        targets["mgw-jwt"] = (f"{url}/gateway/jwt/1.0/hello", auth)
        for target, headers in targets.values():
            wait_http(target, headers=headers)
            wrk(target, 2, headers=headers)  # warm up
        samples: dict[str, list[dict]] = {name: [] for name in targets}
        loads = [load_avg()]
        names = list(targets)
        for round_no in range(args.rounds):
            for name in names[round_no % len(names):] + names[: round_no % len(names)]:
                target, headers = targets[name]
                result = wrk(target, args.seconds, headers=headers)
                samples[name].append(result)
                print(f"round {round_no + 1} {name:<10} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']:.2f}  p99 {result['p99_ms']:.2f}", file=sys.stderr)
            loads.append(load_avg())
        print(f"\n{'target':<10} {'req/s':>8} {'µs/req':>7} {'p50 ms':>7} {'p99 ms':>7}")
        for name, runs in samples.items():
            rps = statistics.median(r["rps"] for r in runs)
            print(f"{name:<10} {rps:>8.0f} {1e6 / rps:>7.1f} {statistics.median(r['p50_ms'] for r in runs):>7.2f} "
                  f"{statistics.median(r['p99_ms'] for r in runs):>7.2f}")
        print(f"\nload averages (1/5/15 min) before and after each round: {loads}")


if __name__ == "__main__":
    main()
