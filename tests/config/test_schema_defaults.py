"""The defaults the JSON Schemas document are the ones the code reads (each defined once, in code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from microgw.config import security as sec
from microgw.config.loader import parse_size
from microgw.config.model import DEFAULT_CONNECT_TIMEOUT, DEFAULT_HTTP_PORT, DEFAULT_READ_TIMEOUT, ServerConfig

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SERVER = ServerConfig()
JWKS = sec.JwksTuning()

CASES = {
    ("security", "clock_skew"): sec.DEFAULT_CLOCK_SKEW,
    ("security", "max_token_length"): sec.DEFAULT_MAX_TOKEN_LENGTH,
    ("security", "token_cache_entries"): sec.DEFAULT_CACHE_ENTRIES,
    ("issuer", "expiry_minutes"): sec.DEFAULT_EXPIRY_MINUTES,
    ("auth-server", "jwks", "refresh_interval"): JWKS.refresh_interval,
    ("auth-server", "jwks", "unknown_kid_cooldown"): JWKS.unknown_kid_cooldown,
    ("auth-server", "jwks", "timeout"): JWKS.timeout,
    ("auth-server", "jwks", "max_bytes"): JWKS.max_bytes,
    ("config", "ports", "http"): DEFAULT_HTTP_PORT,
    ("config", "server", "host"): SERVER.host,
    ("config", "server", "max_body_size"): SERVER.max_body_size,
    ("config", "server", "max_header_size"): SERVER.max_header_size,
    ("config", "server", "max_headers"): SERVER.max_headers,
    ("config", "server", "idle_timeout"): SERVER.idle_timeout,
    ("config", "server", "shutdown_grace"): SERVER.shutdown_grace,
    ("config", "server", "upstream_connections"): SERVER.upstream_connections,
    ("config", "server", "workers"): SERVER.workers,
    ("api", "timeouts", "connect"): DEFAULT_CONNECT_TIMEOUT,
    ("api", "timeouts", "read"): DEFAULT_READ_TIMEOUT,
}


def documented_default(schema: str, *names: str) -> str:
    node = json.loads((SCHEMAS / f"{schema}.schema.json").read_text(encoding="utf-8"))
    for name in names:
        node = node["properties"][name]
    match = re.search(r"\(default ([^);]+)[);]", node["description"])
    assert match, f"{schema}: {'.'.join(names)} documents no default"
    return match.group(1)


@pytest.mark.parametrize("where", sorted(CASES), ids=lambda w: ".".join(w))
def test_schema_documents_the_default_the_code_reads(where):
    text = documented_default(*where)
    expected = CASES[where]
    if isinstance(expected, str):
        assert text == expected
    elif where[-1] == "max_body_size":
        assert parse_size(text) == expected
    else:
        assert float(text) == expected


def test_issuer_default_algorithm_is_documented():
    node = json.loads((SCHEMAS / "issuer.schema.json").read_text(encoding="utf-8"))
    assert node["properties"]["algorithm"]["description"] == f"Default {sec.DEFAULT_ALGORITHM}."
