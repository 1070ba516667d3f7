"""Command line: argument parsing only; the work is done by config, server and the other rooms."""

from __future__ import annotations

import argparse
import re
import sys

from microgw import __version__
from microgw.config.errors import ConfigError
from microgw.config.loader import load_settings


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", action="append", default=[], metavar="FILE", required=True,
                        help="YAML settings file; repeat to layer files (later ones win)")


def _overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    if args.port is not None:
        out.setdefault("ports", {})["http"] = args.port
    if args.https_port is not None:
        out.setdefault("ports", {})["https"] = args.https_port
    if args.host is not None:
        out.setdefault("server", {})["host"] = args.host
    if args.log_level is not None:
        out.setdefault("logging", {})["level"] = args.log_level
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microgw", description="A lightweight API microgateway that secures APIs with JWTs.")
    parser.add_argument("--version", action="version", version=f"microgw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser("start", help="run the gateway in the foreground")
    _config_args(start)
    start.add_argument("-p", "--port", type=int, help="HTTP port (overrides ports.http)")
    start.add_argument("--https-port", type=int, help="HTTPS port (overrides ports.https)")
    start.add_argument("--host", help="bind address (overrides server.host)")
    start.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides logging.level")

    check = commands.add_parser("check", help="validate the configuration and exit")
    _config_args(check)
    check.set_defaults(port=None, https_port=None, host=None, log_level=None)

    hashing = commands.add_parser("hash-password", help="print a scrypt hash for users[].password")
    hashing.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    keys = commands.add_parser("keys", help="list, add or retire the issuer's managed signing keys (state_dir/keys)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    listing = key_commands.add_parser("list", help="show every key: kid, alg, created, status")
    _config_args(listing)
    adding = key_commands.add_parser("add", help="generate a key; it signs from the next start or reload (SIGHUP)")
    _config_args(adding)
    adding.add_argument("--alg", help="JWA algorithm (default: the issuer's, else RS256)")
    retiring = key_commands.add_parser("retire", help="take a key out of the JWKS; its tokens stop validating")
    retiring.add_argument("kid")
    _config_args(retiring)

    token = commands.add_parser("token", help="print a JWT signed with a PEM private key (for trying and testing)")
    token.add_argument("--key", required=True, metavar="FILE.pem", help="PEM file holding one private key")
    token.add_argument("--alg", help="JWA algorithm (default: RS256 for RSA, ES* by curve, EdDSA)")
    token.add_argument("--kid", help="key id header (default: the key's RFC 7638 thumbprint)")
    token.add_argument("--claims", metavar="JSON", help="a JSON object of claims")
    token.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                       help="one claim; VALUE is read as JSON when it parses, else as text; repeatable")
    token.add_argument("--expires-in", type=int, default=300, metavar="SECONDS", help="exp = now + SECONDS (0: no exp)")
    token.add_argument("--issuer", help="the iss claim")
    for sub in (hashing, listing, adding, retiring, token):
        sub.set_defaults(port=None, https_port=None, host=None, log_level=None)
    return parser


def _kid_args_last(argv: list[str]) -> list[str]:
    """Key ids are base64url and may start with '-': move such a ``keys retire`` kid behind ``--``."""
    if argv[:2] != ["keys", "retire"] or "--" in argv:
        return argv
    kids = [a for a in argv[2:] if a.startswith("-") and len(a) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", a)]
    return [a for a in argv if a not in kids] + (["--", *kids] if kids else [])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_kid_args_last(list(sys.argv[1:] if argv is None else argv)))
    if args.command in _TOOLS:
        try:
            return _TOOLS[args.command](args)
        except ConfigError as exc:
            _print_problems(exc)
            return 2
        except _ToolError as exc:
            print(f"microgw {args.command}: {exc}", file=sys.stderr)
            return 1
    overrides = _overrides(args)
    try:
        loaded = load_settings(args.config, overrides=overrides)
        if args.command == "check":
            from microgw.runtime import build_runtime

            build_runtime(loaded.settings)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    if args.command == "check":
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"configuration OK: {len(loaded.settings.apis)} APIs", file=sys.stderr)
        return 0
    from microgw.server import run

    return run(loaded, config_paths=args.config, overrides=overrides)


def _print_problems(exc: ConfigError) -> None:
    print(f"microgw: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


# --------------------------------------------------------------------------- tools


class _ToolError(Exception):
    """A tool command cannot do what was asked; the message is printed, exit code 1."""


def _hash_password(args: argparse.Namespace) -> int:
    from microgw.keys.passwords import hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise _ToolError("the passwords differ")
    if not password:
        raise _ToolError("the password is empty")
    print(hash_password(password))
    return 0


def _key_dir(args: argparse.Namespace):
    """The managed key directory of the configuration (``state_dir/keys``), env overrides included."""
    from pathlib import Path

    from microgw.keys.signing import KeyStateDir

    settings = load_settings(args.config).settings
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
        raise _ToolError(str(exc)) from None
    signing = _signing_kids(records)
    print(f"{'KID':<43}  {'ALG':<6}  {'CREATED':<25}  STATUS")
    for record in records:
        status = "retired" if record.retired else "signing" if record.kid in signing else "published"
        print(f"{record.kid:<43}  {record.alg:<6}  {record.created_at.isoformat(timespec='seconds'):<25}  {status}")
    if args.keys_command != "list":
        print(f"changed {folder.path}: running gateways use it after a restart or reload (SIGHUP)", file=sys.stderr)
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
    from microgw.tokens.sign import sign_jwt

    try:
        private_key = next(iter(load_keystore("PEM", args.key, None).values())).private_key
    except StoreError as exc:
        raise _ToolError(str(exc)) from None
    claims: dict = {}
    if args.claims:
        try:
            claims = json.loads(args.claims)
        except ValueError:
            raise _ToolError("--claims is not valid JSON") from None
        if not isinstance(claims, dict):
            raise _ToolError("--claims must be a JSON object")
    for item in args.claim:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise _ToolError(f"--claim {item!r}: expected NAME=VALUE")
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
        alg = args.alg or default_alg(private_key)
        kid = args.kid or jwk_thumbprint(private_key)
        print(sign_jwt(claims, private_key, alg, kid=kid))
    except ValueError as exc:
        raise _ToolError(str(exc)) from None
    return 0


_TOOLS = {"hash-password": _hash_password, "keys": _keys, "token": _token}
