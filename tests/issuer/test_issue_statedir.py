"""keys/signing.py KeyStateDir: persistence, permissions, rotation, locking."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from microgw.keys.publish import jwks_document
from microgw.keys.signing import KeyStateDir, KeyStateError

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class Clock:
    """Deterministic creation times: each call is one second later."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def state(path: Path, **kw) -> KeyStateDir:
    kw.setdefault("rsa_bits", 2048)
    kw.setdefault("clock", Clock())
    return KeyStateDir(path, **kw)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_first_start_creates_one_key_with_private_permissions(tmp_path):
    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        d = tmp_path / "state"
        ring = state(d).load_or_create("RS256")
    finally:
        os.umask(old_umask)
    kid = ring.current.kid
    assert mode(d) == 0o700
    assert mode(d / f"{kid}.pem") == 0o600
    assert mode(d / "manifest.json") == 0o600
    assert mode(d / ".lock") == 0o600
    assert sorted(p.name for p in d.iterdir()) == sorted([f"{kid}.pem", "manifest.json", ".lock"])  # no temp files
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest == {
        "version": 1,
        "keys": [{"kid": kid, "alg": "RS256", "created": "2024-01-01T00:00:01+00:00", "retired": False}],
    }
    assert ring.current.private_key.key_size == 2048


def test_default_rsa_size_is_3072(tmp_path):
    ring = KeyStateDir(tmp_path / "s").load_or_create("PS256")
    assert ring.current.private_key.key_size == 3072 and ring.current.alg == "PS256"


def test_existing_dir_is_tightened(tmp_path):
    d = tmp_path / "s"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    state(d).load_or_create()
    assert mode(d) == 0o700


def test_reload_gives_same_keys(tmp_path):
    d = tmp_path / "s"
    ring = state(d).load_or_create("ES256")
    again = state(d).load_or_create("ES256")
    assert again.current.kid == ring.current.kid
    assert state(d).load().current.kid == ring.current.kid
    assert len(state(d).list()) == 1


def test_rotation_end_to_end_with_jwks(tmp_path, pyjwt_verify, jwcrypto_verify):
    d = tmp_path / "s"
    sd = state(d)
    ring1 = sd.load_or_create("RS256")
    old = ring1.current
    token_old = old.signer.sign({"sub": "a"})

    ring2 = sd.add_key("RS256")
    new = ring2.current
    assert new.kid != old.kid
    assert [k.kid for k in ring2.published] == [new.kid, old.kid]
    jwks2 = jwks_document(ring2)
    token_new = new.signer.sign({"sub": "b"})
    assert pyjwt_verify(token_old, jwks2, "RS256") == {"sub": "a"}  # still verifies until retired
    assert jwcrypto_verify(token_new, jwks2, "RS256") == {"sub": "b"}

    reloaded = state(d).load()  # another process sees the rotation
    assert reloaded.current.kid == new.kid

    ring3 = sd.retire(old.kid)
    jwks3 = jwks_document(ring3)
    assert [k["kid"] for k in jwks3["keys"]] == [new.kid]
    with pytest.raises(LookupError):
        pyjwt_verify(token_old, jwks3, "RS256")
    assert pyjwt_verify(token_new, jwks3, "RS256") == {"sub": "b"}
    records = {r.kid: r.retired for r in state(d).list()}
    assert records == {old.kid: True, new.kid: False}
    assert sd.retire(old.kid).current.kid == new.kid  # retiring twice is harmless
    assert state(d).load_or_create("RS256").current.kid == new.kid  # restart keeps the new key


def test_refuse_retiring_only_active_key_or_unknown_kid(tmp_path):
    sd = state(tmp_path / "s")
    ring = sd.load_or_create()
    with pytest.raises(KeyStateError, match="only active"):
        sd.retire(ring.current.kid)
    with pytest.raises(KeyStateError, match="no managed key"):
        sd.retire("x" * 43)
    with pytest.raises(KeyStateError):
        state(tmp_path / "never-created").retire("x" * 43)


