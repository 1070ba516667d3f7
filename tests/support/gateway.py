"""Start ``microgw`` as a real process on free loopback ports and wait until it listens."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import yaml

LISTENING = re.compile(r"listening on (https?)://[^:]+:(\d+)")
GROUP_READY = re.compile(r"microgw supervisor: \d+ workers on")  # a --workers group: every worker serves
REPO = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """A running ``python -m microgw start`` with its stderr collected for assertions."""

    def __init__(self, proc: asyncio.subprocess.Process, ports: dict[str, int], lines: list[str]) -> None:
        self.proc = proc
        self.ports = ports
        self.lines = lines
        self._drain: asyncio.Task | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.ports['https']}"

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            await asyncio.wait_for(self._drain, 5)
        return self.proc.returncode

    async def wait_ready(self, client, timeout: float = 15) -> None:
        """Wait until the readiness probe says ready (e.g. remote keys fetched)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            async with client.get(f"{self.http}/rest/microgateway/ready") as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"gateway never became ready; log:\n{self.log}")

    async def wait_for_log(self, pattern: str, timeout: float = 20) -> str:
        """Wait until a log line matches ``pattern`` (a regex); returns the line."""
        regex = re.compile(pattern)
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while asyncio.get_running_loop().time() < deadline:
            for line in self.lines[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.lines)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no log line matched {pattern!r}; log:\n{self.log}")


def write_config(folder: Path, config: dict | str, name: str = "config.yml") -> Path:
    path = folder / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
    return path


async def start_gateway(
    *configs: Path,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    expect: tuple[str, ...] = ("http",),
    free_ports: bool = True,
    timeout: float = 30,
) -> GatewayProcess:
    """Start microgw; with ``free_ports`` the listeners take port 0 (the OS picks, the log tells)."""
    argv = [sys.executable, "-m", "microgw", "start"]
    for config in configs:
        argv += ["-c", str(config)]
    if free_ports:
        argv += ["-p", "0"]
        if "https" in expect:
            argv += ["--https-port", "0"]
    argv += list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.lower().startswith("mcgw_")}
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=full_env, cwd=str(REPO)
    )
    lines: list[str] = []
    ports: dict[str, int] = {}

    async def read_until_listening() -> None:
        # A worker listens before its settings are in place (answering 503 starting): with a
        # supervisor, wait until it says the whole group serves, not only the first worker.
        supervised = group_ready = False
        while set(expect) - set(ports) or (supervised and not group_ready):
            raw = await proc.stderr.readline()
            if not raw:
                raise AssertionError("microgw exited before listening:\n" + "\n".join(lines))
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            supervised = supervised or "[supervisor]" in line
            group_ready = group_ready or bool(GROUP_READY.search(line))
            match = LISTENING.search(line)
            if match:
                ports[match.group(1)] = int(match.group(2))

    try:
        await asyncio.wait_for(read_until_listening(), timeout)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    gateway = GatewayProcess(proc, ports, lines)

    async def drain() -> None:
        while True:
            raw = await proc.stderr.readline()
            if not raw:
                return
            lines.append(raw.decode(errors="replace").rstrip())

    gateway._drain = asyncio.create_task(drain())
    return gateway


async def run_microgw(*argv: str, env: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, str, str]:
    """Run a short microgw command; returns (exit code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.lower().startswith("mcgw_")}
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "microgw", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=full_env, cwd=str(REPO),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()
