"""``microgw start --workers N``: N gateway processes on the same ports, kept alive by this one.

One Python process serves about one core; SO_REUSEPORT lets the kernel spread new connections over N
processes that each accept on their own socket. The supervisor serves no request itself:

- it reserves the ports first (bound, not listening, SO_REUSEPORT), so ``0`` means one free port
  for the whole group and no other program can take it between restarts;
- it starts worker 0 and waits until it listens (worker 0 is the one parent-sync downloader, so the
  others start from its fresh saved copy), then the others;
- it restarts a worker that dies (backing off when one keeps dying at once), forwards SIGTERM/SIGINT
  (drain and stop) and SIGHUP (reload) to every worker, and turns a worker's SIGUSR1 ("I reloaded
  through the admin API") into a SIGHUP for the others, so a reload reaches the whole group.

Only the standard library, no event loop: it waits in ``sigtimedwait``.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from microgw.config.model import Settings
from microgw.workers import ENV_DIR, ENV_READY, ENV_WORKER

log = logging.getLogger("microgw.supervisor")

SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1}
START_TIMEOUT = 120.0  # seconds a worker may take to listen (a parent download retries ~4 s)
QUICK_DEATH = 5.0  # a worker dying sooner than this after its start is restarted with backoff
MAX_BACKOFF = 30.0


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ready_pipe: int | None = None  # read end, until the worker said it listens
    failures: int = 0  # quick deaths in a row
    restart_at: float | None = None
    seen_pids: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, argv: list[str], settings: Settings) -> None:
        self.argv = argv  # the command line of ``microgw``, less the program
        self.settings = settings
        self.count = settings.server.workers
        self.folder = tempfile.mkdtemp(prefix="microgw-workers-")
        self.reserved: list[socket.socket] = []
        self.ports: dict[str, int] = {}
        self.workers = [Worker(i) for i in range(self.count)]
        self.stopping = False

    # --- ports ------------------------------------------------------------------------------

    def reserve_ports(self) -> None:
        srv = self.settings.server
        for scheme, port in (("http", srv.http_port), ("https", srv.https_port)):
            if port is None:
                continue
            family, kind, proto, _, address = socket.getaddrinfo(srv.host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)  # never listens: holds the port, takes no connection
            self.reserved.append(sock)
            self.ports[scheme] = sock.getsockname()[1]

    # --- workers ----------------------------------------------------------------------------

    def _command(self) -> list[str]:
        extra = []
        if "http" in self.ports:
            extra += ["--port", str(self.ports["http"])]
        if "https" in self.ports:
            extra += ["--https-port", str(self.ports["https"])]
        return [sys.executable, "-m", "microgw", *self.argv, *extra]

    def spawn(self, worker: Worker) -> None:
        read, write = os.pipe()
        env = {**os.environ, ENV_WORKER: f"{worker.index}/{self.count}", ENV_DIR: self.folder, ENV_READY: str(write)}
        worker.proc = subprocess.Popen(
            self._command(), env=env, pass_fds=(write,), preexec_fn=_unblock_signals, stdin=subprocess.DEVNULL
        )
        os.close(write)
        if worker.ready_pipe is not None:
            os.close(worker.ready_pipe)
        worker.ready_pipe = read
        worker.started = time.monotonic()
        worker.restart_at = None
        worker.seen_pids.append(worker.proc.pid)
        log.info("worker %d started (pid %d)", worker.index, worker.proc.pid)

    def wait_ready(self, workers: list[Worker], timeout: float) -> Worker | None:
        """Wait until each worker listens; the first that exits instead, or None when all listen."""
        deadline = time.monotonic() + timeout
        pending = {w.ready_pipe: w for w in workers if w.ready_pipe is not None}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return next(iter(pending.values()))
            readable, _, _ = select.select(list(pending), [], [], min(left, 0.5))
            for fd in readable:
                worker = pending.pop(fd)
                ok = os.read(fd, 1) == b"1"
                os.close(fd)
                worker.ready_pipe = None
                if not ok:  # the pipe closed without a byte: the worker ended during start
                    worker.proc.wait()
                    return worker
            for fd, worker in list(pending.items()):
                if worker.proc.poll() is not None and fd not in readable:
                    return worker
        return None

    def _check_ready(self) -> None:
        """Collect the readiness bytes of restarted workers without waiting."""
        for worker in self.workers:
            if worker.ready_pipe is None:
                continue
            readable, _, _ = select.select([worker.ready_pipe], [], [], 0)
            if readable:
                ok = os.read(worker.ready_pipe, 1) == b"1"
                os.close(worker.ready_pipe)
                worker.ready_pipe = None
                if ok:
                    log.info("worker %d listens again (pid %d)", worker.index, worker.proc.pid)

    def reap(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.proc is None or worker.restart_at is not None:
                continue
            code = worker.proc.poll()
            if code is None:
                continue
            worker.failures = worker.failures + 1 if now - worker.started < QUICK_DEATH else 0
            delay = 0.0 if worker.failures <= 1 else min(MAX_BACKOFF, 0.5 * 2 ** (worker.failures - 1))
            worker.restart_at = now + delay
            log.warning("worker %d (pid %d) exited with %s; restarting it%s", worker.index, worker.proc.pid,
                        _describe(code), f" in {delay:.1f}s" if delay else "")

    def restart_due(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and worker.restart_at <= now:
                self.spawn(worker)

    def signal_all(self, sig: int, *, but: int | None = None) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None and worker.proc.pid != but:
                try:
                    worker.proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def stop_all(self) -> None:
        self.stopping = True
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.server.shutdown_grace + 10
        for worker in self.workers:
            if worker.proc is None:
                continue
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop in time; killing it", worker.index)
                worker.proc.kill()
                worker.proc.wait()

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            try:
                self.reserve_ports()
            except OSError as exc:
                log.error("cannot listen: %s", exc)
                return 1
            parent = self.settings.parent
            first = self.workers[:1] if parent is not None and parent.download else self.workers
            for worker in first:  # with a parent, the downloader first: the others start from its saved copy
                self.spawn(worker)
            failed = self.wait_ready(first, START_TIMEOUT)
            if failed is None and len(first) < self.count:
                for worker in self.workers[1:]:
                    self.spawn(worker)
                failed = self.wait_ready(self.workers[1:], START_TIMEOUT)
            if failed is not None:
                code = failed.proc.poll()
                log.error("worker %d did not start (%s); stopping", failed.index, _describe(code) if code is not None else "no answer")
                self.stop_all()
                return code if code else 1
            log.info("microgw supervisor: %d workers on %s", self.count,
                     ", ".join(f"{s} port {p}" for s, p in self.ports.items()))
            while True:
                info = signal.sigtimedwait(SIGNALS, 0.5)
                if info is not None:
                    if info.si_signo in (signal.SIGTERM, signal.SIGINT):
                        log.info("stopping %d workers", self.count)
                        self.stop_all()
                        return 0
                    if info.si_signo == signal.SIGHUP:
                        log.info("reloading %d workers", self.count)
                        self.signal_all(signal.SIGHUP)
                    elif info.si_signo == signal.SIGUSR1:  # a worker reloaded over the admin API
                        self.signal_all(signal.SIGHUP, but=info.si_pid)
                self._check_ready()
                self.reap()
                self.restart_due()
        finally:
            for sock in self.reserved:
                sock.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def _unblock_signals() -> None:  # runs in the child between fork and exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def _describe(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


def run(argv: list[str], settings: Settings) -> int:
    from microgw.logs import configure

    configure(settings.log_level, tag="supervisor")
    return Supervisor(argv, settings).run()
