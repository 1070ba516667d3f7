"""Keeping a child gateway in step with its parent: first download, disk fallback, polling.

Nothing here may take a running gateway down: a failed download keeps what is served, an invalid
download is refused whole, and a change is applied by building a new runtime and swapping it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Protocol

from microgw.config.model import ParentConfig
from microgw.sync.client import DownloadError, ParentClient, ParentSettings
from microgw.sync.store import DownloadStore

if TYPE_CHECKING:
    from microgw.config.errors import ConfigError

log = logging.getLogger("microgw.sync")

START_ATTEMPTS = 4  # at start-up: tries before falling back (backoff 0.5, 1, 2 s)
FOLLOW_EVERY = 1.0  # seconds between a follower worker's looks at worker 0's saved copy


def fingerprint(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def describe_download(document: dict[str, Any], parent: str) -> str:
    """One log line for an accepted download: from where, and how much of each kind."""
    apis = [f"{a.get('name')}/{a.get('version')}" for a in document.get("apis") or [] if isinstance(a, dict)]
    servers = (document.get("security_settings") or {}).get("auth_servers") or []
    return (
        f"downloaded the settings of the parent {parent}: {len(apis)} APIs ({', '.join(apis) or '-'}), "
        f"{len(document.get('applications') or [])} applications, {len(servers)} auth servers"
    )


class DownloadTarget(Protocol):
    """The gateway as the parent sync sees it (``server.Gateway``): where a new download goes."""

    async def apply_download(self, document: dict[str, Any]) -> ConfigError | None:
        """Swap in settings downloaded from the parent; the refusal (nothing changes) when refused."""


class ParentSync:
    """Owns the parent connection of one gateway and reports its state for readiness.

    A download counts as good only once the gateway accepted it (loader and runtime build): only
    then is it kept on disk and its fingerprint recorded. A refused one is retried at the next poll
    (the parent or the local files may have been fixed meanwhile).
    """

    def __init__(self, gateway: "DownloadTarget", config: ParentConfig, state_dir: str, ssl_context=None, *, follow: bool = False) -> None:
        self.gateway = gateway
        self.follow = follow  # a worker of a --workers group other than 0: reads worker 0's saved copy
        self.config = config
        self.client = ParentClient(
            ParentSettings(
                config.url, config.user, config.password, config.apis, config.applications,
                skip_unsupported=config.skip_unsupported,
            ),
            ssl_context,
        )
        self.store = DownloadStore(state_dir)
        self.state = "not downloaded"
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.current: str | None = None  # fingerprint of the download being served
        self._printed: tuple[dict[str, Any] | None, str] = (None, "")  # the last document fingerprinted
        self._task: asyncio.Task | None = None

    def _fingerprint(self, document: dict[str, Any]) -> str:
        """``fingerprint`` of ``document``, kept for the same object: an unchanged parent hands back
        the document of the last download, and hashing 10,000 applications per poll is waste."""
        if document is not self._printed[0]:
            self._printed = (document, fingerprint(document))
        return self._printed[1]

    def status(self) -> dict[str, Any]:
        return {
            "parent": str(self.client.base),
            "state": self.state,
            "last_success": self.last_success,
            "last_error": self.last_error,
        }

    def _filters(self) -> dict[str, Any]:
        """What was asked of the parent; a saved copy made with other filters is not this download."""
        return {"apis": sorted(self.config.apis) if self.config.apis is not None else None, "applications": bool(self.config.applications)}

    async def _download(self) -> dict[str, Any]:
        """One download; anything unexpected (a bug, a parent answer nobody foresaw) is a failed download."""
        try:
            return await self.client.download()
        except DownloadError:
            raise
        except Exception as exc:
            log.exception("unexpected error while downloading from the parent")
            raise DownloadError(f"unexpected error while downloading ({exc.__class__.__name__})") from None

    async def initial(self) -> dict[str, Any] | None:
        """A fresh download (tried START_ATTEMPTS times), or None; the gateway decides whether to use it."""
        delay = 0.5
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                document = await self._download()
            except DownloadError as exc:
                self.last_error = str(exc)
                log.warning("download from the parent failed (attempt %d/%d): %s", attempt, START_ATTEMPTS, exc)
                if attempt < START_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
                continue
            self.last_success = time.time()
            self._log_warnings()
            return document
        return None

    def saved(self) -> tuple[dict[str, Any], float] | None:
        """The last good download kept on disk, when it came from this parent with these filters."""
        return self.store.load(str(self.client.base), self._filters())

    def serving(self, document: dict[str, Any] | None, state: str, *, fresh: bool = False) -> None:
        """The gateway accepted ``document`` (None: the YAML settings alone); a fresh one is kept on disk."""
        self.current = self._fingerprint(document) if document is not None else None
        self.state = state
        if fresh and document is not None:
            self.last_success = time.time()
            self.last_error = None
            log.info("%s", describe_download(document, str(self.client.base)))
            try:
                self.store.save(document, str(self.client.base), self._filters())
            except OSError as exc:
                log.error("cannot keep the download on disk (%s): %s", self.store.path, exc.__class__.__name__)
        if not fresh:
            log.warning("%s", state)

    def refused(self, problems: Any) -> None:
        """The gateway refused a download: say so in readiness; the next poll tries again."""
        first = getattr(problems, "problems", None) or [problems]
        more = f" (and {len(first) - 1} more problem(s), see the log)" if len(first) > 1 else ""
        self.last_error = f"the downloaded settings were refused: {first[0]}{more}"

    def _log_warnings(self) -> None:
        for warning in self.client.warnings:
            log.warning("%s", warning)

    def start_polling(self) -> None:
        if self.follow and self._task is None:
            self._task = asyncio.create_task(self._follow())
        elif self.config.polling_interval and self._task is None:
            self._task = asyncio.create_task(self._poll(self.config.polling_interval))

    def following(self, document: dict[str, Any] | None) -> None:
        """A follower serves ``document``, the copy worker 0 saved (None: none yet, the YAML alone)."""
        self.current = fingerprint(document) if document is not None else None
        self.state = "downloaded by worker 0" if document is not None else "waiting for worker 0's first download"
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.store.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    async def _follow(self, every: float = FOLLOW_EVERY) -> None:
        """Apply each new copy worker 0 saves (it saves only what it accepted)."""
        while True:
            await asyncio.sleep(every)
            stamp = self._stamp()
            if stamp is None or stamp == getattr(self, "_seen", None):
                continue
            self._seen = stamp
            saved = self.saved()
            if saved is None or fingerprint(saved[0]) == self.current:
                continue
            try:
                refusal = await self.gateway.apply_download(saved[0])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying worker 0's download failed unexpectedly")
                continue
            if refusal is not None:
                self.refused(refusal)
                continue
            self.following(saved[0])
            self.last_success = time.time()
            self.last_error = None
            log.info("applied new settings from the parent (downloaded by worker 0)")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))
            await self.poll_once()

    async def poll_once(self) -> bool:
        """Download; apply when changed. True when a new runtime was swapped in. Never raises: the
        polling task must outlive any one bad answer."""
        try:
            return await self._poll_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("polling the parent failed unexpectedly")
            self.last_error = f"unexpected error while polling ({exc.__class__.__name__})"
            return False

    async def _poll_once(self) -> bool:
        try:
            document = await self._download()
        except DownloadError as exc:
            self.last_error = str(exc)
            self.state = "parent unreachable; serving the last good settings"
            log.warning("polling the parent failed: %s", exc)
            return False
        if self._fingerprint(document) == self.current:
            if self.state != "downloaded":
                log.info("the parent answers again; its settings are unchanged")
            self.last_success = time.time()
            self.last_error = None
            self.state = "downloaded"  # the parent is back, or sends again what is served
            return False
        self._log_warnings()
        refusal = await self.gateway.apply_download(document)
        if refusal is not None:
            self.refused(refusal)
            return False
        self.serving(document, "downloaded", fresh=True)
        log.info("applied new settings from the parent")
        return True
