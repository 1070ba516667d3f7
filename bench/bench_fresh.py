"""µs per *fresh* token validation (every request a cache miss + an eviction) next to a cached one.

The in-process twin of ``peers.py``'s mgw-fresh / mgw-jwt pair (issue 15: fresh >= 0.7x cached):
the same tokens (PyJWT RS256, ``iss``/``sub``/``exp``/``n``, more distinct ones than the 10,000-entry
verified-token cache holds), the same validator the runtime builds (a static key source, the default
cache), the garbage collector set as ``microgw.server`` sets it. Then the fresh path piece by piece,
each piece cycling over all tokens, so what the whole costs beyond the signature can be located.

Run by hand: ``python bench/bench_fresh.py [--tokens 12000] [--rounds 5]``. Each figure is the median
over batches of 500 items of this thread's CPU time (the machine is shared: CPU time leaves out the
waits for a core, the median the unlucky batches); say the load with them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from microgw.keys.static import StaticKeySource
from microgw import server as gateway_server
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.claims import check_time_claims
from microgw.tokens.validator import AuthServer, TokenValidator, VerifiedToken
from microgw.tokens.verify import parse, verify_signature

ISSUER = "https://idp.bench"
CACHE_ENTRIES = 10_000


def mint(key: rsa.RSAPrivateKey, count: int) -> list[str]:
    exp = int(time.time()) + 3600
    return [pyjwt.encode({"iss": ISSUER, "sub": f"user-{n}", "exp": exp, "n": n}, key, algorithm="RS256") for n in range(count)]


BATCH = 500  # items per timed batch: short enough that most batches run without being preempted


def _summary(batches: list[float]) -> float:
    """Median batch (µs per item): CPU time of this thread, so a neighbour's load shows up only as
    cache pollution, not as time the process waited for a core."""
    return statistics.median(batches) * 1e6


def per_item_us(fn, items: list, rounds: int) -> float:
    batches = []
    for _ in range(rounds):
        for i in range(0, len(items) - BATCH + 1, BATCH):
            chunk = items[i : i + BATCH]
            start = time.thread_time()
            for item in chunk:
                fn(item)
            batches.append((time.thread_time() - start) / BATCH)
    return _summary(batches)


async def per_item_us_async(fn, items: list, rounds: int) -> float:
    batches = []
    for _ in range(rounds):
        for i in range(0, len(items) - BATCH + 1, BATCH):
            chunk = items[i : i + BATCH]
            start = time.thread_time()
            for item in chunk:
                await fn(item)
            batches.append((time.thread_time() - start) / BATCH)
    return _summary(batches)


async def main(count: int, rounds: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    t0 = time.perf_counter()
    tokens = mint(key, count)
    print(f"minted {count} tokens in {time.perf_counter() - t0:.1f} s; {len(tokens[0])} chars each")
    source = StaticKeySource.from_public_key(public, source="bench")
    server = AuthServer("idp", "idp", ISSUER, (source,))

    def fresh_validator() -> TokenValidator:
        return TokenValidator([server], cache=VerifiedTokenCache(CACHE_ENTRIES))

    gc.collect()
    gc.freeze()  # as microgw.server does after start-up
    gc.set_threshold(*getattr(gateway_server, "GC_THRESHOLDS", gc.get_threshold()))
    now = time.time()
    rows: list[tuple[str, float]] = []

    # --- the whole ---------------------------------------------------------------------------------
    cached = fresh_validator()
    one = tokens[0]
    await cached.validate(one)
    rows.append(("validate, cache hit (same token)", await per_item_us_async(lambda t: cached.validate(t), [one] * count, rounds)))
    fresh = fresh_validator()
    for t in tokens:  # fill the cache: from here on every call is a miss + an eviction
        await fresh.validate(t)
    rows.append(("validate, fresh (miss + evict)", await per_item_us_async(lambda t: fresh.validate(t), tokens, rounds)))
    uncached = TokenValidator([server], cache=None)
    rows.append(("validate, no cache", await per_item_us_async(lambda t: uncached.validate(t), tokens, rounds)))
    gc.disable()
    rows.append(("validate, fresh, gc disabled", await per_item_us_async(lambda t: fresh.validate(t), tokens, rounds)))
    gc.enable()

    # --- the pieces ---------------------------------------------------------------------------------
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    parsed = [parse(t) for t in tokens]
    inputs = [(p.signing_input, p.signature) for p in parsed]
    rows.append(("  raw RSA-2048 verify (cryptography)", per_item_us(lambda i: public.verify(i[1], i[0], pkcs1, sha256), inputs, rounds)))
    vkey = source.candidates(None, "RS256")[0]
    rows.append(("  verify_signature", per_item_us(lambda p: verify_signature(p, vkey), parsed, rounds)))
    rows.append(("  parse (split, base64url, JSON, header)", per_item_us(parse, tokens, rounds)))
    rows.append(("  key candidates", per_item_us(lambda p: source.candidates(p.kid, p.alg), parsed, rounds)))
    rows.append(("  check_time_claims", per_item_us(lambda p: check_time_claims(p.claims, now, 60, True), parsed, rounds)))
    made = [
        VerifiedToken(p.claims, p.header, server, "bench", p.kid, p.alg, p.claims.get("exp"), now - 60, vkey) for p in parsed
    ]
    rows.append(("  VerifiedToken(...)", per_item_us(
        lambda p: VerifiedToken(p.claims, p.header, server, "bench", p.kid, p.alg, p.claims.get("exp"), now - 60, vkey), parsed, rounds)))
    cache: VerifiedTokenCache = VerifiedTokenCache(CACHE_ENTRIES)
    bind = object()
    keys = [(t, None, True, bind) for t in tokens]
    pairs = list(zip(keys, made))
    for k, v in pairs:
        cache.put(k, v, now + 3600, now)

    def miss_and_put(pair) -> None:
        cache.get(pair[0], now)
        cache.put(pair[0], pair[1], now + 3600, now)

    rows.append(("  cache get (miss) + put (evict)", per_item_us(miss_and_put, pairs, rounds)))

    print(f"\nload average before/after: {load}  ->  {os.getloadavg()}")
    print(f"{'case':44s} {'µs':>8s}")
    for name, us in rows:
        print(f"{name:44s} {us:8.2f}")
    whole = dict(rows)
    extra = whole["validate, fresh (miss + evict)"] - whole["  raw RSA-2048 verify (cryptography)"]
    print(f"\nfresh beyond the raw signature check: {extra:.2f} µs; fresh - cached: "
          f"{whole['validate, fresh (miss + evict)'] - whole['validate, cache hit (same token)']:.2f} µs")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=12_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    load = os.getloadavg()
    asyncio.run(main(args.tokens, args.rounds))
