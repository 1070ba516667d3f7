"""The command-line tools besides ``start`` and ``check``: one function per command, given parsed args."""

from __future__ import annotations

import argparse
import sys

from microgw.startup import Assembly


class ToolError(Exception):
    """A tool command cannot do what was asked; the message is printed, exit code 1."""


def _hash_password(args: argparse.Namespace) -> int:
    from microgw.keys.passwords import hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ToolError("the passwords differ")
    if not password:
        raise ToolError("the password is empty")
    print(hash_password(password))
    return 0


def _key_dir(args: argparse.Namespace):
    """The managed key directory of the configuration (``state_dir/keys``), env overrides included."""
    from pathlib import Path

    from microgw.keys.signing import KeyStateDir

    settings = Assembly(args.config).load().settings
    issuer = settings.issuer
    if issuer is not None and issuer.key_alias is not None:
        print(f"warning: the issuer signs with keystore key {issuer.key_alias!r}; managed keys are not used", file=sys.stderr)
    return KeyStateDir(Path(settings.state_dir) / "keys"), (issuer.algorithm if issuer is not None else "RS256")


def _keys(args: argparse.Namespace) -> int:
    from microgw.keys.signing import KeyStateError

    folder, issuer_alg = _key_dir(args)
    try:
        if args.keys_command == "add":
            folder.add_key(args.alg or issuer_alg)
        elif args.keys_command == "retire":
            folder.retire(args.kid)
        records = folder.list()
    except (KeyStateError, ValueError, OSError) as exc:
        raise ToolError(str(exc)) from None
    signing = _signing_kids(records)
    print(f"{'KID':<43}  {'ALG':<6}  {'CREATED':<25}  STATUS")
    for record in records:
        status = "retired" if record.retired else "signing" if record.kid in signing else "published"
        print(f"{record.kid:<43}  {record.alg:<6}  {record.created_at.isoformat(timespec='seconds'):<25}  {status}")
    if args.keys_command != "list":
        print(f"changed {folder.path}: running gateways using it follow within seconds (they watch it; also on restart or reload)", file=sys.stderr)
    return 0


def _signing_kids(records) -> set[str]:
    """The newest active key of each algorithm: the one an issuer of that algorithm signs with."""
    newest: dict[str, object] = {}
    for record in records:
        if not record.retired and (record.alg not in newest or record.created_at >= newest[record.alg].created_at):  # type: ignore[attr-defined]
            newest[record.alg] = record
    return {r.kid for r in newest.values()}  # type: ignore[attr-defined]


def _token(args: argparse.Namespace) -> int:
    import json
    import time

    from microgw.keys.publish import jwk_thumbprint
    from microgw.keys.signing import default_alg
    from microgw.keys.stores import StoreError, load_keystore
    from microgw.jose.sign import sign_jwt

    if args.secret_file:
        private_key = _hmac_secret(args.secret_file)
        if args.alg is not None and not args.alg.startswith("HS"):
            raise ToolError(f"--secret-file signs with HS256, HS384 or HS512, not {args.alg}")
    else:
        if args.alg is not None and args.alg.startswith("HS"):
            raise ToolError(f"{args.alg} signs with a shared secret: pass it with --secret-file FILE")
        try:
            private_key = next(iter(load_keystore("PEM", args.key, None).values())).private_key
        except StoreError as exc:
            raise ToolError(str(exc)) from None
    claims: dict = {}
    if args.claims:
        try:
            claims = json.loads(args.claims)
        except ValueError:
            raise ToolError("--claims is not valid JSON") from None
        if not isinstance(claims, dict):
            raise ToolError("--claims must be a JSON object")
    for item in args.claim:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ToolError(f"--claim {item!r}: expected NAME=VALUE")
        try:
            claims[name] = json.loads(text)
        except ValueError:
            claims[name] = text
    now = int(time.time())
    if args.issuer:
        claims["iss"] = args.issuer
    claims.setdefault("iat", now)
    claims.setdefault("nbf", now)
    if args.expires_in:
        claims.setdefault("exp", now + args.expires_in)
    try:
        if isinstance(private_key, bytes):
            alg, kid = args.alg or "HS256", args.kid
        else:
            alg = args.alg or default_alg(private_key)
            kid = args.kid or jwk_thumbprint(private_key)
        print(sign_jwt(claims, private_key, alg, kid=kid))
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return 0


