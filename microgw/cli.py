"""Command line: argument parsing only; startup assembles the settings, server runs them, tools do the rest."""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys

from microgw import __version__
from microgw.config.errors import ConfigError
from microgw.startup import Assembly


CONFIG_ENV = "MICROGW_CONFIG"  # the configuration when no -c is given (containers: start and health alike)


def _config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("-c", "--config", action="append", default=[], metavar="FILE", required=required and not os.environ.get(CONFIG_ENV),
                        help="YAML settings file; repeat to layer files (later ones win); default: $MICROGW_CONFIG (comma-separated)"
                        + ("" if required else "; optional with -gw (everything from the parent)"))


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
    if getattr(args, "workers", None) is not None:
        out.setdefault("server", {})["workers"] = args.workers
    archives = [a.strip() for value in getattr(args, "archive", None) or [] for a in value.split(",") if a.strip()]
    if archives:
        import os

        out["archive_file"] = [os.path.abspath(a) for a in archives]
    if getattr(args, "skip_unsupported_policies", False):
        out["archive_skip_unsupported"] = True
    _parent_overrides(args, out)
    return out


def _parent_overrides(args: argparse.Namespace, out: dict) -> None:
    """The vendor's -gw/-gwu/-gwp/-apis options: download settings from that parent gateway."""
    if getattr(args, "gw", None):
        out.setdefault("api_gateway", {}).update({"url": args.gw, "download_settings": True})
    if getattr(args, "ds", False):
        out.setdefault("api_gateway", {})["download_settings"] = True
    if getattr(args, "gwu", None):
        out.setdefault("api_gateway", {})["user"] = args.gwu
    if getattr(args, "gwp", None):
        out.setdefault("api_gateway", {})["password"] = args.gwp
    if getattr(args, "apis", None):
        out.setdefault("downloads", {})["apis"] = [a.strip() for a in args.apis.split(",") if a.strip()]


