"""What a user reads when the configuration is wrong: plain words, the line of the mistake, in order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from microgw.config.errors import ConfigError
from support.configs import load_settings, problems, write


def refused(tmp_path, text: str, **kwargs) -> tuple[str, list[str]]:
    path = write(tmp_path, "c.yml", text)
    with pytest.raises(ConfigError) as exc:
        load_settings([path], environ=kwargs.pop("environ", {}), **kwargs)
    return str(path), problems(exc)


def test_values_of_the_wrong_kind_are_said_in_words_without_regexes(tmp_path):
    path, found = refused(tmp_path, "ports:\n  http: 99999\nserver:\n  max_body_size: 10x\n  host: [a]\nlogging:\n  level: loud\n")
    assert found == [
        f"{path}:2 at ports.http: 99999 is greater than the maximum of 65535",
        f"{path}:4 at server.max_body_size: '10x' is not a size: bytes, or a number with k, m or g (512k, 10m, 1g)",
        f"{path}:5 at server.host: expected a text, got a list",
        f"{path}:7 at logging.level: 'loud' is not one of debug, info, warning, error, critical",
    ]
    assert not any("^" in p or "(?i" in p or "'null'" in p for p in found)


def test_unknown_keys_are_reported_at_their_own_line_with_the_likely_name(tmp_path):
    path, found = refused(
        tmp_path,
        "ports:\n  http: 1\napis:\n  - name: a\n    version: '1'\n    mock: {}\n    polcies: {}\nloging: {level: info}\nserver:\n  bogus: 1\n",
    )
    assert found == [
        f"{path}:7 at apis[0].polcies: unknown key 'polcies'; did you mean 'policies'?",
        f"{path}:8 at loging: unknown key 'loging'; did you mean 'logging'?",
        f"{path}:10 at server.bogus: unknown key 'bogus' (known keys: body_timeout, header_timeout, host, "
        "idle_timeout, max_body_size, max_connections, max_header_size, max_headers, public_urls, shutdown_grace, "
        "upstream_connections, upstream_connections_per_api, workers)",
    ]


def test_problems_come_in_line_order_across_checks(tmp_path):
    # sorted by path these would read apis, ports, server: the reader wants the file's order
    path, found = refused(tmp_path, "server: {host: [a]}\napis:\n  - {name: a, version: '1', mock: {}, x: 1}\nports: {http: x}\n")
    assert [p.split(" at ")[0] for p in found] == [f"{path}:1", f"{path}:3", f"{path}:4"], found


def test_an_empty_file_is_an_error(tmp_path):
    path, found = refused(tmp_path, "# only a comment\n")
    assert found == [f"{path}: the file holds no settings (it is empty or only comments)"]


def test_a_typo_in_an_alias_variable_is_reported(tmp_path):
    path = write(tmp_path, "c.yml", "aliases:\n  petstore: {type: simple, value: 'http://127.0.0.1:1'}\napis:\n  - {name: p, version: '1', endpoint: '${petstore}/x'}\n")
    loaded = load_settings([path], environ={"mcgw_aliases_petstor_value": "http://10.0.0.5"})
    assert (
        "environment variable mcgw_aliases_petstor_value sets alias 'petstor', which no file defines and no API uses; "
        "did you mean 'petstore' (mcgw_aliases_petstore_value)?"
    ) in loaded.warnings
    clean = load_settings([path], environ={"mcgw_aliases_petstore_value": "http://10.0.0.5"})
    assert not [w for w in clean.warnings if "alias" in w]


def test_no_message_shows_a_raw_regex(tmp_path):
    # every pattern of the configuration schemas, broken once: the message says what was expected in words
    path, found = refused(
        tmp_path,
        "apis:\n  - {id: '-bad', name: 'a/b', version: '1/0', endpoint: 'ftp://x', methods: [get]}\n"
        "server: {public_urls: ['ftp://x/y']}\nendpoint_rewrites: {'http://a': 'ftp://b'}\n"
        "key_store: {type: jks2, location: x}\napplications:\n  - {id: ' x', hostnames: ['a b'], apis: ['a/b/c']}\n",
    )
    assert len(found) >= 10, found
    assert not any(re.search(r"\^|\$'|\(\?i|\\\\[sS]|does not match", p) for p in found), found


def _patterns_without_words(node, path="#"):
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str) and "x-expected" not in node:
            yield path
        for key, value in node.items():
            yield from _patterns_without_words(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns_without_words(value, f"{path}/{index}")


def test_every_schema_pattern_says_in_words_what_it_expects():
    # a value refused by a pattern is explained by the pattern's x-expected; without one the user only
    # hears "does not have the expected form" (policies added later included)
    schemas = sorted((Path(__file__).parents[2] / "schemas").glob("*.schema.json"))
    assert len(schemas) >= 7
    missing = [f"{f.name}{p}" for f in schemas for p in _patterns_without_words(json.loads(f.read_text()))]
    assert not missing, f"patterns without x-expected: {missing}"
