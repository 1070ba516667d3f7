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
from typing import TYPE_CHECKING, Any

from microgw.config.model import ParentConfig
from microgw.sync.client import DownloadError, ParentClient, ParentSettings
from microgw.sync.store import DownloadStore

if TYPE_CHECKING:
    from microgw.server import Gateway

log = logging.getLogger("microgw.sync")

START_ATTEMPTS = 4  # at start-up: tries before falling back (backoff 0.5, 1, 2 s)


def fingerprint(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


class ParentSync:
    """Owns the parent connection of one gateway and reports its state for readiness."""

    def __init__(self, gateway: "Gateway", config: ParentConfig, state_dir: str, ssl_context=None) -> None:
        self.gateway = gateway
        self.config = config
        self.client = ParentClient(
            ParentSettings(config.url, config.user, config.password, config.apis, config.applications), ssl_context
        )
        self.store = DownloadStore(state_dir)
        self.state = "not downloaded"
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.current: str | None = None
        self._task: asyncio.Task | None = None

    def status(self) -> dict[str, Any]:
        return {
            "parent": str(self.client.base),
            "state": self.state,
            "last_success": self.last_success,
            "last_error": self.last_error,
        }

    async def initial(self) -> dict[str, Any] | None:
        """The settings to start with: a fresh download, else the disk copy, else None (YAML only)."""
        delay = 0.5
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                document = await self.client.download()
            except DownloadError as exc:
                self.last_error = str(exc)
                log.warning("download from the parent failed (attempt %d/%d): %s", attempt, START_ATTEMPTS, exc)
                if attempt < START_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
                continue
            self._accepted(document, "downloaded")
            return document
        saved = self.store.load()
        if saved is not None:
            document, saved_at = saved
            self.state = f"parent unreachable; serving the copy downloaded at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(saved_at))}"
            self.current = fingerprint(document)
            log.warning("%s", self.state)
            return document
        self.state = "parent unreachable and no saved copy; serving the YAML settings alone"
        log.warning("%s", self.state)
        return None

    def _accepted(self, document: dict[str, Any], how: str) -> None:
        self.current = fingerprint(document)
        self.last_success = time.time()
        self.last_error = None
        self.state = how
        try:
            self.store.save(document, str(self.client.base))
        except OSError as exc:
            log.error("cannot keep the download on disk (%s): %s", self.store.path, exc.__class__.__name__)

    def start_polling(self) -> None:
        if self.config.polling_interval and self._task is None:
            self._task = asyncio.create_task(self._poll(self.config.polling_interval))

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
        """Download; apply when changed. True when a new runtime was swapped in."""
        try:
            document = await self.client.download()
        except DownloadError as exc:
            self.last_error = str(exc)
            self.state = "parent unreachable; serving the last good settings"
            log.warning("polling the parent failed: %s", exc)
            return False
        if fingerprint(document) == self.current:
            self.last_success = time.time()
            return False
        if not await self.gateway.apply_download(document):
            self.last_error = "the downloaded settings were refused (see the log)"
            return False
        self._accepted(document, "downloaded")
        log.info("applied new settings from the parent")
        return True
