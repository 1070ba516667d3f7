"""Turn YAML files, environment and command-line overrides into one validated :class:`Settings`.

Precedence: built-in defaults < files in the order given (later wins) < overlays (archives, the
parent's settings) < ``mcgw_*`` environment variables < command-line options. Every problem is
reported at once, each naming its source, the path inside it, the line when known and what was
expected; nothing starts on a broken config.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from microgw.config import schema
from microgw.config.errors import ConfigError, ConfigProblem, format_path
from microgw.config.model import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HTTP_PORT,
    DEFAULT_READ_TIMEOUT,
    AdminConfig,
    ApiConfig,
    MockConfig,
    ParentConfig,
    ServerConfig,
    Settings,
    StoreConfig,
    TransactionLogging,
)
from microgw.config import security as sec
from microgw.config import vendor_settings as vendor
from microgw.config.password_hashes import check_hash_format, is_hashed
from microgw.config.ids import api_id, version_text
from microgw.config.policy_spec import PolicyCatalog, PolicyChecks
from microgw.config.secrets import decode_encoded_values
from microgw.config.urls import parent_base, repoint
from microgw.config.sources import Source, combine, command_line_source, env_source, file_sources, merge, origin

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    warnings: tuple[str, ...]
    sources: tuple[Source, ...]

    @property
    def files(self) -> list[Source]:
        """The YAML documents these settings were loaded from, to load again without reading files."""
        return [source for source in self.sources if source.from_file]


def _transactions(data: Mapping[str, Any]) -> TransactionLogging:
    return TransactionLogging(
        enabled=bool(data.get("enabled", True)),
        file=data.get("file"),
        redact_headers=tuple(h.lower() for h in data.get("redact_headers", ())),
        redact_fields=tuple(f.lower() for f in data.get("redact_fields", ())),
        max_payload_bytes=int(data.get("max_payload_bytes", 4096)),
    )


def parse_size(value: int | str) -> int:
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(match.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]


def load_settings(
    paths: list[str | Path],
    *,
    policies: PolicyCatalog,
    environ: Mapping[str, str] | None = None,
    overrides: dict | None = None,
    overlays: list[tuple[str, dict]] | None = None,
    files: list[Source] | None = None,
) -> Loaded:
    """``overlays`` are (name, document) pairs that win over the files item by item: APIs loaded
    from archives, then settings downloaded from a parent gateway (as the vendor does).

    ``files``: the file sources of an earlier load (:attr:`Loaded.files`), used instead of reading
    the files again. A running gateway applies downloads over the YAML it was started or last
    reloaded with: a file someone is still editing neither blocks a download nor goes live unasked.

    ``policies``: the policy catalog (``microgw.policies.registry.CATALOG``); each API's policies
    are parsed into their config objects and cross-checked by it.
    """
    paths = [Path(p) for p in paths]
    problems: list[ConfigProblem] = []
    if files is None:
        files, problems = file_sources(paths)
    try:
        return _load(paths, files, problems, policies, environ, overrides, overlays)
    finally:
        for source in files:  # the node trees that found lines for messages (a load with problems)
            if source.lines is not None:
                source.lines.release()


def _load(paths: list[Path], files: list[Source], problems: list[ConfigProblem], policies: PolicyCatalog,
          environ: Mapping[str, str] | None, overrides: dict | None, overlays: list[tuple[str, dict]] | None) -> Loaded:
    env, warnings = env_source(environ)
    tail = [s for s in (env, command_line_source(overrides or {})) if s is not None]
    for source in tail:  # {encoded} values are decoded before validation, as in the files
        problems += [_problem([source], parts, message) for parts, message in decode_encoded_values(source.document)]
    overlaid: list[Source] = []
    if not problems:  # overlays merge over a sound base only
        overlaid = _overlay_sources(overlays or (), _rewrites([*files, *tail]))
    sources = [*files, *overlaid, *tail]
    notes: list[str] = []
    merged = combine(sources, notes)
    warnings = [*warnings, *notes]

    found_in_files = {(p.path, p.message) for p in problems}
    for parts, message in schema.validate(merged):
        if (format_path(parts), message) not in found_in_files:  # a file's own check told already
            problems.append(_problem(sources, parts, message))
    if problems:
        raise ConfigError(problems)

    builder = _Builder(sources, policies)
    settings = builder.settings(merged, base_dir=str(paths[0].resolve().parent) if paths else ".")
    if builder.problems:
        raise ConfigError(builder.problems)
    warnings += builder.warnings
    warnings += _unused_env_aliases(sources, merged)
    warnings += [f"user {u.name!r} has a plain-text password: for trying only, use `microgw hash-password`" for u in settings.users if not is_hashed(u.password)]
    return Loaded(settings, tuple(warnings), tuple(sources))


def _unused_env_aliases(sources: list[Source], merged: dict) -> list[str]:
    """An alias set by a ``mcgw_aliases_<name>_value`` variable that no file defines and no endpoint
    uses is almost always a typo of the name (the variable names no setting the gateway reads)."""
    import difflib

    defined = {name for s in sources if not s.env_names for name in (s.document.get("aliases") or {})}
    used = {m for api in merged.get("apis") or [] if isinstance(api, dict) for m in _ALIAS.findall(str(api.get("endpoint", "")))}
    found = []
    for source in sources:
        for path, variable in source.env_names.items():
            if len(path) < 2 or path[0] != "aliases" or path[1] in defined or path[1] in used:
                continue
            known = sorted(defined | used)
            lowered = {k.lower(): k for k in known}
            match = difflib.get_close_matches(path[1].lower(), list(lowered), n=1, cutoff=0.6)
            hint = f"; did you mean {lowered[match[0]]!r} ({variable[: len('mcgw_aliases_')]}{lowered[match[0]]}_{'_'.join(path[2:])})?" if match else f" (aliases: {', '.join(known) or 'none'})"
            found.append(f"environment variable {variable} sets alias {path[1]!r}, which no file defines and no API uses{hint}")
    return found


def _rewrites(sources: list[Source]) -> dict[str, str]:
    """``endpoint_rewrites`` of the files, environment and command line (not of the overlays)."""
    rewrites: Any = {}
    for source in sources:
        if "endpoint_rewrites" in source.document:
            rewrites = merge(rewrites, source.document["endpoint_rewrites"])
    if not isinstance(rewrites, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in rewrites.items()):
        return {}  # malformed: the schema check of the merged settings says so
    return rewrites


def _overlay_sources(overlays, rewrites: dict[str, str]) -> list[Source]:
    """Each overlay decoded, validated on its own (a bad one is refused by its name) and with its
    APIs' endpoints rewritten (``endpoint_rewrites`` of the settings being loaded, not older ones)."""
    sources = []
    for name, document in overlays:
        document = copy.deepcopy(document)  # decoding must not change the caller's (saved, fingerprinted) copy
        problems = [ConfigProblem(name, format_path(parts), message) for parts, message in decode_encoded_values(document)]
        problems += [ConfigProblem(name, format_path(parts), message) for parts, message in schema.validate(document)]
        if problems:
            raise ConfigError(problems)
        if rewrites and document.get("apis"):
            document["apis"] = repoint(document["apis"], rewrites)
        sources.append(Source(name, document, overlay=True))
    return sources


