"""Attack: hostile configuration inputs — a YAML alias bomb, an archive whose directory declares a
huge number of members, numeric API keys that `check` would print."""

from __future__ import annotations

import io
import time
import zipfile

from support.gateway import run_microgw

LAUGHS = """ports: {http: 0}
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
apis: [{name: m, version: "1", mock: {}}]
"""


async def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(LAUGHS)
    started = time.monotonic()
    code, out, err = await run_microgw("check", "-c", str(bomb), timeout=60)
    assert code == 2
    assert "an alias bomb" in out + err and "bomb.yml" in out + err
    assert time.monotonic() - started < 30
    recursive = tmp_path / "loop.yml"
    recursive.write_text("ports: {http: 0}\nloop: &l [1, *l]\napis: [{name: m, version: '1', mock: {}}]\n")
    code, out, err = await run_microgw("check", "-c", str(recursive))
    assert code == 2 and "recursive" in out + err


async def test_an_archive_declaring_too_many_members_is_refused_before_parsing(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(25_000):
            archive.writestr(f"m{index}", b"")
    path = tmp_path / "many.zip"
    path.write_bytes(buffer.getvalue())
    config = tmp_path / "c.yml"
    config.write_text("ports: {http: 0}\napis: [{name: m, version: '1', mock: {}}]\n")
    code, out, err = await run_microgw("check", "-c", str(config), "-a", str(path))
    assert code == 2
    assert "too many members (25000, at most 20000)" in out + err


async def test_check_never_prints_numeric_api_keys(tmp_path):
    config = tmp_path / "keys.yml"
    config.write_text(
        "ports: {http: 0}\n"
        "applications:\n"
        "  - {id: a1, name: A, api_keys: [987654321]}\n"
        "  - {id: a2, name: B, identifiers: [{key: apiKey, value: [123456789]}]}\n"
        "apis: [{name: m, version: '1', mock: {}}]\n"
    )
    code, out, err = await run_microgw("check", "-c", str(config))
    assert code == 2
    assert "api_keys[0]" in out + err and "not shown" in out + err
    assert "987654321" not in out + err and "123456789" not in out + err
