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

    def save(self, document: dict[str, Any], parent: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps({"saved_at": time.time(), "parent": parent, "settings": document}, sort_keys=True).encode()
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

    def load(self) -> tuple[dict[str, Any], float] | None:
        """The saved document and when it was saved, or None."""
        try:
            data = json.loads(self.path.read_bytes())
            return data["settings"], float(data["saved_at"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("ignoring the saved download %s: %s", self.path, exc.__class__.__name__)
            return None
