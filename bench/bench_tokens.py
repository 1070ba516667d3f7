"""Token validation throughput, next to raw `cryptography` verification of the same signature.

Run by hand: ``python bench/bench_tokens.py [--rounds 40] [--n 400] [--json stdlib]``. Each figure is
the best of ``rounds`` interleaved rounds (the machine is shared, so the minimum is the least noisy
estimate). Tokens are minted with PyJWT, independent of the code under test; PyJWT's own decode is
shown for scale. ``--json stdlib`` measures the parser without the optional orjson accelerator.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Awaitable, Callable

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from microgw.keys.static import StaticKeySource
from microgw.tokens import verify
from microgw.jose.b64 import b64url_decode
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.validator import AuthServer, TokenValidator

ISSUER = "https://idp.example.com/realms/demo"


def claims() -> dict:
    now = int(time.time())
    return {
        "iss": ISSUER, "sub": "f3a1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b", "aud": ["orders-api", "account"],
        "exp": now + 3600, "iat": now, "nbf": now, "jti": "5f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "azp": "web-client", "scope": "openid profile orders:read orders:write", "app_id": "app-123",
        "email": "jane.doe@example.com", "realm_access": {"roles": ["user", "offline_access"]},
    }


def split(token: str) -> tuple[bytes, bytes]:
    head, _, sig = token.rpartition(".")
    return head.encode(), b64url_decode(sig)


def validator(key, cache: VerifiedTokenCache | None) -> TokenValidator:
    server = AuthServer("idp", "idp", ISSUER, (StaticKeySource.from_public_key(key, source="bench"),))
    return TokenValidator([server], cache=cache)


async def per_token_us(fn: Callable[[], Awaitable[object]] | Callable[[], object], n: int, is_async: bool) -> float:
    if is_async:
        start = time.perf_counter()
        for _ in range(n):
            await fn()  # type: ignore[misc]
    else:
        start = time.perf_counter()
        for _ in range(n):
            fn()
    return (time.perf_counter() - start) / n * 1e6


async def main(rounds: int, n: int, json_engine: str) -> None:
    if json_engine == "stdlib":
        verify._json_loads = verify._stdlib_json
    print(f"JSON engine: {'orjson' if verify._json_loads is verify._orjson_loads else 'stdlib'}")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rs_token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    es_token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})

    rs_input, rs_sig = split(rs_token)
    es_input, es_raw = split(es_token)
    es_der = encode_dss_signature(int.from_bytes(es_raw[:32], "big"), int.from_bytes(es_raw[32:], "big"))
    rsa_pub, ec_pub = rsa_key.public_key(), ec_key.public_key()
    pkcs1, sha256, ecdsa = padding.PKCS1v15(), hashes.SHA256(), ec.ECDSA(hashes.SHA256())

    cached = validator(rsa_pub, VerifiedTokenCache())
    await cached.validate(rs_token)  # warm the cache
    rs_uncached, es_uncached = validator(rsa_pub, None), validator(ec_pub, None)

    cases: dict[str, tuple[Callable, bool, int]] = {
        "raw RSA-2048 verify (cryptography)": (lambda: rsa_pub.verify(rs_sig, rs_input, pkcs1, sha256), False, n),
        "RS256 validate, uncached": (lambda: rs_uncached.validate(rs_token), True, n),
        "raw ECDSA P-256 verify (cryptography)": (lambda: ec_pub.verify(es_der, es_input, ecdsa), False, n // 3),
        "ES256 validate, uncached": (lambda: es_uncached.validate(es_token), True, n // 3),
        "RS256 validate, cache hit": (lambda: cached.validate(rs_token), True, n * 20),
        "PyJWT RS256 decode (for scale)": (lambda: jwt.decode(rs_token, rsa_pub, algorithms=["RS256"], audience="orders-api"), False, n // 2),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, (fn, is_async, count) in cases.items():
            best[name] = min(best[name], await per_token_us(fn, count, is_async))

    print(f"{'case':40s} {'µs/token':>10s} {'tokens/s':>12s}")
    for name, us in best.items():
        print(f"{name:40s} {us:10.2f} {1e6 / us:12,.0f}")
    rs_ratio = best["RS256 validate, uncached"] / best["raw RSA-2048 verify (cryptography)"]
    es_ratio = best["ES256 validate, uncached"] / best["raw ECDSA P-256 verify (cryptography)"]
    print(f"\nratio RS256 validate / raw verify: {rs_ratio:.2f}  (target <= 1.5)")
    print(f"ratio ES256 validate / raw verify: {es_ratio:.2f}")
    print(f"cache hit: {best['RS256 validate, cache hit']:.2f} µs  (target <= 5)")
    print(f"token length: RS256 {len(rs_token)} chars, ES256 {len(es_token)} chars")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--json", choices=["auto", "stdlib"], default="auto")
    args = ap.parse_args()
    asyncio.run(main(args.rounds, args.n, args.json))
