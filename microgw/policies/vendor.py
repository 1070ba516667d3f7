"""Reading one of the vendor's policy actions (an archive's ``PolicyAction``) for a policy unit.

A policy that the vendor's archives express declares :class:`VendorTemplate` entries; the archive
importer (``microgw.sync``) hands each matching action to ``to_yaml`` as :class:`VendorAction` and
puts what it returns under the API's ``policies``. The reader knows the vendor's parameter shape,
``[{templateKey, values: [...]} | {templateKey, parameters: [...]}]``, and nothing of archives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


def params(items: Any) -> list[dict]:
    """The well-formed ``{templateKey, values | parameters}`` items of a parameter list."""
    if not isinstance(items, list):
        return []
    return [p for p in items if isinstance(p, dict) and isinstance(p.get("templateKey"), str)]


def values(items: list[dict], key: str) -> list[str]:
    found: list[str] = []
    for item in items:
        if item["templateKey"] == key and isinstance(item.get("values"), list):
            found += ["" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for v in item["values"]]
    return found


def first(items: list[dict], key: str) -> str | None:
    found = values(items, key)
    return found[0] if found else None


def groups(items: list[dict], key: str) -> list[list[dict]]:
    return [params(item.get("parameters")) for item in items if item["templateKey"] == key]


class Unsupported(Exception):
    """The action asks for something microgw does not do (refused, or dropped when skipping)."""


class Invalid(Exception):
    """The action is malformed."""


@dataclass
class VendorAction:
    """One action's parameters, and the warnings its import has for the user."""

    template: str
    parameters: list[dict]
    warnings: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # what it sets on the API itself (a routing template: endpoint)

    def values(self, key: str) -> list[str]:
        return values(self.parameters, key)

    def first(self, key: str) -> str | None:
        return first(self.parameters, key)

    def groups(self, key: str) -> list[list[dict]]:
        return groups(self.parameters, key)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


@dataclass(frozen=True)
class VendorTemplate:
    """A vendor policy template this policy imports: ``to_yaml`` returns the policy's YAML mapping,
    or raises :class:`Unsupported` / :class:`Invalid` with a detail that names no secret."""

    template: str  # the action's templateKey, e.g. "throttle"
    stage: str  # the vendor's stage key, for messages and export
    parameters: frozenset[str]  # the templateKeys it reads; others are ignored with a warning
    to_yaml: Callable[[VendorAction], dict[str, Any]]
