"""A gateway process's part in a ``--workers N`` group: what the supervisor told it, and its duties.

The supervisor (:mod:`microgw.supervisor`) starts each worker as ``microgw start`` with the same
arguments and these environment variables (internal, not an interface):

- ``MICROGW_WORKER=i/N``: this is worker ``i`` of ``N``; it binds with SO_REUSEPORT;
- ``MICROGW_WORKER_DIR``: a folder private to the group, where each worker keeps its counters;
- ``MICROGW_READY_FD``: a pipe to write one byte to once the worker listens.

Worker 0 is the one parent-sync downloader; the others follow its saved copy. Counters are summed
across the group by whichever worker answers ``/metrics`` (the others' at most FLUSH seconds old).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ENV_WORKER = "MICROGW_WORKER"
ENV_DIR = "MICROGW_WORKER_DIR"
ENV_READY = "MICROGW_READY_FD"
FLUSH = 1.0  # seconds between writes of a worker's counters

log = logging.getLogger("microgw")


@dataclass(frozen=True)
class WorkerRole:
    index: int
    count: int
    folder: Path
    ready_fd: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "WorkerRole | None":
        environ = os.environ if environ is None else environ
        spec = environ.get(ENV_WORKER)
        if not spec:
            return None
        index, _, count = spec.partition("/")
        fd = environ.get(ENV_READY)
        return cls(int(index), int(count), Path(environ[ENV_DIR]), int(fd) if fd else None)

    @property
    def downloads(self) -> bool:
        """Only worker 0 talks to the parent gateway; the others read what it saved."""
        return self.index == 0

    @property
    def tag(self) -> str:
        return f"worker {self.index}"

    def notify_ready(self) -> None:
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)
        except OSError:
            pass  # the supervisor stopped waiting; it watches the process anyway

    def reload_others(self) -> None:
        """Ask the supervisor to send SIGHUP to every other worker (it knows who asked)."""
        try:
            os.kill(os.getppid(), signal.SIGUSR1)
        except OSError as exc:
            log.error("could not ask the supervisor to reload the other workers: %s", exc)

    # --- counters ---------------------------------------------------------------------------

    def counters_path(self, index: int) -> Path:
        return self.folder / f"counters-{index}.json"

    def save_counters(self, snapshot: dict) -> None:
        """Write atomically: readers never see half a file."""
        path = self.counters_path(self.index)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(snapshot))
        os.replace(temporary, path)

    def load_counters(self, index: int) -> dict | None:
        try:
            return json.loads(self.counters_path(index).read_text())
        except (OSError, ValueError):
            return None

    def peer_counters(self) -> list[dict]:
        """The last counters each other worker wrote (a restarted worker continues from its own)."""
        found = []
        for index in range(self.count):
            if index != self.index:
                snapshot = self.load_counters(index)
                if snapshot is not None:
                    found.append(snapshot)
        return found
