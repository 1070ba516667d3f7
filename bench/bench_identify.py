"""Application identification cost: by claims, API key and address, with few and many applications.

Run by hand: ``python bench/bench_identify.py [--rounds 15] [--n 2000] [--apps 10,10000]``. Each
figure is the best of ``rounds`` interleaved rounds (the machine is shared; the minimum is the least
noisy estimate). A linear scan over all claim sets is printed beside the index as the baseline the
index exists to beat: it must stay flat as applications grow, the scan must not.
"""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Callable

from microgw.applications import Application, ApplicationIndex, parse

ISSUER = "https://idp.example.com/realms/demo"


def applications(count: int) -> tuple[Application, ...]:
    """``count`` applications the way a tenant would write them: every set shares ``iss``."""
    items = []
    for i in range(count):
        items.append({
            "id": f"app-{i:05}",
            "api_keys": [f"{secrets.token_hex(16)}-{i}"],
            "ip_ranges": [f"10.{i >> 14 & 255}.{i >> 6 & 255}.{(i & 63) * 4}/30"],
            "claim_sets": [
                {"iss": ISSUER, "sub": f"user-{i}"},
                {"iss": ISSUER, "azp": f"client-{i}", "realm_access.roles": ["orders"]},
            ],
        })
    parsed = parse(items)
    assert not parsed.problems, parsed.problems[:3]
    return parsed.applications


def token_claims(sub: str) -> dict:
    now = int(time.time())
    return {
        "iss": ISSUER, "sub": sub, "aud": ["orders-api", "account"], "exp": now + 3600, "iat": now, "nbf": now,
        "jti": "5f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "azp": "web-client",
        "scope": "openid profile orders:read orders:write", "email": "jane.doe@example.com",
        "realm_access": {"roles": ["user", "offline_access", "orders"]},
    }


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def cases(count: int) -> dict[str, tuple[Callable[[], object], float]]:
    """name -> (call, share of n to run): slow baselines run fewer times."""
    apps = applications(count)
    start = time.perf_counter()
    index = ApplicationIndex(apps)
    build_ms = (time.perf_counter() - start) * 1e3
    target = apps[count // 2]
    hit, miss = token_claims(f"user-{count // 2}"), token_claims("nobody")
    key = next(iter(target.api_keys))
    address = f"10.{(count // 2) >> 14 & 255}.{(count // 2) >> 6 & 255}.{((count // 2) & 63) * 4 + 1}"
    assert index.by_claims(hit) == (target,) and index.by_claims(miss) == ()
    assert index.by_api_key(key) is target and index.by_address(address) == (target,)
    print(f"{count:>6} applications: index built in {build_ms:.1f} ms")

    def scan() -> list:
        return [a for a in apps if any(cs.matches(hit) for cs in a.claim_sets)]

    return {
        "by_claims, match": (lambda: index.by_claims(hit), 1.0),
        "by_claims, no match": (lambda: index.by_claims(miss), 1.0),
        "by_api_key": (lambda: index.by_api_key(key), 5.0),
        "by_address": (lambda: index.by_address(address), 2.0),
        "linear scan of claim sets (baseline)": (scan, 20 / max(count, 20)),
    }


def main(rounds: int, n: int, counts: list[int]) -> None:
    table = {count: cases(count) for count in counts}
    best = {(count, name): float("inf") for count, named in table.items() for name in named}
    for _ in range(rounds):
        for count, named in table.items():
            for name, (fn, share) in named.items():
                best[count, name] = min(best[count, name], per_call_us(fn, max(1, int(n * share))))
    names = list(next(iter(table.values())))
    print(f"\n{'µs per identification':40s}" + "".join(f"{f'{c} apps':>14s}" for c in counts))
    for name in names:
        print(f"{name:40s}" + "".join(f"{best[c, name]:14.2f}" for c in counts))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--apps", default="10,10000", help="comma-separated application counts")
    args = ap.parse_args()
    main(args.rounds, args.n, [int(c) for c in args.apps.split(",")])
