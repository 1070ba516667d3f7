"""The start-up summary: what runs, from which files, where it listens, what it serves.

An operator reading the first lines of a log should not need the YAML to know which APIs and
endpoints this process answers. Nothing secret is printed (endpoints are shown without credentials).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import TYPE_CHECKING

from microgw import __version__

if TYPE_CHECKING:
    from microgw.runtime import Runtime


def lines(runtime: Runtime, config_files: list[str], listeners: list[str], endpoint_paths: list[str], parent: str | None) -> list[str]:
    """One line each: version, configuration, listeners, APIs, built-in endpoints, state."""
    settings = runtime.settings
    files = ", ".join(os.path.abspath(f) for f in config_files) or "none (everything from the parent)"
    out = [
        f"microgw {__version__} started (pid {os.getpid()})",
        f"configuration: {files}" + (f"; settings downloaded from {redact(parent)}" if parent else ""),
        f"listening: {', '.join(listeners) or '-'}",
    ]
    apis = []
    for route in sorted(runtime.routes.values(), key=lambda r: (r.api.name, r.api.version)):
        api = route.api
        target = "mock" if api.mock is not None else redact(api.endpoint or "")
        apis.append(f"/gateway/{api.name}/{api.version}/ -> {target}")
    out.append(f"APIs ({len(apis)}): " + ("; ".join(apis) if apis else "none"))
    out.append(f"endpoints: {group_paths(endpoint_paths)}")
    out.append(f"state_dir: {settings.state_dir}; access log: {'on (' + settings.access_log_format + ')' if settings.access_log else 'off'}")
    return out


def redact(url: str) -> str:
    """An endpoint without user info or query (either may carry a credential)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url.split("?", 1)[0], flags=re.IGNORECASE)


def group_paths(paths: list[str]) -> str:
    """``/a/b/x``, ``/a/b/y`` -> ``/a/b/{x,y}``: the built-in endpoints in one readable line."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in dict.fromkeys(paths):
        head, _, leaf = path.rpartition("/")
        groups[head].append(leaf)
    parts = []
    for head, leaves in groups.items():
        parts.append(f"{head}/{leaves[0]}" if len(leaves) == 1 else f"{head}/{{{','.join(leaves)}}}")
    return " ".join(parts)
