"""Frozen model objects built once from validated configuration; the rest of microgw reads only these."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

DEFAULT_HTTP_PORT = 4485
DEFAULT_API_KEY_HEADER = "x-Gateway-APIKey"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """A keystore or truststore as the vendor writes it (type, location, password)."""

    type: str
    location: str
    password: str | None = None
    key_location: str | None = None
    key_alias: str | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    http_port: int | None = DEFAULT_HTTP_PORT
    https_port: int | None = None
    max_body_size: int = 1 << 30
    max_header_size: int = 8190
    max_headers: int = 100
    idle_timeout: float = 75.0
    shutdown_grace: float = 10.0
    upstream_connections: int = 256
    upstream_connections_per_api: int | None = None  # None: half of upstream_connections (at least 1)
    max_connections: int = 10000  # client connections; lowered below the open-files limit at start
    header_timeout: float = 10.0  # request line and headers must arrive within this (slowloris)
    body_timeout: float = 30.0  # a request body's first byte, and each next one, within this

    @property
    def api_share(self) -> int:
        """Pooled connections one API may hold at once: one API's slow clients never take them all."""
        if self.upstream_connections_per_api is not None:
            return min(self.upstream_connections_per_api, self.upstream_connections)
        return max(1, self.upstream_connections // 2)
    workers: int = 1  # processes sharing the ports under a supervisor (microgw.supervisor)
    public_urls: tuple[str, ...] = ()  # normalised scheme://host[:port], for the request-URI audience rule


@dataclass(frozen=True, slots=True)
class MockConfig:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    echo: bool = False


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """One API served at ``/gateway/<name>/<version>/``."""

    name: str
    version: str
    endpoint: str | None
    mock: MockConfig | None
    protocols: frozenset[str] = frozenset({"http", "https"})
    methods: frozenset[str] | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    tls_verify: bool = True
    active: bool = True
    description: str = ""
    policies: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    id: str = ""  # the vendor's API id; the loader derives one from name and version
    append_resource: bool = True  # False: call the endpoint as written (vendor routing without ${sys:resource_path})

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


@dataclass(frozen=True, slots=True)
class AdminConfig:
    user: str
    password: str  # a password hash, or a plain password decoded from {encoded}


@dataclass(frozen=True, slots=True)
class ParentConfig:
    """The parent gateway to download settings from (the vendor's ``api_gateway`` section)."""

    url: str
    user: str | None
    password: str | None
    download: bool
    apis: tuple[str, ...] | None  # names; None: every API
    applications: bool
    polling_interval: float | None  # seconds; None: download at start only
    skip_unsupported: bool = False  # archive_skip_unsupported, for the parent's archives too


@dataclass(frozen=True)
class TransactionLogging:
    """``logging.transactions``: what every ``logInvocation`` policy shares."""

    enabled: bool = True
    file: str | None = None  # None: invocations.jsonl in state_dir
    redact_headers: tuple[str, ...] = ()  # lower-case
    redact_fields: tuple[str, ...] = ()  # lower-case
    max_payload_bytes: int = 4096


@dataclass(frozen=True)
class Settings:
    """The effective settings of one gateway process."""

    server: ServerConfig
    apis: tuple[ApiConfig, ...]
    key_store: StoreConfig | None = None
    trust_store: StoreConfig | None = None
    log_level: str = "INFO"
    access_log: bool = True
    access_log_format: str = "text"  # or "json"
    request_id_header: str = "X-Request-ID"
    transactions: TransactionLogging = field(default_factory=TransactionLogging)
    extended_settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    admin: AdminConfig | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    base_dir: str = "."
    state_dir: str = "."
    keystores: Mapping[str, StoreConfig] = field(default_factory=lambda: MappingProxyType({}))
    truststores: Mapping[str, StoreConfig] = field(default_factory=lambda: MappingProxyType({}))
    security: Any = None  # config.security.SecurityConfig
    issuer: Any = None  # config.security.IssuerConfig | None
    users: tuple = ()  # config.security.UserConfig
    applications: tuple = ()  # applications.model.Application
    parent: ParentConfig | None = None
    archive_files: tuple[str, ...] = ()

    @property
    def api_key_header(self) -> str:
        return str(self.extended_settings.get("apiKeyHeader") or DEFAULT_API_KEY_HEADER)
