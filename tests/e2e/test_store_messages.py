"""A key store that does not open is named with the file and line that configured it, the same way
under `check` and `start`, whether HTTPS is on or not."""

from __future__ import annotations

from support.gateway import run_microgw, write_config
from support.stores import write_pkcs12

MOCK_API = {"name": "hello", "version": "1.0", "mock": {"json": {"hi": True}}}


async def test_a_wrong_pkcs12_password_is_refused_by_check_and_start_with_https_off(tmp_path, ca):
    cert = ca.issue_cert("127.0.0.1")
    write_pkcs12(cert, tmp_path / "server.p12", b"right")
    secret = "Zq9-not-the-password"
    path = write_config(
        tmp_path,
        f"ports:\n  http: 0\nkey_store:\n  type: PKCS12\n  location: server.p12\n  password: {secret}\napis:\n  - {{name: hello, version: '1.0', mock: {{}}}}\n",
    )
    expected = f"{path}:3 at key_store: {tmp_path / 'server.p12'}: cannot open PKCS12 store"
    code, _, err = await run_microgw("check", "-c", str(path))
    assert code == 2 and "the configuration has 1 problem(s):" in err and expected in err, err
    code, _, err = await run_microgw("start", "-c", str(path))
    assert code == 2 and "the configuration has 1 problem(s):" in err and expected in err, err
    assert secret not in err
