"""Instructions a microgw process spends per /gateway request, counted by valgrind: a measure the load of a
shared machine does not move (req/s and CPU time per request moved ±30 % between rounds of the same code here).

Run by hand (never in tests); needs valgrind and nginx (apt-get install -y valgrind nginx):

    python3 bench/instructions.py [--requests 3000] [--api jwt|open|jwt-401] [name=CHECKOUT ...]

Each checkout (default: this one) runs ``python -m microgw start`` under ``valgrind --tool=callgrind`` with
instrumentation off; behind the same nginx upstream, config and RS256 token as bench/peers.py it gets 400 warm-up
requests, then instrumentation is switched on (``callgrind_control -i on``) for ``--requests`` keep-alive GETs on 8
connections, off again, and the instructions counted are divided by the requests. Only user-space instructions of the
gateway count (not the kernel's socket work, not the client's): compare checkouts, not against req/s. Same code twice
gave 403.3k and 402.9k. ``jwt-401`` sends no token (the gateway's own 401 answer).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, wait_http  # noqa: E402
from peers import keys, mint, upstream_nginx, write_microgw_config  # noqa: E402

CONNECTIONS = 8


async def load(port: int, path: str, headers: dict, total: int, status: bytes) -> None:
    """``total`` GETs over CONNECTIONS kept-alive connections, each answer read whole and its status checked."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(total // CONNECTIONS):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 " + status):
                raise RuntimeError(f"unexpected answer: {head[:200]!r}")
            await reader.readexactly(int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1)))
        writer.close()

    await asyncio.gather(*(one() for _ in range(CONNECTIONS)))


def count(checkout: Path, folder: Path, name: str, upstream: str, cert: Path, api: str, headers: dict, requests: int) -> float:
    config, port = write_microgw_config(folder, name, upstream, cert)
    out = folder / f"callgrind.{name}"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p", sys.executable, "-m", "microgw", "start", "-c", str(config)]
    proc = subprocess.Popen(argv, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)},
                            stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.log", "wb"))
    path = f"/gateway/{'jwt' if api.startswith('jwt') else 'open'}/1.0/hello"
    status = b"401" if api == "jwt-401" else b"200"
    try:
        wait_http(f"http://127.0.0.1:{port}/rest/microgateway/health", timeout=300)
        asyncio.run(load(port, path, headers, 400, status))  # warm: caches, pooled connections
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        asyncio.run(load(port, path, headers, requests, status))
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    total = 0
    for dump in glob.glob(f"{out}.*"):
        found = re.search(r"^totals: (\d+)", Path(dump).read_text(), re.M)
        total += int(found.group(1)) if found else 0
    return total / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--api", choices=("jwt", "open", "jwt-401"), default="jwt")
    parser.add_argument("checkouts", nargs="*", metavar="name=CHECKOUT", help="default: this checkout, as 'this'")
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkouts) or {"this": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        key, cert = keys(folder)
        token = mint(key, 1)[0]
        _, upstream = upstream_nginx(folder, stack)
        headers = {"Authorization": f"Bearer {token}"} if args.api == "jwt" else {}
        first = None
        for name, checkout in checkouts.items():
            per = count(Path(checkout).resolve(), folder, name, upstream, cert, args.api, headers, args.requests)
            first = first or per
            print(f"{name:<12}{per / 1000:9.1f}k instructions per request  ({per / first:.3f}x {next(iter(checkouts))})", flush=True)


if __name__ == "__main__":
    main()
