"""Command-line tools for operators: the container health probe, HMAC tokens, truthful help."""

from __future__ import annotations

import base64
import socket

import jwt

from support.gateway import run_microgw, write_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_health_probes_the_port_the_configuration_names(gateway, tmp_path):
    port = free_port()
    path = write_config(tmp_path, {"ports": {"http": port}, "server": {"host": "127.0.0.1"}, "apis": []}, "probe.yml")
    await gateway(path, free_ports=False)
    code, _, err = await run_microgw("health", "-c", str(path))
    assert code == 0 and f"http://127.0.0.1:{port}/rest/microgateway/health: 200" in err, err
    code, _, err = await run_microgw("health", "--ready", env={"MICROGW_CONFIG": str(path)})  # as in the container
    assert code == 0 and "/rest/microgateway/ready: 200" in err, err
    other = free_port()  # the environment moves the port, as in a container: the probe follows it
    code, _, err = await run_microgw("health", "-c", str(path), env={"mcgw_ports_http": str(other)})
    assert code == 1 and f"127.0.0.1:{other}/rest/microgateway/health" in err, err


async def test_token_with_a_shared_secret_from_a_file(tmp_path):
    secret = b"0123456789abcdef" * 4  # long enough for HS512 too (RFC 7518 §3.2)
    (tmp_path / "secret.txt").write_text(base64.b64encode(secret).decode() + "\n")
    code, out, err = await run_microgw("token", "--secret-file", str(tmp_path / "secret.txt"), "--issuer", "me", "--claim", "sub=app")
    assert code == 0, err
    claims = jwt.decode(out.strip(), secret, algorithms=["HS256"], options={"verify_aud": False})
    assert (claims["iss"], claims["sub"]) == ("me", "app")
    assert jwt.get_unverified_header(out.strip())["alg"] == "HS256"
    code, out, err = await run_microgw("token", "--secret-file", str(tmp_path / "secret.txt"), "--alg", "HS512")
    assert code == 0 and jwt.decode(out.strip(), secret, algorithms=["HS512"])["iat"]
    code, _, err = await run_microgw("token", "--key", str(tmp_path / "secret.txt"), "--alg", "HS256")
    assert code == 1 and "--secret-file" in err
    (tmp_path / "bad.txt").write_text("not base64!!")
    code, _, err = await run_microgw("token", "--secret-file", str(tmp_path / "bad.txt"))
    assert code == 1 and "not base64" in err and "not base64!!" not in err


async def test_keys_help_says_running_gateways_follow():
    code, out, _ = await run_microgw("keys", "--help")
    assert code == 0
    assert "restart" not in out and "within seconds" in out
