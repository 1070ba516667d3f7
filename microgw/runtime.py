"""The immutable runtime: everything a request needs, built once from Settings.

A reload builds a new Runtime and swaps one reference; requests in flight keep the one they started
with. Building never touches the network: remote key sources start their fetches in the background.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from microgw.config.errors import ConfigError, ConfigProblem
from microgw.config.model import ApiConfig, Settings
from microgw.keys.tls import TlsConfigError, client_context
from microgw.policies import pipeline
from microgw.policies.transport import TransportStage
from microgw.routing import Route, UpstreamTarget


@dataclass(frozen=True)
class Services:
    """Shared parts the policies of every API use; later rooms add theirs here."""

    settings: Settings
    client_ssl: ssl.SSLContext
    background: tuple[Any, ...] = ()  # objects with async start()/close() and a `ready` flag


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    routes: Mapping[tuple[str, str], Route]
    services: Services
    built_at: float = field(default_factory=time.time)

    async def start(self) -> None:
        for part in self.services.background:
            await part.start()

    async def close(self) -> None:
        for part in self.services.background:
            await part.close()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when every background part (e.g. a remote JWKS) has what it needs at least once."""
        details = {getattr(p, "name", repr(p)): bool(getattr(p, "ready", True)) for p in self.services.background}
        return all(details.values()), details


def build_runtime(settings: Settings) -> Runtime:
    problems: list[ConfigProblem] = []
    try:
        client_ssl = client_context(settings.trust_store)
    except TlsConfigError as exc:
        raise ConfigError([ConfigProblem("configuration", "trust_store", str(exc))]) from None
    services = Services(settings=settings, client_ssl=client_ssl)
    routes: dict[tuple[str, str], Route] = {}
    for index, api in enumerate(settings.apis):
        if not api.active:
            continue
        try:
            routes[api.key] = _route(api, services)
        except (ValueError, ConfigError) as exc:
            problems.append(ConfigProblem("configuration", f"apis[{index}]", str(exc)))
    if problems:
        raise ConfigError(problems)
    return Runtime(settings=settings, routes=MappingProxyType(routes), services=services)


def _route(api: ApiConfig, services: Services) -> Route:
    stages = pipeline.build_pipeline(api, services, [("transport", TransportStage(api))])
    upstream = UpstreamTarget.parse(api.endpoint) if api.endpoint else None
    tls: Any = None
    if upstream is not None and upstream.prefix.startswith("https:"):
        tls = services.client_ssl if api.tls_verify else False
    return Route(api=api, stages=stages, upstream=upstream, ssl=tls)
