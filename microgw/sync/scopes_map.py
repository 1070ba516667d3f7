"""The vendor's API scopes -> the ``scopes`` policy of microgw's YAML form.

An API's ``scopes`` list ``{name, resources: [{resourcePath, methods}], policies: [policy ids]}``;
the policies' actions are read like the API's own (each template through its policy unit or the
core importers of :mod:`microgw.sync.policies_map`). One vendor scope becomes one ``scopes`` entry
per resource (a resource carries its own methods), all with the scope's name and policies. A scope
without ``resources`` takes those the API definition gives it (``paths./x.scopes`` naming it: every
method of ``/x``; ``paths./x.post.scopes``: ``POST /x``); one with neither applies to none and is
dropped with a warning. Skipping an identification or authentication action of a scope fails
closed like the API's own (see ``Importer.closed``). Routing and endpoint fields in a
scope's policies are unsupported (a scope changes policies, not where the API is).
"""

from __future__ import annotations

from typing import Any

from microgw.sync import policies_map as pm


def _resources(scope: dict) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for item in scope.get("resources") or ():
        if isinstance(item, str):
            found.append((item, []))
        elif isinstance(item, dict):
            path = item.get("resourcePath") or item.get("path")
            methods = [str(m).upper() for m in item.get("methods") or () if isinstance(m, str) and m.strip()]
            if isinstance(path, str) and path:
                found.append((path if path.startswith("/") else "/" + path, methods))
    return found


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _definition_resources(definition: dict | None, scope: str) -> list[tuple[str, list[str]]]:
    """(path, methods; none: all) of the API definition's paths that name ``scope``."""
    paths = (definition or {}).get("paths")
    found: list[tuple[str, list[str]]] = []
    for path, item in (paths.items() if isinstance(paths, dict) else ()):
        if not isinstance(item, dict) or not isinstance(path, str) or not path.startswith("/"):
            continue
        if scope in (item.get("scopes") or ()):
            found.append((path, []))
            continue
        methods = [m.upper() for m in _HTTP_METHODS if isinstance(item.get(m), dict) and scope in (item[m].get("scopes") or ())]
        if methods:
            found.append((path, methods))
    return found


def import_scope(parent: pm.Importer, name: str, scope: dict, actions: list[pm.Action], *, definition: dict | None = None) -> list[dict[str, Any]]:
    """The ``scopes`` entries of one vendor scope; problems, warnings and fail-closed skips go to ``parent``."""
    importer = pm.Importer(f"{parent.api}: scope {name!r}", parent.skip_unsupported, secrets=parent.secrets)
    for action in actions:
        importer.add(action)
    importer.finish()
    parent.problems += importer.problems
    parent.warnings += importer.warnings
    parent.closed += importer.closed
    if importer.fields:
        parent.unsupported(f"scope {name!r}", f"routing or protocol settings ({', '.join(sorted(importer.fields))}) in a scope")
    if not importer.policies:
        return []
    resources = _resources(scope) or _definition_resources(definition, name)
    if not resources:
        parent.warnings.append(f"{parent.api}: scope {name!r} names no resource; its policies apply nowhere and were dropped")
        return []
    entries = []
    for path, methods in resources:
        entry: dict[str, Any] = {"name": name, "resources": [path.split("?", 1)[0]]}
        if methods:
            entry["methods"] = methods
        entry["policies"] = importer.policies
        entries.append(entry)
    return entries
