"""End to end: the CLI, HTTPS listeners, env overrides, admin endpoints, probes."""

from __future__ import annotations

import base64
import ssl

import aiohttp

from support import basic_auth
from support.gateway import REPO, run_microgw, write_config
from support.stores import write_pkcs12

MOCK_API = {"name": "hello", "version": "1.0", "mock": {"json": {"hi": True}}}


async def test_check_reports_every_problem_and_fails(tmp_path):
    path = write_config(tmp_path, "ports:\n  http: x\napis:\n  - name: a\n    version: '1'\n", "bad.yml")
    code, _, err = await run_microgw("check", "-c", str(path))
    assert code == 2
    assert f"{path}:2 at ports.http: 'x' is not a port number (quoted or not), or null to turn it off" in err
    assert f"{path}:4 at apis[0]: an API needs exactly one of endpoint" in err


async def test_check_accepts_a_good_config(tmp_path):
    path = write_config(tmp_path, {"apis": [MOCK_API]})
    code, _, err = await run_microgw("check", "-c", str(path))
    assert code == 0, err
    assert "configuration OK: 1 APIs" in err


async def test_start_refuses_a_broken_config(tmp_path):
    path = write_config(tmp_path, "apis: [{name: a}]\n")
    code, _, err = await run_microgw("start", "-c", str(path))
    assert code == 2
    assert "apis[0]" in err


async def test_version(tmp_path):
    from microgw import __version__

    code, out, _ = await run_microgw("--version")
    assert code == 0 and out.strip() == f"microgw {__version__}"


async def test_env_override_and_encoded_admin_password(gateway, client):
    gw = await gateway(
        {"admin": {"user": "ops", "password": "{encoded}" + base64.b64encode(b"s3cret").decode()}, "apis": [MOCK_API]},
        env={"mcgw_extended_settings_apiKeyHeader": "X-From-Env", "mcgw_logging_level": "debug"},
    )
    async with client.get(f"{gw.http}/rest/microgateway/settings") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith('Basic realm="microgw-admin"')
    async with client.get(f"{gw.http}/rest/microgateway/settings", headers=basic_auth("ops", "wrong")) as resp:
        assert resp.status == 401
    async with client.get(f"{gw.http}/rest/microgateway/settings", headers=basic_auth("ops", "s3cret")) as resp:
        assert resp.status == 200
        settings = await resp.json()
    assert settings["extended_settings"]["apiKeyHeader"] == "X-From-Env"
    assert settings["logging"]["level"] == "debug"
    assert settings["admin"]["password"] == "********"
    # probes never ask for credentials
    async with client.get(f"{gw.http}/rest/microgateway/health") as resp:
        assert resp.status == 200
    async with client.get(f"{gw.http}/rest/microgateway/ready") as resp:
        assert resp.status == 200 and (await resp.json())["ready"] is True


async def test_status_assets_and_metrics(gateway, client):
    gw = await gateway({"apis": [MOCK_API]})
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert resp.status == 200 and await resp.json() == {"hi": True}
        assert resp.headers["Server"] == "microgw"
    async with client.get(f"{gw.http}/rest/microgateway/status") as resp:
        status = await resp.json()
    assert status["status"] == "running" and status["apis"] == 1 and status["requests"] == 1
    async with client.get(f"{gw.http}/rest/microgateway/assets") as resp:
        assets = await resp.json()
    assert assets["apis"][0]["path"] == "/gateway/hello/1.0/"
    async with client.get(f"{gw.http}/rest/microgateway/metrics") as resp:
        text = await resp.text()
    assert 'microgw_requests_total{api="hello",version="1.0",status="200"} 1' in text
    assert "\nmicrogw_ready 1\n" in text and "\nmicrogw_degraded 0\n" in text


