"""The cost of masking a 10 KB JSON answer (responseDataMasking), run by hand:

    python bench/masking.py [seconds]

1. In-process: microseconds to mask one ~10 KB JSON answer (bench/upstream_app.py's accounts
   document, 25 accounts) with typical criteria: JSONPath only (a wildcard path and a recursive
   descent filter), and JSONPath plus a regular expression; best of 5 (timeit). The orjson
   parse + dump alone is shown as the floor any JSON masking pays.
2. End to end with wrk (-t1 -c32): the same 10 KB answer through an API without masking and with
   each criteria set; the cost per answer is 1/rps(masked) - 1/rps(plain), in microseconds of the
   gateway's (single-process) time, beside p50/p99. A 10 KB binary answer through the masked API
   shows that answers no criterion covers pay nothing (they stream).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from common import gateway, show, upstream, wrk  # noqa: E402
from microgw.policies import masking  # noqa: E402
from upstream_app import accounts_document  # noqa: E402

JSONPATH = {"json": [{"path": "$.accounts[*].card.number", "mask": "XXXX"}, {"path": "$..cvv", "action": "filter"}]}
WITH_REGEX = {**JSONPATH, "regex": [{"pattern": r"\d{3}-\d{2}-\d{4}", "mask": "***-**-****"}]}


def per_call(call, number: int = 2000) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def in_process() -> None:
    body = accounts_document(10)
    print(f"in-process, one {len(body)} byte JSON answer:")
    print(f"  {'orjson loads + dumps (the floor)':<44} {per_call(lambda: orjson.dumps(orjson.loads(body))):8.1f} us")
    for label, config in (("JSONPath: [*] mask + ..cvv filter", JSONPATH), ("JSONPath + one regex", WITH_REGEX)):
        criteria = masking.parse(config).default
        masked = masking.mask_body(body, "application/json", criteria)
        assert b"4111" not in masked.split(b'"history"')[0] and b'"cvv"' not in masked
        print(f"  {label:<44} {per_call(lambda c=criteria: masking.mask_body(body, 'application/json', c)):8.1f} us")


def end_to_end(seconds: int) -> None:
    with upstream() as native:
        apis = [
            {"name": "plain", "version": "1", "endpoint": native},
            {"name": "jsonpath", "version": "1", "endpoint": native, "policies": {"responseDataMasking": JSONPATH}},
            {"name": "regex", "version": "1", "endpoint": native, "policies": {"responseDataMasking": WITH_REGEX}},
        ]
        with gateway({"apis": apis}) as gw:
            rows = {}
            for name in ("plain", "jsonpath", "regex"):
                wrk(f"{gw}/gateway/{name}/1/accounts?kb=10", seconds=2)  # warm up
                rows[name] = wrk(f"{gw}/gateway/{name}/1/accounts?kb=10", seconds=seconds)
                show(f"10 KB JSON, {name}", rows[name])
            for name in ("jsonpath", "regex"):
                cost = (1 / rows[name]["rps"] - 1 / rows["plain"]["rps"]) * 1e6
                print(f"  masking cost per answer ({name}): {cost:.0f} us")
            blob_plain = wrk(f"{gw}/gateway/plain/1/blob?kb=10", seconds=seconds)
            blob_masked = wrk(f"{gw}/gateway/jsonpath/1/blob?kb=10", seconds=seconds)
            show("10 KB binary, plain", blob_plain)
            show("10 KB binary, JSON masking (not read)", blob_masked)


if __name__ == "__main__":
    in_process()
    end_to_end(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