def _problem(sources: list[Source], parts: list, message: str) -> ConfigProblem:
    name, line, path = origin(sources, parts)
    return ConfigProblem(name, path, message, line)


class _Builder:
    """Builds model objects from the validated dict, collecting semantic problems."""

    def __init__(self, sources: list[Source], catalog: PolicyCatalog) -> None:
        self.sources = sources
        self.catalog = catalog
        self.api_positions: list[int] = []  # index in the merged `apis` list of each built API
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []
        self.downloading = False  # settings come from a parent too: references may resolve later
        self.server_paths: list[list] = []  # where each parsed auth server is written, in order

    def fail(self, parts: list, message: str) -> None:
        self.problems.append(_problem(self.sources, parts, message))

    def settings(self, data: dict, base_dir: str) -> Settings:
        server = self.server(data)
        key_store = self.store(data.get("key_store"), default_key_alias=(data.get("ports") or {}).get("key_alias"))
        if server.https_port is not None and key_store is None:
            self.fail(["ports", "https"], "an HTTPS port needs key_store (certificate and key)")
        logging_ = data.get("logging", {})
        admin = vendor.admin_credentials(data)
        for parts, message in vendor.no_effect(data):
            self.warn(parts, message)
        trust_store = self.store(data.get("trust_store"))
        keystores = self.aliases("keystores", data, key_store)
        truststores = self.aliases("truststores", data, trust_store)
        security = self.security(data)
        extended = MappingProxyType(dict(data.get("extended_settings", {})))
        issuer = self.issuer(data, security, keystores, extended)
        users = self.users(data)
        if admin and is_hashed(admin["password"]):
            self.check_hash(["admin" if data.get("admin") else "admin_api", "password"], admin["password"])
        applications = self.applications(data)
        apis = self.apis(data.get("apis", []), data.get("aliases", {}))
        parent = self.parent(data)
        self.downloading = parent is not None and parent.download
        strategy_servers = self.check_strategies(data.get("applications") or [], security, issuer)
        self.check_auth_servers(security, issuer, strategy_servers)
        self.check_policies(apis, security, issuer, applications)
        return Settings(
            server=server,
            apis=apis,
            key_store=key_store,
            trust_store=trust_store,
            log_level=_level(logging_.get("level", "INFO")),
            access_log=logging_.get("access_log", True),
            access_log_format=logging_.get("access_log_format", "text"),
            request_id_header=logging_.get("request_id_header", "X-Request-ID"),
            transactions=_transactions(logging_.get("transactions") or {}),
            extended_settings=extended,
            admin=AdminConfig(admin["user"], admin["password"]) if admin else None,
            raw=MappingProxyType(data),
            base_dir=base_dir,
            state_dir=data.get("state_dir") or sec.default_state_dir(),
            keystores=keystores,
            truststores=truststores,
            security=security,
            issuer=issuer,
            users=users,
            applications=applications,
            parent=parent,
            archive_files=tuple([data["archive_file"]] if isinstance(data.get("archive_file"), str) else data.get("archive_file") or ()),
        )

    def parent(self, data: dict) -> ParentConfig | None:
        gateway = data.get("api_gateway") or {}
        if not gateway.get("url"):
            if gateway.get("download_settings"):
                self.fail(["api_gateway", "download_settings"], "downloading settings needs api_gateway.url")
            return None
        try:
            parent_base(gateway["url"])
        except ValueError as exc:
            self.fail(["api_gateway", "url"], f"{exc} (expected host:port, http(s)://host:port or http(s)://host:port/rest/apigateway)")
            return None
        downloads = data.get("downloads") or {}
        apis = downloads.get("apis")
        if isinstance(apis, str):
            apis = [a.strip() for a in apis.split(",") if a.strip()]
        interval = data.get("polling_interval_secs")
        return ParentConfig(
            url=gateway["url"],
            user=gateway.get("user"),
            password=gateway.get("password"),
            download=bool(gateway.get("download_settings", False)),
            apis=tuple(apis) if apis else None,
            applications=vendor.sync_applications(data),
            polling_interval=float(interval) if interval else None,
            skip_unsupported=bool(data.get("archive_skip_unsupported", False)),
        )

    def applications(self, data: dict) -> tuple:
        from microgw.applications.parse import parse

        parsed = parse(data.get("applications", []), secrets=data.get("vendor_secrets") or {})
        for parts, message in parsed.problems:
            self.fail(["applications", *parts], message)
        for parts, message in parsed.warnings:
            name, line, path = origin(self.sources, ["applications", *parts])
            self.warnings.append(str(ConfigProblem(name, path, message, line)))
        return parsed.applications

    def aliases(self, section: str, data: dict, default: StoreConfig | None) -> Mapping[str, StoreConfig]:
        stores = {"default": default} if default else {}
        for alias, item in data.get(section, {}).items():
            stores[alias] = self.store(item)
        return MappingProxyType(stores)

    def security(self, data: dict) -> sec.SecurityConfig:
        section = data.get("security_settings") or {}
        security = sec.parse_security({k: v for k, v in section.items() if k != "auth_servers"})
        servers = []
        for index, item in enumerate(section.get("auth_servers") or []):
            where = ["security_settings", "auth_servers", index]
            try:
                servers.append(sec.parse_auth_server(item))
            except ValueError as exc:
                self.fail([*where, "localIntrospectionConfig", "description"], str(exc))
                continue
            self.server_paths.append(where)
        security = dataclasses.replace(security, auth_servers=tuple(servers))
        ids: set[str] = set()
        issuers: set[str] = set()
        for server, where in zip(security.auth_servers, self.server_paths):
            if server.id in ids:
                self.fail([*where, "id"], f"auth server id {server.id!r} is used twice")
            ids.add(server.id)
            if server.issuer and server.issuer in issuers:
                self.fail([*where, "localIntrospectionConfig", "issuer"], f"issuer {server.issuer!r} belongs to two auth servers; the issuer selects the keys")
            if server.issuer:
                issuers.add(server.issuer)
            if server.certificate_alias and server.truststore_alias is None and "trust_store" not in data and "truststores" not in data:
                self.fail([*where, "localIntrospectionConfig", "certificateAlias"], "a certificate alias needs a trust_store (or truststores and trustStoreAlias)")
            elif server.truststore_alias and server.truststore_alias not in data.get("truststores", {}) and server.truststore_alias != "default":
                self.fail([*where, "localIntrospectionConfig", "trustStoreAlias"], f"no truststore with alias {server.truststore_alias!r} (define it under truststores)")
        return security

    def check_auth_servers(self, security: sec.SecurityConfig, issuer, strategy_servers: set[str]) -> None:
        """What only a runtime build found before: keys without an issuer, servers that validate nothing."""
        own = issuer.issuer if issuer else None
        for server, where in zip(security.auth_servers, self.server_paths):
            has_keys = bool(server.jwks_uri or server.certificate_alias or server.jwks_inline or server.id in strategy_servers)
            if has_keys and not server.issuer and not (server.id == sec.LOCAL_SERVER_ID and own):
                self.fail([*where, "localIntrospectionConfig"], f"auth server {server.id!r} has keys but no issuer; tokens are matched to servers by `iss`")
            if server.introspection is not None:
                self.check_introspection(server.introspection, [*where, "remoteIntrospectionConfig"])

    def check_introspection(self, config: sec.IntrospectionConfig, where: list) -> None:
        """RFC 7662 needs an absolute http(s) endpoint and client credentials microgw can send."""
        url = config.endpoint
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
            self.fail([*where, "introspectionEndpoint"], "the introspection endpoint must be an absolute http:// or https:// URL")
        if not config.client_id:
            self.fail([*where, "clientId"], "the introspection endpoint needs client credentials: clientId and clientSecret (RFC 7662 section 2.1)")
        if not config.client_secret:
            self.fail([*where, "clientSecret"], "the introspection endpoint needs client credentials: clientId and clientSecret (RFC 7662 section 2.1)")
        elif len(config.client_secret) >= 3 and set(config.client_secret) == {"*"}:  # the vendor's export mask
            self.fail_or_warn([*where, "clientSecret"], "the client secret was masked by the export (asterisks only); give the real one")

    def check_strategies(self, items: list, security: sec.SecurityConfig, issuer) -> set[str]:
        """Each JWT_HSA strategy's auth server (``authServerAlias``, by id or name, default ``local``)
        must exist: otherwise its secret verifies nothing. Returns the ids of the servers named."""
        by_id = {s.id for s in security.auth_servers} | ({sec.LOCAL_SERVER_ID} if issuer else set())
        by_name = {s.name: s.id for s in security.auth_servers}
        named: set[str] = set()
        for index, item in enumerate(items):
            for position, strategy in enumerate((item.get("strategies") or []) if isinstance(item, dict) else []):
                if not isinstance(strategy, dict) or strategy.get("type") != "JWT_HSA":
                    continue
                key = "auth_server" if strategy.get("auth_server") else "authServerAlias"
                target = strategy.get(key) or sec.LOCAL_SERVER_ID
                found = target if target in by_id else by_name.get(target)
                if found is not None:
                    named.add(found)
                    continue
                where = ["applications", index, "strategies", position]
                if strategy.get(key):
                    self.fail_or_warn([*where, key], f"no auth server with id or name {target!r}; the strategy's secret would verify nothing")
                else:
                    self.warn(where, "no `local` auth server (no issuer section): this strategy's secret verifies nothing; name an auth server with authServerAlias")
        return named

    def warn(self, parts: list, message: str) -> None:
        name, line, path = origin(self.sources, parts)
        self.warnings.append(str(ConfigProblem(name, path, message, line)))

    def fail_or_warn(self, parts: list, message: str) -> None:
        """A reference the parent gateway may still resolve is a warning while downloads are on."""
        if self.downloading:
            self.warn(parts, message + " (it may come from the parent gateway; until then it matches nothing)")
        else:
            self.fail(parts, message)

    def check_hash(self, parts: list, stored: str) -> None:
        problem = check_hash_format(stored)
        if problem:
            self.fail(parts, problem)

    def issuer(self, data: dict, security: sec.SecurityConfig, keystores: Mapping, extended: Mapping) -> sec.IssuerConfig | None:
        https_default = not (extended.get("pg_JWT_isHTTPS") is False or str(extended.get("pg_JWT_isHTTPS", "")).lower() == "false")
        try:
            issuer = sec.parse_issuer(data.get("issuer"), security, https_default)
        except ValueError as exc:
            self.fail(["security_settings", "auth_servers"], str(exc))
            return None
        if issuer and issuer.key_alias is not None:
            alias = issuer.keystore_alias or "default"
            if alias not in keystores:
                self.fail(["issuer", "signing_key", "keystore"], f"no keystore with alias {alias!r} (key_store is 'default'; others go under keystores)")
        return issuer

    def users(self, data: dict) -> tuple[sec.UserConfig, ...]:
        users = sec.parse_users(data.get("users"))
        seen: set[str] = set()
        for index, user in enumerate(users):
            if user.name in seen:
                self.fail(["users", index, "name"], f"user {user.name!r} is defined twice")
            seen.add(user.name)
            if is_hashed(user.password):
                self.check_hash(["users", index, "password"], user.password)
        return users

    def check_policies(self, apis: tuple[ApiConfig, ...], security: sec.SecurityConfig, issuer, applications: tuple) -> None:
        """Each policy's own cross-checks, against the auth servers, applications and the API's other policies."""
        servers = frozenset({s.id for s in security.auth_servers} | ({sec.LOCAL_SERVER_ID} if issuer else set()))
        app_ids = frozenset(app.id for app in applications)

        def report(parts: list, message: str, unknown_reference: bool) -> None:
            (self.fail_or_warn if unknown_reference else self.fail)(parts, message)

        for index, api in zip(self.api_positions, apis):
            provided = frozenset().union(*(self.catalog[n].provides(c) for n, c in api.policies.items()))
            for name, config in api.policies.items():
                checks = PolicyChecks(["apis", index, "policies", name], report, api.policies, provided, servers, app_ids)
                self.catalog[name].check(config, checks)

    def server(self, data: dict) -> ServerConfig:
        ports = data.get("ports", {})
        srv = data.get("server", {})
        defaults = ServerConfig()
        http = vendor.port(ports.get("http", DEFAULT_HTTP_PORT))  # None: off; 0: any free port (logged); "9090" too
        https = vendor.port(ports.get("https"))
        if http and https and http == https:
            self.fail(["ports", "https"], f"HTTP and HTTPS cannot share port {http}")
        if http is None and https is None:
            self.fail(["ports"], "at least one of ports.http and ports.https must be on")
        return ServerConfig(
            host=srv.get("host", defaults.host),
            http_port=http,
            https_port=https,
            max_body_size=parse_size(srv.get("max_body_size", defaults.max_body_size)),
            max_header_size=srv.get("max_header_size", defaults.max_header_size),
            max_headers=srv.get("max_headers", defaults.max_headers),
            idle_timeout=float(srv.get("idle_timeout", defaults.idle_timeout)),
            shutdown_grace=float(srv.get("shutdown_grace", defaults.shutdown_grace)),
            upstream_connections=srv.get("upstream_connections", defaults.upstream_connections),
            upstream_connections_per_api=srv.get("upstream_connections_per_api", defaults.upstream_connections_per_api),
            max_connections=srv.get("max_connections", defaults.max_connections),
            header_timeout=float(srv.get("header_timeout", defaults.header_timeout)),
            body_timeout=float(srv.get("body_timeout", defaults.body_timeout)),
            workers=srv.get("workers", defaults.workers),
            public_urls=tuple(_origin(url) for url in srv.get("public_urls", ())),
        )

    def store(self, data: dict | None, default_key_alias: str | None = None) -> StoreConfig | None:
        if not data:
            return None
        return StoreConfig(
            type=(data.get("type") or "PEM").upper(),
            location=data["location"],
            password=data.get("password"),
            key_location=data.get("key_location"),
            key_alias=data.get("key_alias") or default_key_alias,
        )

    def apis(self, items: list[dict], aliases: dict) -> tuple[ApiConfig, ...]:
        seen: set[tuple[str, str]] = set()
        ids: dict[str, str] = {}
        out = []
        for index, item in enumerate(items):
            if "endpoint" in item:
                try:
                    item = {**item, "endpoint": expand_aliases(item["endpoint"], aliases)}
                except KeyError as exc:
                    self.fail(["apis", index, "endpoint"], f"no alias named {exc.args[0]!r} (define it under aliases)")
                    continue
                item = _alias_timeouts(item, _ALIAS.findall(items[index]["endpoint"]), aliases)
            api = self.api(item, index)
            self._warn_placeholder(api, index)
            if api.key in seen:
                self.fail(["apis", index], f"API {api.name} version {api.version} is defined twice")
            elif api.id in ids:  # applications register by id: one id must name one API
                self.fail(["apis", index, "id"] if "id" in item else ["apis", index], f"API id {api.id!r} is already used by API {ids[api.id]}")
            seen.add(api.key)
            ids.setdefault(api.id, f"{api.name} version {api.version}")
            out.append(api)
            self.api_positions.append(index)
        return tuple(out)

    def _warn_placeholder(self, api: ApiConfig, index: int) -> None:
        """``${sys:resource_path}`` not right after a '/': the client's resource runs into the text before
        it (``/apix``) or, in the host or port, is refused on every request that would move it."""
        endpoint = api.endpoint or ""
        at = endpoint.find("${sys:resource_path}")
        if at > 0 and endpoint[at - 1] != "/":
            self.warn(
                ["apis", index, "endpoint"],
                "${sys:resource_path} should follow a '/': here the client's resource joins the text before it"
                " (requests that would change the scheme, host or port are refused)",
            )

    def api(self, item: dict, index: int) -> ApiConfig:
        timeouts = item.get("timeouts", {})
        methods = item.get("methods")
        version = version_text(item["version"])
        return ApiConfig(
            id=item.get("id") or api_id(item["name"], version),
            name=item["name"],
            version=version,
            endpoint=item.get("endpoint"),
            mock=_mock(item["mock"]) if "mock" in item else None,
            protocols=frozenset(item.get("protocols", ("http", "https"))),
            methods=frozenset(methods) if methods else None,
            connect_timeout=float(timeouts.get("connect", DEFAULT_CONNECT_TIMEOUT)),
            read_timeout=float(timeouts.get("read", DEFAULT_READ_TIMEOUT)),
            tls_verify=item.get("tls_verify", True),
            active=item.get("active", True),
            description=item.get("description", ""),
            policies=self.policies(item.get("policies") or {}, index),
            append_resource=item.get("append_resource", True),
        )

    def policies(self, raw: Mapping[str, Any], index: int) -> Mapping[str, Any]:
        """Each policy's schema-valid configuration parsed once into its own config object."""
        parsed = {}
        for name, config in raw.items():
            spec = self.catalog.get(name)
            if spec is None:  # the schema lists every policy; this guards a schema/catalog mismatch
                self.fail(["apis", index, "policies", name], f"policy {name!r} is not implemented")
                continue
            try:
                parsed[name] = spec.parse(config)
            except ValueError as exc:
                self.fail(["apis", index, "policies", name], str(exc))
        return MappingProxyType(parsed)