async def test_https_with_pem_keystore(gateway, client, ca, tmp_path, upstream):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    gw = await gateway(
        {
            "key_store": {"type": "PEM", "location": "server.pem"},
            "apis": [{"name": "echo", "version": "1", "endpoint": f"{upstream.url}/echo"}],
        },
        expect=("http", "https"),
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with client.get(f"{gw.https}/gateway/echo/1/x", ssl=context) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["headers"]["x-forwarded-proto"] == "https"
    # an untrusting client refuses the gateway's certificate
    try:
        async with client.get(f"{gw.https}/gateway/echo/1/x") as resp:
            raise AssertionError("expected a certificate error")
    except aiohttp.ClientConnectorCertificateError:
        pass


async def test_https_with_pkcs12_keystore_and_https_only_api(gateway, client, ca, tmp_path):
    cert = ca.issue_cert("127.0.0.1")
    write_pkcs12(cert, tmp_path / "server.p12", b"changeit", name=b"gateway")
    gw = await gateway(
        {
            "key_store": {"type": "PKCS12", "location": "server.p12", "password": "changeit"},
            "apis": [{**MOCK_API, "protocols": ["https"]}],
        },
        expect=("http", "https"),
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with client.get(f"{gw.https}/gateway/hello/1.0/", ssl=context) as resp:
        assert resp.status == 200
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert resp.status == 403


async def test_wrong_keystore_password_is_a_config_error(tmp_path, ca):
    cert = ca.issue_cert("127.0.0.1")
    write_pkcs12(cert, tmp_path / "server.p12", b"right")
    secret = "Zq9-never-shown"
    path = write_config(
        tmp_path,
        {"ports": {"https": 0}, "key_store": {"type": "PKCS12", "location": "server.p12", "password": secret}, "apis": [MOCK_API]},
    )
    code, _, err = await run_microgw("start", "-c", str(path))
    assert code == 2
    assert "key_store" in err and "server.p12" in err
    assert secret not in err


async def test_check_validates_the_https_key_store(tmp_path):
    for store, expected in (
        ({"type": "PEM", "location": "missing.pem"}, "missing.pem: file not found"),
        ({"type": "JKS", "location": "k.jks", "password": "x"}, "keytool -importkeystore"),
    ):
        path = write_config(tmp_path, {"ports": {"http": 0, "https": 0}, "key_store": store})
        code, _, err = await run_microgw("check", "-c", str(path))
        assert code == 2 and "at key_store" in err and expected in err, err


async def test_encoded_empty_admin_password_refuses_the_start(tmp_path):
    path = write_config(tmp_path, {"admin": {"user": "a", "password": "{encoded}"}, "apis": [MOCK_API]})
    code, _, err = await run_microgw("start", "-c", str(path))
    assert code == 2 and "admin.password" in err, err


async def test_start_and_download_settings_with_only_the_parent_options(gateway, client, tmp_path):
    parent = await gateway(REPO / "samples" / "fleet" / "parent.yml")
    child = await gateway(args=("-gw", parent.http, "-gwu", "Administrator", "-gwp", "{encoded}bWFuYWdl"))  # no -c
    async with client.get(f"{child.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "orders-demo-key"}) as resp:
        assert resp.status == 200
    out = tmp_path / "downloaded.yml"
    code, _, err = await run_microgw(
        "downloadSettings", "-gw", parent.http, "-gwu", "Administrator", "-out", str(out), env={"MCGW_API_GATEWAY_PASSWORD": "{encoded}bWFuYWdl"}
    )
    assert code == 0, err
    code, _, err = await run_microgw("check", "-c", str(out))
    assert code == 0 and "configuration OK: 2 APIs" in err, err
    code, _, err = await run_microgw("start")
    assert code == 2 and "start needs -c FILE, or -gw URL" in err


async def test_reload_command_applies_a_changed_file(gateway, client, tmp_path):
    import asyncio
    import sys

    from support.gateway import REPO

    path = write_config(tmp_path, {"admin": {"user": "ops", "password": "{encoded}" + base64.b64encode(b"pw").decode()}, "apis": [MOCK_API]}, "live.yml")
    gw = await gateway(path)
    path.write_text(path.read_text().replace("hi: true", "hi: false"))

    async def reload(password: bytes) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "microgw", "reload", "--url", gw.http, "--user", "ops", "--password-stdin",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO),
        )
        _, err = await asyncio.wait_for(proc.communicate(password + b"\n"), 30)
        return proc.returncode, err.decode()

    code, err = await reload(b"wrong")
    assert code == 1 and "401" in err
    code, err = await reload(b"pw")
    assert code == 0, err
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert await resp.json() == {"hi": False}


async def test_a_refused_reload_names_the_file_line_and_path(gateway, client, tmp_path):
    import signal

    path = write_config(tmp_path, {"apis": [MOCK_API]}, "live.yml")
    gw = await gateway(path)
    path.write_text("apis:\n  - name: hello\n    version: '1.0'\n    mock: {json: {hi: 2}}\n  - name: b\n    version: '1'\n    endpoint: 42\n")
    gw.proc.send_signal(signal.SIGHUP)
    await gw.wait_for_log("reload refused, keeping the current settings")
    await gw.wait_for_log(f"{path}:7 at apis\\[1\\].endpoint: ")
    async with client.get(f"{gw.http}/gateway/hello/1.0/") as resp:
        assert await resp.json() == {"hi": True}
