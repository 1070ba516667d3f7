"""Where each setting came from: defaults < files (in order) < environment < command line.

The loader keeps every source's documents (and a file's text, to find lines in) so that a problem found after
merging can still name the file and line that wrote the offending value.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from microgw.config import schema
from microgw.config.errors import ConfigError, ConfigProblem, format_path
from microgw.config.secrets import decode_encoded_values
from microgw.config.yamlfile import LineMap, load_yaml_documents

ENV_PREFIX = "mcgw_"


@dataclass
class Source:
    """One origin of settings: a YAML document, the environment, or the command line."""

    name: str
    document: dict
    lines: LineMap | None = None
    env_names: dict[tuple, str] = field(default_factory=dict)  # path -> variable, for messages
    overlay: bool = False  # merge lists of identified items by identity (downloads, archives)
    from_file: bool = False  # a YAML document: read once per start or reload, then reused

    def locate(self, parts: list) -> tuple[bool, int | None]:
        """Whether this source wrote ``parts`` (or a prefix of it), and the line when known."""
        node: Any = self.document
        for part in parts:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return False, None
        return True, (self.lines.line_of(self.document, parts) if self.lines else None)


def merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; lists and scalars from ``override`` replace those of ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return override


def _resolve_paths(document: dict, folder: Path) -> None:
    for parts in schema.path_fields(document):
        parent = document
        for part in parts[:-1]:
            parent = parent[part]
        value = parent[parts[-1]]
        if value and not Path(value).is_absolute():
            parent[parts[-1]] = str((folder / value).resolve())


def file_sources(paths: list[Path]) -> tuple[list[Source], list[ConfigProblem]]:
    """Load, decode, check and path-resolve each document of each file.

    Unreadable files and bad YAML raise ConfigError (all of them at once). Otherwise the problems
    each document has on its own come back beside the sources: ``{encoded}`` values that do not
    decode (they are decoded here, before any validation, so ``minLength`` and friends see the real
    value) and schema errors that hold whatever the other files say (see :func:`schema.validate`,
    ``partial``). The loader reports them with the problems of the merged settings.
    """
    sources: list[Source] = []
    problems: list[ConfigProblem] = []
    checks: list[ConfigProblem] = []
    for path in paths:
        try:
            docs, lines = load_yaml_documents(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not docs:  # an empty file (or only comments) is a wrong path or a truncated copy, never intended
            problems.append(ConfigProblem(str(path), "", "the file holds no settings (it is empty or only comments)"))
            continue
        for index, doc in enumerate(docs):
            name = str(path) if len(docs) == 1 else f"{path} (document {index + 1})"
            if not isinstance(doc, dict):
                problems.append(ConfigProblem(str(path), "", "a configuration document must be a mapping"))
                continue
            for parts, message in decode_encoded_values(doc):
                checks.append(ConfigProblem(name, format_path(parts), message, lines.line_of(doc, parts)))
            for parts, message in schema.validate(doc, partial=True):
                checks.append(ConfigProblem(name, format_path(parts), message, lines.line_of(doc, parts)))
            sources.append(Source(name, doc, lines, from_file=True))
    if problems:
        raise ConfigError(problems)
    for source, path in _paths_of(sources, paths):
        _resolve_paths(source.document, path.resolve().parent)
    return sources, checks


def _paths_of(sources: list[Source], paths: list[Path]):
    by_name = {str(p): p for p in paths}
    for source in sources:
        yield source, by_name[source.name.split(" (document ")[0]]


def _env_path(name: str, node_schema: dict, root: dict) -> tuple[list[str], dict, dict] | None:
    """Match ``ports_http`` to ``["ports", "http"]`` by walking the schema's property names.

    Names may themselves hold underscores (``api_gateway``), so the longest matching name wins;
    matching ignores case, as shells and the vendor's docs differ in it. References are followed,
    also into the other schema files (``issuer``, ``security_settings``). A map of user-chosen names
    takes the name as written (``aliases``, ``extended_settings``). Returns the path, the schema of
    the setting and the schema document that schema belongs to.
    """
    node_schema, root = _resolve(node_schema, root)
    props = _properties(node_schema, root)
    for prop in sorted(props, key=len, reverse=True):
        lowered = prop.lower()
        rest = name.lower()
        if rest == lowered:
            leaf, leaf_root = _resolve(props[prop][0], props[prop][1])
            return [prop], leaf, leaf_root
        if rest.startswith(lowered + "_"):
            found = _env_path(name[len(prop) + 1:], *props[prop])
            if found is not None:
                return [prop, *found[0]], found[1], found[2]
    extra = _additional(node_schema)
    if extra is None:
        return None
    extra, extra_root = _resolve(extra, root)
    if _properties(extra, extra_root):
        # a map of objects (e.g. aliases): the name is everything before a known field
        pieces = name.split("_")
        for cut in range(1, len(pieces)):
            found = _env_path("_".join(pieces[cut:]), extra, extra_root)
            if found is not None:
                return ["_".join(pieces[:cut]), *found[0]], found[1], found[2]
        return None
    return [name], extra, extra_root  # a map of values (e.g. extended_settings): any name


def _additional(node_schema: dict) -> dict | None:
    extra = node_schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _resolve(node_schema: dict, root: dict) -> tuple[dict, dict]:
    """Follow ``$ref`` (``#/$defs/x`` in the same file, or ``other.schema.json[#/$defs/x]``)."""
    seen = 0
    while isinstance(node_schema, dict) and "$ref" in node_schema and seen < 16:
        ref = node_schema["$ref"]
        document, _, pointer = ref.partition("#")
        if document:
            root = schema.schema(document.removesuffix(".schema.json"))
        node_schema = root
        for part in [p for p in pointer.split("/") if p]:
            node_schema = node_schema[part]
        seen += 1
    return node_schema, root


def _properties(node_schema: dict, root: dict) -> dict[str, tuple[dict, dict]]:
    """Property name -> (its schema, the schema document it belongs to), through refs and choices."""
    node_schema, root = _resolve(node_schema, root)
    props = {name: (sub, root) for name, sub in node_schema.get("properties", {}).items()}
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in node_schema.get(key, []):
            props.update(_properties(sub, root))
    return props


def _types(node_schema: dict, root: dict) -> set[str]:
    """Every JSON type a setting may take (through refs and choices); empty when the schema does not say."""
    node_schema, root = _resolve(node_schema, root)
    kind = node_schema.get("type")
    found = set([kind] if isinstance(kind, str) else kind or [])
    if "const" in node_schema or "enum" in node_schema:
        values = node_schema.get("enum", [node_schema.get("const")])
        found |= {"null" if v is None else "string" if isinstance(v, str) else "other" for v in values}
    for key in ("oneOf", "anyOf"):
        for sub in node_schema.get(key, []):
            found |= _types(sub, root)
    return found


def env_source(environ: Mapping[str, str] | None = None) -> tuple[Source | None, list[str]]:
    """Settings from ``mcgw_<path_joined_by_underscore>`` variables, and warnings for unknown ones.

    Values are read as YAML scalars, so ``9090`` is a number and ``true`` a boolean, as in a file;
    a setting that may be text stays the text given (a password ``1234``), and ``null`` or an empty
    value turns off a setting that may be null (``mcgw_ports_http=null``).
    """
    environ = os.environ if environ is None else environ
    document: dict = {}
    env_names: dict[tuple, str] = {}
    warnings: list[str] = []
    root = schema.schema("config")
    for variable, raw in sorted(environ.items()):
        if not variable.lower().startswith(ENV_PREFIX):
            continue
        found = _env_path(variable[len(ENV_PREFIX):], root, root)
        if not found:
            warnings.append(f"environment variable {variable} names no setting; ignored")
            continue
        parts, leaf, leaf_root = found
        types = _types(leaf, leaf_root)
        if parts in (["downloads", "apis"], ["archive_file"]):
            value: Any = [item.strip() for item in raw.split(",") if item.strip()]
        elif "string" in types and not types & {"integer", "number"}:
            value = raw  # passwords such as 1234 stay text (a port that may be quoted is still a number)
        elif "null" in types and raw.strip().lower() in ("", "null", "~"):
            value = None
        else:
            value = _scalar(raw)
        node = document
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        env_names[tuple(parts)] = variable
    if not document:
        return None, warnings
    return Source("environment", document, None, env_names), warnings


def _scalar(raw: str) -> Any:
    """Read an environment value as a YAML scalar; anything structured stays the raw text."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return raw if isinstance(value, (dict, list)) or value is None else value


def command_line_source(overrides: dict) -> Source | None:
    return Source("command line", copy.deepcopy(overrides)) if overrides else None


# Lists whose items have an identity; an overlay replaces the items it names and keeps the others.
KEYED_LISTS = {
    ("apis",): lambda item: (item.get("name"), str(item.get("version"))),
    ("applications",): lambda item: item.get("id") or item.get("applicationID"),
    ("security_settings", "auth_servers"): lambda item: item.get("id"),
}


AUTH_SERVERS = ("security_settings", "auth_servers")


def _issuer_of(item: Any) -> str | None:
    local = item.get("localIntrospectionConfig") if isinstance(item, dict) else None
    issuer = local.get("issuer") if isinstance(local, dict) else None
    return issuer if isinstance(issuer, str) and issuer else None


def overlay(base: dict, top: dict, source: str, notes: list[str]) -> dict:
    """Merge ``top`` over ``base``; keyed lists merge item by item, noting each item replaced.

    An auth server also replaces one of another id that trusts the same issuer (the issuer selects
    the keys, so two cannot coexist): e.g. a parent's ``local`` server replaces the server a child
    configured by hand to trust that parent. References to the replaced id move to the new one.
    """
    out = merge(base, {k: v for k, v in top.items() if k not in ("apis", "applications", "security_settings")})
    renamed: dict[str, str] = {}
    for path, identity in KEYED_LISTS.items():
        items = _get(top, path)
        if items is None:
            continue
        current = list(_get(out, path) or [])
        index = {identity(item): position for position, item in enumerate(current) if isinstance(item, dict)}
        issuers = {_issuer_of(item): position for position, item in enumerate(current) if _issuer_of(item)} if path == AUTH_SERVERS else {}
        for item in items:
            key = identity(item)
            if key in index:
                notes.append(f"{source} overrides {'.'.join(path)} item {key if isinstance(key, str) else '/'.join(key)}")
                current[index[key]] = item
            elif _issuer_of(item) in issuers:
                position = issuers[_issuer_of(item)]
                old = current[position].get("id")
                notes.append(f"{source} overrides {'.'.join(path)} item {old} with {key} (same issuer {_issuer_of(item)!r}); references to {old} now name {key}")
                current[position] = item
                index.pop(old, None)
                index[key] = position
                if isinstance(old, str) and isinstance(key, str):
                    renamed[old] = key
            else:
                index[key] = len(current)
                current.append(item)
        _set(out, path, current)
    security = top.get("security_settings")
    if isinstance(security, dict):
        rest = {k: v for k, v in security.items() if k != "auth_servers"}
        if rest:
            out["security_settings"] = merge(out.get("security_settings", {}), rest)
    if renamed:
        _rename_auth_servers(out, renamed)
    return out


def _rename_auth_servers(document: dict, renamed: dict[str, str]) -> None:
    """Point ``jwt.auth_servers`` and ``oauth2.auth_servers`` of APIs and ``authServerAlias`` of
    strategies at the new ids. Items are replaced by changed copies: the merged settings share
    everything else with the sources' documents, which must not change."""
    if isinstance(document.get("apis"), list):
        document["apis"] = [_renamed_api(api, renamed) for api in document["apis"]]
    if isinstance(document.get("applications"), list):
        document["applications"] = [_renamed_app(app, renamed) for app in document["applications"]]


def _renamed_api(api: Any, renamed: dict[str, str]) -> Any:
    policies = api.get("policies") if isinstance(api, dict) else None
    if not isinstance(policies, dict):
        return api
    changed = {}
    for name in ("jwt", "oauth2"):
        token = policies.get(name)
        if isinstance(token, dict) and isinstance(token.get("auth_servers"), list):
            changed[name] = {**token, "auth_servers": [renamed.get(s, s) if isinstance(s, str) else s for s in token["auth_servers"]]}
    return {**api, "policies": {**policies, **changed}} if changed else api


def _renamed_app(app: Any, renamed: dict[str, str]) -> Any:
    strategies = app.get("strategies") if isinstance(app, dict) else None
    if not isinstance(strategies, list):
        return app
    out = []
    for strategy in strategies:
        if isinstance(strategy, dict):
            keys = {key: renamed[strategy[key]] for key in ("authServerAlias", "auth_server") if isinstance(strategy.get(key), str) and strategy[key] in renamed}
            strategy = {**strategy, **keys} if keys else strategy
        out.append(strategy)
    return {**app, "strategies": out}


def _get(node: dict, path: tuple):
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(node: dict, path: tuple, value) -> None:
    """``node[path] = value``, the mappings on the way copied (they may belong to a source)."""
    for part in path[:-1]:
        child = node.get(part)
        node[part] = child = {} if child is None else dict(child) if isinstance(child, dict) else child
        node = child
    node[path[-1]] = value


def combine(sources: list[Source], notes: list[str] | None = None) -> dict:
    """The sources merged in order. The result shares what one source alone wrote with that
    source's document (a copy of everything cost a second copy of 10,000 applications for the
    process lifetime): merging never changes a document, it builds new mappings and lists where
    sources meet, and nothing changes the merged settings afterwards."""
    notes = [] if notes is None else notes
    merged: dict = {}
    for source in sources:
        merged = overlay(merged, source.document, source.name, notes) if source.overlay else merge(merged, source.document)
    return merged


def origin(sources: list[Source], parts: list) -> tuple[str, int | None, str]:
    """The last source that wrote ``parts``: its name, the line, and a path text for messages."""
    for source in reversed(sources):
        wrote, line = source.locate(parts)
        if wrote:
            variable = source.env_names.get(tuple(parts))
            return (f"environment variable {variable}" if variable else source.name), line, format_path(parts)
    return (sources[-1].name if sources else "configuration"), None, format_path(parts)
