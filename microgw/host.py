"""What the built-in endpoints need of the running gateway, and nothing more.

The server assembles the endpoints, so they depend on this small interface instead of on
``server.Gateway``: the dependency runs one way (server -> endpoints), and a test can hand them a
stand-in. ``server.Gateway`` implements it (and the parent sync's ``sync.poller.DownloadTarget``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from microgw.metrics import Metrics
    from microgw.runtime import Runtime


class GatewayHost(Protocol):
    """The gateway as the built-in endpoints (admin, token issuing, JWKS, parent API) see it."""

    @property
    def runtime(self) -> Runtime:
        """The runtime serving now; read it once per request (a reload swaps it)."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def started_at(self) -> float:
        """When the process started (``time.time()``)."""

    @property
    def listener_urls(self) -> list[str]: ...

    def parent_status(self) -> dict[str, Any] | None:
        """The parent sync's state for status and readiness; None without a parent gateway."""

    def worker_status(self) -> dict[str, Any] | None:
        """This process's place in a ``--workers`` group (index, workers, pid); None when alone."""

    async def reload(self) -> bool:
        """Re-read the configuration files; False (and the current settings stay) when refused."""

