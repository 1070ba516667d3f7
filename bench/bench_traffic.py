"""Cost of the traffic policies against plain proxying, with wrk (issue 12).

- plain: the API proxied, no policy;
- throttle (passing): a limit so high nothing is refused — the cost of counting;
- throttle (refusing): a limit of 1 per hour — the cost of a 429 made by the gateway;
- cache hit: serviceResultCache, every request after the first answered from the cache;
- load balancer: round robin over two endpoints of the same native service;
- logInvocation: headers to a JSON-lines file.

Run by hand:  python bench/bench_traffic.py [seconds per run] [rounds]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import gateway, show, upstream, wrk


def api(name: str, native: str, policies: dict | None = None) -> dict:
    return {"name": name, "version": "1", "endpoint": native, "policies": policies or {}}


CASES = (
    ("plain proxy", "plain"),
    ("throttle, counting (2 limits)", "counted"),
    ("throttle, refusing (429)", "refused"),
    ("serviceResultCache hit", "cached"),
    ("loadBalancer round robin", "balanced"),
    ("logInvocation to a file", "logged"),
)


def main() -> None:
    """Cases alternate in ``rounds`` rounds (a busy machine shifts them all alike); medians are shown."""
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    runs: dict[str, list[dict]] = {label: [] for label, _ in CASES}
    with upstream() as native, tempfile.TemporaryDirectory() as folder:
        other = native.replace("127.0.0.1", "localhost")
        config = {
            "logging": {"transactions": {"file": str(Path(folder) / "invocations.jsonl")}},
            "apis": [
                api("plain", native),
                api("counted", native, {"throttle": {"limits": [{"requests": 1_000_000_000, "per": "1h"}, {"requests": 1_000_000_000, "per": "1h", "by": "client"}]}}),
                api("refused", native, {"throttle": {"limits": [{"requests": 1, "per": "1h"}]}}),
                api("cached", native, {"serviceResultCache": {"ttl": "1h"}}),
                api("balanced", native, {"loadBalancer": {"endpoints": [other]}}),
                api("logged", native, {"logInvocation": {"destinations": ["file"]}}),
            ],
        }
        with gateway(config) as gw:
            for _, name in CASES:
                wrk(f"{gw}/gateway/{name}/1/hello", 2)  # warm the pool (and the cache)
            for _ in range(rounds):
                for label, name in CASES:
                    runs[label].append(wrk(f"{gw}/gateway/{name}/1/hello", seconds))
    results = {label: sorted(found, key=lambda r: r["rps"])[len(found) // 2] for label, found in runs.items()}
    base = results["plain proxy"]["rps"]
    for label, result in results.items():
        show(label, result)
    print()
    for label, result in results.items():
        spread = ", ".join(f"{r['rps']:.0f}" for r in runs[label])
        print(f"{label:<38} {result['rps'] / base:5.2f} x plain   (req/s per round: {spread})")


if __name__ == "__main__":
    main()
