"""The last good settings downloaded from the parent, kept on disk to start without the parent.

Written atomically (temporary file, fsync, rename) with 0600 permissions: it holds API keys and
secrets. A copy that cannot be read is ignored with a log line, never half-used.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("microgw.sync")

FILE_NAME = "downloaded-settings.json"


class DownloadStore:
    def __init__(self, state_dir: str) -> None:
        self.path = Path(state_dir) / FILE_NAME

    def save(self, document: dict[str, Any], parent: str, filters: dict[str, Any] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"saved_at": time.time(), "parent": parent, "downloads": filters or {}, "settings": document}
        payload = json.dumps(record, sort_keys=True).encode()
        fd, temp = tempfile.mkstemp(prefix=".download-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise

    def load(self, parent: str | None = None, filters: dict[str, Any] | None = None) -> tuple[dict[str, Any], float] | None:
        """The saved document and when it was saved, or None.

        With ``parent`` (and ``filters``), a copy downloaded from another parent or with other
        download filters (``downloads.apis``, ``downloads.applications``) is ignored: it is not this
        gateway's last good download (e.g. a state_dir shared or reused). A copy from before the
        filters were recorded is matched by its parent alone.
        """
        try:
            data = json.loads(self.path.read_bytes())
            document, saved_at = data["settings"], float(data["saved_at"])
            if not isinstance(document, dict):
                raise TypeError("settings")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("ignoring the saved download %s: %s", self.path, exc.__class__.__name__)
            return None
        if parent is not None and data.get("parent") != parent:
            log.warning("ignoring the saved download %s: it came from another parent (%s)", self.path, data.get("parent"))
            return None
        if filters is not None and "downloads" in data and data["downloads"] != filters:
            log.warning("ignoring the saved download %s: it was made with other download filters (%s)", self.path, data["downloads"])
            return None
        return document, saved_at