def _hmac_secret(name: str) -> bytes:
    """The secret of a file (or stdin), written in base64 as in a JWT_HSA strategy; never an argument
    (command lines end up in shell histories and process lists)."""
    import base64
    import binascii

    try:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(f"cannot read the secret file {name}: {exc.__class__.__name__}") from None
    text = "".join(text.split())
    try:
        secret = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ToolError(f"the secret in {name} is not base64 (write it as in the strategy's `secret`)") from None
    if not secret:
        raise ToolError(f"the secret in {name} is empty")
    return secret


def _health(args: argparse.Namespace) -> int:
    """``health``: GET the liveness (or readiness) probe of the gateway this configuration describes.

    The port comes from the configuration with its environment overrides (``mcgw_ports_http``), so
    a container's HEALTHCHECK follows whatever port it was given. HTTPS alone is probed over HTTPS
    on loopback without verifying the certificate (it names the public host, not 127.0.0.1).
    """
    import ssl
    import urllib.error
    import urllib.request

    from microgw.startup import Assembly

    server = Assembly(args.config).load().settings.server
    if server.http_port:
        scheme, port, context = "http", server.http_port, None
    elif server.https_port:
        scheme, port, context = "https", server.https_port, ssl._create_unverified_context()  # loopback liveness only
    else:
        raise ToolError("the configuration names no fixed port (0 takes a free one): nothing to probe")
    host = "127.0.0.1" if server.host in ("0.0.0.0", "", "::") else server.host
    host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{host}:{port}/rest/microgateway/{'ready' if args.ready else 'health'}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        raise ToolError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    print(f"{url}: {status}", file=sys.stderr)
    return 0 if status == 200 else 1


def _download_settings(args: argparse.Namespace) -> int:
    """``downloadSettings``: the parent's settings as a YAML file that ``microgw start -c`` accepts."""
    import asyncio
    import os

    import yaml

    from microgw.config.secrets import ENCODED, decode_encoded
    from microgw.sync.client import DownloadError, ParentClient, ParentSettings

    if not args.gw:
        raise ToolError("name the parent gateway with -gw URL")
    password = args.gwp if args.gwp is not None else _environment("mcgw_api_gateway_password")
    if password is not None and password.startswith(ENCODED):  # as in the YAML and for start -gwp
        try:
            password = decode_encoded(password)
        except ValueError as exc:
            raise ToolError(f"the password: {exc}") from None
    apis = tuple(a.strip() for a in args.apis.split(",") if a.strip()) if args.apis else None
    try:
        client = ParentClient(ParentSettings(args.gw, args.gwu, password, apis, skip_unsupported=args.skip_unsupported_policies))
        document = asyncio.run(client.download())
    except DownloadError as exc:
        raise ToolError(str(exc)) from None
    for warning in client.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    text = "# Downloaded from " + str(client.base) + " by microgw downloadSettings.\n"
    text += "# It holds API keys and secrets: keep it private.\n"
    text += yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        counts = {k: len(v) for k, v in document.items() if isinstance(v, list)}
        print(f"wrote {args.out}: {len(document.get('apis', []))} APIs, {counts.get('applications', 0)} applications", file=sys.stderr)
    return 0


def _environment(name: str) -> str | None:
    """An environment variable by name in any letter case (shells and the vendor's docs differ)."""
    import os

    return next((value for key, value in sorted(os.environ.items()) if key.lower() == name.lower()), None)


def _reload(args: argparse.Namespace) -> int:
    """``reload``: POST /rest/microgateway/reload on a running gateway."""
    import base64
    import json
    import urllib.error
    import urllib.request

    headers = {}
    if args.user:
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else __import__("getpass").getpass("Admin password: ")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{args.user}:{password}".encode()).decode()
    request = urllib.request.Request(args.url.rstrip("/") + "/rest/microgateway/reload", method="POST", headers=headers, data=b"")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except ValueError:
            message = ""
        raise ToolError(f"the gateway answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ToolError(f"cannot reach {args.url}: {getattr(exc, 'reason', exc)}") from None
    print(f"reloaded: {body.get('apis')} APIs", file=sys.stderr)
    return 0


TOOLS = {
    "hash-password": _hash_password,
    "keys": _keys,
    "token": _token,
    "downloadSettings": _download_settings,
    "reload": _reload,
    "health": _health,
}
