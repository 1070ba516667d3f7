"""A small aiohttp native service for benchmarks: GET /hello answers a short JSON body; GET
/accounts?kb=N a JSON document of about N KB (bench/masking.py); GET /blob?kb=N bytes of that size."""

import json
import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=b'{"hello":"world"}', content_type="application/json")


def accounts_document(kb: int) -> bytes:
    """Accounts with card numbers, CVVs and SSNs in notes, about ``kb`` KB of JSON (deterministic)."""
    accounts, size, index = [], 2, 0
    while size < kb * 1024:
        account = {
            "id": index,
            "owner": f"Owner {index}",
            "card": {"number": f"4111{index:012d}", "cvv": f"{index % 1000:03d}", "expiry": "12/30"},
            "address": {"street": f"{index} Main Street", "city": "Springfield", "zip": f"{10000 + index}"},
            "note": f"ssn {index % 900 + 100:03d}-45-6789",
            "history": [{"amount": index * 3 + k, "card": f"4111{index:012d}"} for k in range(2)],
        }
        accounts.append(account)
        size += len(json.dumps(account)) + 1
        index += 1
    return json.dumps({"accounts": accounts}).encode()


_DOCUMENTS: dict[int, bytes] = {}
_BLOBS: dict[int, bytes] = {}


async def accounts(request: web.Request) -> web.Response:
    kb = int(request.query.get("kb", "10"))
    data = _DOCUMENTS.get(kb) or _DOCUMENTS.setdefault(kb, accounts_document(kb))
    return web.Response(body=data, content_type="application/json")


async def blob(request: web.Request) -> web.Response:
    kb = int(request.query.get("kb", "10"))
    data = _BLOBS.setdefault(kb, b"x" * (kb * 1024))
    return web.Response(body=data, content_type="application/octet-stream")


def main() -> None:
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/accounts", accounts)
    app.router.add_get("/blob", blob)
    app.router.add_get("/api/hello", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
