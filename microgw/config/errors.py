"""Configuration errors that name the file, the path inside it, the line, and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration."""

    source: str  # a file name, "environment" or "command line"
    path: str  # e.g. "apis[2].endpoint"; "" for the document itself
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; carries every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def format_path(parts) -> str:
    """Render a JSON-pointer-like sequence as ``apis[2].endpoint``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
