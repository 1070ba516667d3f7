"""Command line: argument parsing only; the work is done by config, server and the other rooms."""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = _overrides(args)
    try:
        loaded = load_settings(args.config, overrides=overrides)
        if args.command == "check":
            from microgw.runtime import build_runtime

            build_runtime(loaded.settings)
    except ConfigError as exc:
        print(f"microgw: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.command == "check":
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"configuration OK: {len(loaded.settings.apis)} APIs", file=sys.stderr)
        return 0
    from microgw.server import run

    return run(loaded, config_paths=args.config, overrides=overrides)
