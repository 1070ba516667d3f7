"""Configuration errors that name the file, the path inside it, the line, and what was expected."""

from __future__ import annotations

import re
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
        self.problems = sort_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sort_problems(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """In reading order: sources as they first appear, then by line (problems without one first)."""
    order: dict[str, int] = {}
    for problem in problems:
        order.setdefault(problem.source.split(" (document ")[0], len(order))
    return sorted(problems, key=lambda p: (order[p.source.split(" (document ")[0]], p.source, p.line or 0))


def parse_path(text: str) -> list:
    """The inverse of :func:`format_path`: ``apis[2].endpoint`` -> ``["apis", 2, "endpoint"]``."""
    parts: list = []
    for piece in re.findall(r"\[(\d+)\]|([^.\[\]]+)", text):
        parts.append(int(piece[0]) if piece[0] else piece[1])
    return parts


def format_path(parts) -> str:
    """Render a JSON-pointer-like sequence as ``apis[2].endpoint``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