_ALIAS = re.compile(r"\$\{([^}:]+)\}")


def expand_aliases(text: str, aliases: dict) -> str:
    """Replace ``${name}`` with the value of the simple alias ``name`` (the vendor's endpoint aliases).

    ``${sys:...}`` placeholders are left for the request path; an unknown name raises KeyError.
    """
    def value(match: re.Match) -> str:
        alias = aliases[match.group(1)]
        return str(alias["value"] if "value" in alias else alias["endPointURI"])

    return _ALIAS.sub(value, text)


def _alias_timeouts(item: dict, names: list[str], aliases: dict) -> dict:
    """An endpoint alias's connectionTimeout/readTimeout (seconds) fill the timeouts the API does not set."""
    timeouts = dict(item.get("timeouts") or {})
    for name in names:
        alias = aliases.get(name) or {}
        for ours, theirs in (("connect", "connectionTimeout"), ("read", "readTimeout")):
            if alias.get(theirs) and ours not in timeouts:
                timeouts[ours] = alias[theirs]
    return {**item, "timeouts": timeouts} if timeouts else item


def _origin(url: str) -> str:
    scheme, _, rest = url.rstrip("/").partition("://")
    return f"{scheme.lower()}://{rest.lower()}"




def _mock(data: dict) -> MockConfig:
    import json

    headers = dict(data.get("headers", {}))
    if "json" in data:
        body = json.dumps(data["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        body = data.get("body", "").encode()
    return MockConfig(
        status=data.get("status", 200),
        headers=tuple(headers.items()),
        body=body,
        echo=data.get("echo", False),
    )


def _level(name: str) -> str:
    upper = name.upper()
    return "WARNING" if upper == "WARN" else upper
