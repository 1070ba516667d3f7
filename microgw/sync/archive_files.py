"""APIs from the vendor's exported archives (``microgw start -a a.zip,b.zip`` / ``archive_file``)."""

from __future__ import annotations

from microgw.config.errors import ConfigError, ConfigProblem
from microgw.config.model import Settings


def load_archive_files(settings: Settings) -> list[tuple[str, dict]]:
    """Each archive as an overlay document ``{"apis": [...]}``; a bad archive stops the start."""
    if not settings.archive_files:
        return []
    from microgw.sync.archive import ArchiveError, load_archive

    skip = bool(settings.raw.get("archive_skip_unsupported", False))
    overlays = []
    problems = []
    for index, path in enumerate(settings.archive_files):
        try:
            content = load_archive(path, skip_unsupported=skip)
        except ArchiveError as exc:
            problems.append(ConfigProblem(path, "", str(exc)))
            continue
        except OSError as exc:
            problems.append(ConfigProblem(path, "", f"cannot read the archive ({exc.__class__.__name__})"))
            continue
        overlays.append((f"archive {path}", {"apis": content.apis}))
    if problems:
        raise ConfigError(problems)
    return overlays