def _parent_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-gw", "--gateway", dest="gw", metavar="URL", help="parent gateway (host:port, http://host:5555, or .../rest/apigateway)")
    parser.add_argument("-gwu", "--gateway-user", dest="gwu", metavar="USER", help="user on the parent gateway")
    parser.add_argument("-gwp", "--gateway-password", dest="gwp", metavar="PASSWORD", help="its password (or set mcgw_api_gateway_password)")
    parser.add_argument("-apis", "--apis", dest="apis", metavar="NAMES", help="comma-separated API names to download (default all)")
    parser.add_argument("-ds", "--download-settings", dest="ds", action="store_true",
                        help="download settings from the parent in the YAML's api_gateway.url (as -gw does)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microgw", description="A lightweight API microgateway that secures APIs with JWTs.")
    parser.add_argument("--version", action="version", version=f"microgw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser("start", help="run the gateway in the foreground")
    _config_args(start, required=False)
    start.add_argument("-p", "--port", type=int, help="HTTP port (overrides ports.http)")
    start.add_argument("--https-port", type=int, help="HTTPS port (overrides ports.https)")
    start.add_argument("--host", help="bind address (overrides server.host)")
    start.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides logging.level")
    start.add_argument("--workers", type=int, metavar="N", help="gateway processes sharing the ports (overrides server.workers)")
    start.add_argument("-a", "--archive", action="append", metavar="A.zip[,B.zip]", help="load APIs from the vendor's exported archives")
    start.add_argument("--skip-unsupported-policies", action="store_true", help="load archive APIs without the policies microgw does not support")
    _parent_args(start)

    download = commands.add_parser("downloadSettings", help="download a parent gateway's settings as a YAML file for -c")
    _parent_args(download)
    download.add_argument("-out", "--out", dest="out", metavar="FILE", required=True, help="where to write the YAML ('-': stdout)")
    download.add_argument("--skip-unsupported-policies", action="store_true", help="download APIs without the policies microgw does not support")

    reload = commands.add_parser("reload", help="ask a running gateway to re-read its configuration")
    reload.add_argument("--url", default="http://127.0.0.1:4485", help="the gateway (default http://127.0.0.1:4485)")
    reload.add_argument("--user", help="admin user, when admin is configured")
    reload.add_argument("--password-stdin", action="store_true", help="read the admin password from stdin")

    check = commands.add_parser("check", help="validate the configuration (and archives) and exit")
    _config_args(check)
    check.add_argument("-a", "--archive", action="append", metavar="A.zip[,B.zip]", help="also check these archives")
    check.add_argument("--skip-unsupported-policies", action="store_true", help="as for start")
    check.set_defaults(port=None, https_port=None, host=None, log_level=None)

    hashing = commands.add_parser("hash-password", help="print a scrypt hash for users[].password")
    hashing.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    keys = commands.add_parser("keys", help="list, add or retire the issuer's managed signing keys (state_dir/keys)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    listing = key_commands.add_parser("list", help="show every key: kid, alg, created, status")
    _config_args(listing)
    adding = key_commands.add_parser("add", help="generate a key; running gateways using this state_dir sign with it within seconds")
    _config_args(adding)
    adding.add_argument("--alg", help="JWA algorithm (default: the issuer's, else RS256)")
    retiring = key_commands.add_parser("retire", help="take a key out of the JWKS; its tokens stop validating")
    retiring.add_argument("kid")
    _config_args(retiring)

    token = commands.add_parser("token", help="print a JWT signed with a PEM private key or a shared secret (for trying and testing)")
    signer = token.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", metavar="FILE.pem", help="PEM file holding one private key")
    signer.add_argument("--secret-file", metavar="FILE", help="file holding an HMAC secret in base64, as a JWT_HSA strategy's `secret` ('-': stdin); for HS256/384/512")
    token.add_argument("--alg", help="JWA algorithm (default: RS256 for RSA, ES* by curve, EdDSA; HS256 with --secret-file)")
    token.add_argument("--kid", help="key id header (default: the key's RFC 7638 thumbprint; none with --secret-file)")
    token.add_argument("--claims", metavar="JSON", help="a JSON object of claims")
    token.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                       help="one claim; VALUE is read as JSON when it parses, else as text; repeatable")
    token.add_argument("--expires-in", type=int, default=300, metavar="SECONDS", help="exp = now + SECONDS (0: no exp)")
    token.add_argument("--issuer", help="the iss claim")
    health = commands.add_parser("health", help="probe a running gateway on the port its configuration names (for container HEALTHCHECKs)")
    _config_args(health)
    health.add_argument("--ready", action="store_true", help="probe readiness (/rest/microgateway/ready) instead of liveness")
    health.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS", help="give up after this long (default 3)")
    for sub in (hashing, listing, adding, retiring, token, download, reload, health):
        sub.set_defaults(port=None, https_port=None, host=None, log_level=None)
    return parser


def _kid_args_last(argv: list[str]) -> list[str]:
    """Key ids are base64url and may start with '-': move such a ``keys retire`` kid behind ``--``."""
    if argv[:2] != ["keys", "retire"] or "--" in argv:
        return argv
    kids = [a for a in argv[2:] if a.startswith("-") and len(a) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", a)]
    return [a for a in argv if a not in kids] + (["--", *kids] if kids else [])


def main(argv: list[str] | None = None) -> int:
    """The cyclic garbage collector is off while the settings load and the runtime is built: they
    make a million objects that live as long as the process, and collecting while they were made was
    a fifth of the start-up CPU (10,000 applications: 0.16 s of 0.75 s) for nothing to free. A
    serving gateway turns it on again once started (``microgw.server._settle_gc`` collects then
    freezes what start-up made); a supervisor before it starts its workers."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if enabled:
            gc.enable()


def _main(argv: list[str] | None) -> int:
    if "start" in (sys.argv[1:] if argv is None else argv)[:1]:
        from microgw.server import hold_sighup

        hold_sighup()  # a SIGHUP while the settings load is a reload to do, not the end of the process
    parser = build_parser()
    args = parser.parse_args(_kid_args_last(list(sys.argv[1:] if argv is None else argv)))
    if getattr(args, "config", None) == [] and os.environ.get(CONFIG_ENV):
        args.config = [p.strip() for p in os.environ[CONFIG_ENV].split(",") if p.strip()]
    if args.command == "start" and not args.config and not args.gw:
        parser.error("start needs -c FILE, or -gw URL to take everything from a parent gateway")
    from microgw import tools

    if args.command in tools.TOOLS:
        try:
            return tools.TOOLS[args.command](args)
        except ConfigError as exc:
            _print_problems(exc)
            return 2
        except tools.ToolError as exc:
            print(f"microgw {args.command}: {exc}", file=sys.stderr)
            return 1
    assembly = Assembly(args.config, overrides=_overrides(args))
    try:
        loaded = assembly.check() if args.command == "check" else assembly.load()
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    if args.command == "check":
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        inactive = [f"{a.name!r} version {a.version!r}" for a in loaded.settings.apis if not a.active]
        for api in inactive:
            print(f"note: API {api} is inactive: it answers 404 until activated (isActive / active: true)", file=sys.stderr)
        summary = f" ({len(inactive)} inactive)" if inactive else ""
        print(f"configuration OK: {len(loaded.settings.apis)} APIs{summary}", file=sys.stderr)
        return 0
    from microgw.workers import WorkerRole

    if loaded.settings.server.workers > 1 and WorkerRole.from_environ() is None:
        from microgw import supervisor

        gc.enable()  # it runs for the process lifetime
        return supervisor.run(list(sys.argv[1:] if argv is None else argv), loaded.settings)
    from microgw.server import run

    return run(assembly, loaded)


def _print_problems(exc: ConfigError) -> None:
    from microgw.startup import render

    print(f"microgw: {render(exc)}", file=sys.stderr)
