"""Plain proxying (no auth) vs calling the same native service directly, with wrk.

Run by hand:  python bench/bench_proxy.py [seconds]
"""

from __future__ import annotations

import sys

from common import gateway, show, upstream, wrk


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with upstream() as native:
        direct = wrk(f"{native}/hello", seconds)
        with gateway({"apis": [{"name": "bench", "version": "1.0", "endpoint": native}]}) as gw:
            wrk(f"{gw}/gateway/bench/1.0/hello", 2)  # warm the pool
            proxied = wrk(f"{gw}/gateway/bench/1.0/hello", seconds)
    show("direct to the native service", direct)
    show("through microgw (no auth)", proxied)
    print(f"ratio proxied/direct: {proxied['rps'] / direct['rps']:.2f}")


if __name__ == "__main__":
    main()
