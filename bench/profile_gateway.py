"""Where one microgw worker spends its time on the JWT-cached path: cProfile under wrk load.

Run by hand (never in tests); needs wrk and nginx, like bench/peers.py, whose set-up it reuses:

    python3 bench/profile_gateway.py [--seconds 10] [--api jwt|open] [--top 40] [--out FILE.prof]

One gateway process runs under ``python -m cProfile`` behind the same nginx upstream as peers.py;
wrk -t1 -c32 loads ``/gateway/<api>/1.0/hello`` (with one RS256 token for ``jwt``), then the gateway
is stopped with SIGINT so the profile is written, and the functions that cost most (own time and
cumulative) are printed. Absolute times are inflated by the profiler; compare shares.
"""

from __future__ import annotations

import argparse
import pstats
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, wait_http  # noqa: E402
from peers import keys, mint, upstream_nginx, write_microgw_config, wrk  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--api", choices=("jwt", "open"), default="jwt")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", help="keep the profile here (pstats format)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        key, cert = keys(folder)
        token = mint(key, 1)[0]
        _, upstream = upstream_nginx(folder, stack)
        config, port = write_microgw_config(folder, "mgw", upstream, cert)
        out = Path(args.out) if args.out else folder / "gateway.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "microgw", "start", "-c", str(config)]
        proc = subprocess.Popen(argv, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, stderr=open(folder / "mgw.log", "wb"))
        try:
            url = f"http://127.0.0.1:{port}/gateway/{args.api}/1.0/hello"
            headers = {"Authorization": f"Bearer {token}"} if args.api == "jwt" else {}
            wait_http(url, timeout=60, headers=headers)
            wrk(url, 2, headers=headers)  # warm up
            result = wrk(url, args.seconds, headers=headers)
            print(f"under the profiler: {result['rps']:.0f} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        stats = pstats.Stats(str(out))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
