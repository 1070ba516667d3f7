"""APIs from the vendor's exported archives (``microgw start -a a.zip,b.zip`` / ``archive_file``)."""

from __future__ import annotations

import logging
from typing import Mapping

from microgw.config.errors import ConfigError, ConfigProblem
from microgw.config.model import Settings

log = logging.getLogger("microgw.sync")


def load_archive_files(settings: Settings) -> list[tuple[str, dict]]:
    """Each archive as an overlay document ``{"apis": [...], "applications": [...], "aliases": {...}}``
    (its aliases only where the settings do not define one of that name); a bad archive stops the start."""
    if not settings.archive_files:
        return []
    from microgw.sync.archive import ArchiveError, load_archive

    skip = bool(settings.raw.get("archive_skip_unsupported", False))
    overlays = []
    problems = []
    for index, path in enumerate(settings.archive_files):
        try:
            content = load_archive(path, skip_unsupported=skip, secrets=settings.raw.get("vendor_secrets") or {})
        except ArchiveError as exc:
            problems.append(ConfigProblem(path, "", str(exc)))
            continue
        except OSError as exc:
            problems.append(ConfigProblem(path, "", f"cannot read the archive ({exc.__class__.__name__})"))
            continue
        for warning in content.warnings:
            log.warning("archive %s: %s", path, warning)
        # endpoint_rewrites are applied by the loader, with the settings being loaded
        document: dict = {"apis": with_ids(content.apis, content.ids)}
        if content.applications:
            document["applications"] = content.applications
        written = settings.raw.get("aliases") or {}
        aliases = {name: alias for name, alias in content.aliases.items() if name not in written}  # the YAML's win
        if aliases:
            document["aliases"] = aliases
        overlays.append((f"archive {path}", document))
    if problems:
        raise ConfigError(problems)
    return overlays


def with_ids(apis: list[dict], ids: Mapping[tuple[str, str], str]) -> list[dict]:
    """Keep the vendor's API ids: applications register for APIs by them."""
    from microgw.config.ids import version_text

    return [{**api, "id": ids[key]} if (key := (api["name"], version_text(api["version"]))) in ids else api for api in apis]

