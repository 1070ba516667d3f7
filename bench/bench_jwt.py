"""End to end: wrk through a JWT-protected API vs the same API without auth, same run.

The token comes from the gateway's own issuer; the verified-token cache makes repeated validation
of the same token nearly free, which is what the target (>= 0.9x) measures.
Run by hand:  python bench/bench_jwt.py [seconds]
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import urllib.request

from common import gateway, show, upstream, wrk


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with upstream() as native, tempfile.TemporaryDirectory() as state:
        config = {
            "state_dir": state,
            "issuer": {"issuer": "bench", "https_only": False},
            "users": [{"name": "bench", "password": "{encoded}" + base64.b64encode(b"bench").decode()}],
            "apis": [
                {"name": "open", "version": "1.0", "endpoint": native},
                {"name": "jwt", "version": "1.0", "endpoint": native, "policies": {"jwt": {}}},
            ],
        }
        with gateway(config) as gw:
            request = urllib.request.Request(
                f"{gw}/rest/pub/apigateway/jwt/getJsonWebToken",
                headers={"Authorization": "Basic " + base64.b64encode(b"bench:bench").decode()},
            )
            token = json.load(urllib.request.urlopen(request))["jwt"]
            auth = {"Authorization": f"Bearer {token}"}
            wrk(f"{gw}/gateway/open/1.0/hello", 2)
            wrk(f"{gw}/gateway/jwt/1.0/hello", 2, headers=auth)
            results = []
            for _ in range(2):  # interleave to even out noise
                results.append(("no auth", wrk(f"{gw}/gateway/open/1.0/hello", seconds)))
                results.append(("JWT (cached)", wrk(f"{gw}/gateway/jwt/1.0/hello", seconds, headers=auth)))
    best = {}
    for label, result in results:
        if label not in best or result["rps"] > best[label]["rps"]:
            best[label] = result
    for label, result in best.items():
        show(label, result)
    print(f"ratio JWT/no auth: {best['JWT (cached)']['rps'] / best['no auth']['rps']:.2f}")


if __name__ == "__main__":
    main()