def test_changed_algorithm_adds_a_key(tmp_path):
    sd = state(tmp_path / "s")
    rs = sd.load_or_create("RS256")
    both = sd.load_or_create("EdDSA")
    assert both.current.alg == "EdDSA"
    assert {k.alg for k in both.published} == {"RS256", "EdDSA"}
    assert both.signing_key("RS256").kid == rs.current.kid
    assert len(sd.load_or_create("RS256").published) == 2  # an active RS256 key exists: nothing added


@pytest.mark.parametrize("alg", ["ES384", "ES512", "PS512", "EdDSA"])
def test_managed_algorithms_verify(tmp_path, alg, pyjwt_verify):
    ring = state(tmp_path / "s").load_or_create(alg)
    assert pyjwt_verify(ring.current.signer.sign({"a": alg}), jwks_document(ring), alg) == {"a": alg}


def test_unmanaged_algorithm_refused(tmp_path):
    with pytest.raises(ValueError):
        state(tmp_path / "s").load_or_create("HS256")
    with pytest.raises(ValueError):
        KeyStateDir(tmp_path / "s", rsa_bits=1024)


def test_empty_dir_load_refused(tmp_path):
    with pytest.raises(KeyStateError):
        state(tmp_path / "s").load()


def test_passphrase_protects_key_files(tmp_path):
    d = tmp_path / "s"
    kid = state(d, passphrase=b"pw").load_or_create("ES256").current.kid
    assert b"ENCRYPTED PRIVATE KEY" in (d / f"{kid}.pem").read_bytes()
    assert state(d, passphrase=b"pw").load().current.kid == kid
    assert state(d, passphrase="pw").load().current.kid == kid  # str is taken as UTF-8
    with pytest.raises(KeyStateError, match="cannot be loaded"):
        state(d, passphrase=b"wrong").load()
    with pytest.raises(KeyStateError):
        state(d).load()


def test_corruption_is_reported_not_repaired(tmp_path):
    d = tmp_path / "s"
    sd = state(d)
    kid = sd.load_or_create().current.kid
    manifest = (d / "manifest.json").read_bytes()

    (d / "manifest.json").write_text("{not json")
    with pytest.raises(KeyStateError, match="not valid JSON"):
        sd.load_or_create()
    (d / "manifest.json").write_text(json.dumps({"version": 2, "keys": []}))
    with pytest.raises(KeyStateError, match="version 1"):
        sd.load()
    (d / "manifest.json").write_text(json.dumps({"version": 1, "keys": [{"kid": "../etc", "alg": "RS256"}]}))
    with pytest.raises(KeyStateError, match="invalid kid"):
        sd.load()
    (d / "manifest.json").write_bytes(manifest)

    pem = (d / f"{kid}.pem").read_bytes()
    other = state(tmp_path / "other").load_or_create().current.kid
    (d / f"{kid}.pem").write_bytes((tmp_path / "other" / f"{other}.pem").read_bytes())
    with pytest.raises(KeyStateError, match="different key"):
        sd.load()
    (d / f"{kid}.pem").unlink()
    with pytest.raises(KeyStateError, match="missing"):
        sd.load_or_create()
    (d / f"{kid}.pem").write_bytes(pem)
    assert sd.load().current.kid == kid


def test_version_marker_changes_on_rotation(tmp_path):
    sd = state(tmp_path / "s")
    assert sd.version() is None
    sd.load_or_create()
    v1 = sd.version()
    sd.add_key()
    assert sd.version() != v1 and sd.version() is not None


def test_concurrent_threads_create_one_key(tmp_path):
    d = tmp_path / "s"
    barrier = threading.Barrier(8)
    kids: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            kids.append(KeyStateDir(d, rsa_bits=2048).load_or_create("RS256").current.kid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(kids)) == 1 and len(kids) == 8
    assert len(KeyStateDir(d).list()) == 1
    assert len(list(d.glob("*.pem"))) == 1


def test_concurrent_processes_create_one_key(tmp_path):
    d = tmp_path / "s"
    code = (
        "import os, sys\n"
        "from microgw.keys.signing import KeyStateDir\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"  # every process waits here, then all start together
        f"print(KeyStateDir({str(d)!r}, rsa_bits=2048).load_or_create('RS256').current.kid)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outputs)) == 1
    assert len(KeyStateDir(d).list()) == 1
    assert len(list(d.glob("*.pem"))) == 1
