"""Fleet scale by simulation: one parent microgw, N children polling it exactly as real ones do.

Run by hand: ``python bench/fleet.py [--children 200] [--interval 2] [--seconds 20] [--apis 50]
[--apps 1000] [--unconditional]``. The children are :class:`microgw.sync.client.ParentClient`
objects (the download code a real sidecar runs), each polling every ``interval`` (+-10% jitter, as
the poller does) through a counting relay. Reported:

- the full first download: parent CPU and bytes per child;
- unchanged polls: parent CPU per poll (from /proc, the parent process alone), bytes per poll on
  the wire, and the children one parent core serves at a 10 s interval (10 s / CPU per poll);
- propagation: the parent reloads with one more application; the time until every child has it,
  and the parent CPU the wave of downloads cost (the simulated children share this one process, so
  with many of them their own work, not the parent, bounds the time measured).

``--unconditional`` makes every poll a full download (no ETags kept, no settings tag), which is
what a child did before conditional polling: the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, admin_reload, free_port, many_applications, wait_started  # noqa: E402
from microgw.sync.client import ParentClient, ParentSettings  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def parent_config(port: int, apis: int, apps: int) -> dict:
    return {
        "ports": {"http": port},
        "logging": {"level": "warning", "access_log": False},
        "issuer": {"issuer": "bench-parent", "https_only": False},
        **many_applications(apis, apps),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class Relay:
    """Counts the bytes between the children and the parent (what the network carries)."""

    def __init__(self, target: int) -> None:
        self.target, self.up, self.down, self.connections = target, 0, 0, 0

    async def start(self) -> int:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False), return_exceptions=True)

    async def _pipe(self, reader, writer, upward: bool) -> None:
        try:
            while data := await reader.read(1 << 16):
                if upward:
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def total(self) -> int:
        return self.up + self.down


class Child:
    def __init__(self, url: str, unconditional: bool) -> None:
        self.client = ParentClient(ParentSettings(url, "Administrator", "manage", None, timeout=60))
        self.unconditional = unconditional
        self.polls = 0
        self.app_ids: set[str] = set()

    async def download(self) -> None:
        if self.unconditional:
            self.client._kept, self.client._previous = {}, None  # forget: a full download, as before
        document = await self.client.download()
        self.polls += 1
        if not self.client.unchanged:
            self.app_ids = {a.get("id") for a in document.get("applications") or []}

    async def poll(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval * random.uniform(0.9, 1.1))
            except asyncio.TimeoutError:
                await self.download()


async def run(args) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "parent.yml"
        config = parent_config(port, args.apis, args.apps)
        config["state_dir"] = str(Path(folder) / "state")
        path.write_text(yaml.safe_dump(config))
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "microgw", "start", "-c", str(path), cwd=REPO,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.to_thread(wait_started, port)
            relay = Relay(port)
            relay_port = await relay.start()
            children = [Child(f"http://127.0.0.1:{relay_port}", args.unconditional) for _ in range(args.children)]
            print(f"parent: {args.apis} APIs, {args.apps} applications; {args.children} children polling every {args.interval} s"
                  f"{' (unconditional: full downloads)' if args.unconditional else ''}")

            cpu, wire = cpu_seconds(proc.pid), relay.total()
            for child in children:  # one after the other: the cost of one full download
                await child.download()
            first_cpu = (cpu_seconds(proc.pid) - cpu) / len(children)
            first_bytes = (relay.total() - wire) / len(children)
            print(f"first download:      {first_cpu * 1000:8.2f} ms parent CPU, {first_bytes / 1024:8.1f} KiB per child")

            stop = asyncio.Event()
            tasks = [asyncio.create_task(child.poll(args.interval, stop)) for child in children]
            await asyncio.sleep(args.interval * 1.2)  # every child in its rhythm
            cpu, wire, polls, started = cpu_seconds(proc.pid), relay.total(), sum(c.polls for c in children), time.monotonic()
            await asyncio.sleep(args.seconds)
            elapsed = time.monotonic() - started
            done = sum(c.polls for c in children) - polls
            per_poll = (cpu_seconds(proc.pid) - cpu) / max(done, 1)
            bytes_per_poll = (relay.total() - wire) / max(done, 1)
            print(f"{'unchanged' if not args.unconditional else 'full'} polls:     {per_poll * 1000:8.2f} ms parent CPU, {bytes_per_poll:8.0f} bytes per poll"
                  f"  ({done} polls in {elapsed:.1f} s, {done / elapsed:.0f}/s)")
            if per_poll > 0:
                print(f"one parent core at a 10 s interval: ~{10 / per_poll:,.0f} children (CPU alone, at this machine's speed)")

            config["applications"].append({"id": "app-new", "api_keys": ["key-new-0123456789abcdef"], "apis": ["api0/1.0"]})
            path.write_text(yaml.safe_dump(config))
            changed, wave_cpu, own_cpu = time.monotonic(), cpu_seconds(proc.pid), time.process_time()
            await asyncio.to_thread(admin_reload, port, 120)
            reloaded = time.monotonic() - changed
            arrived: dict[int, float] = {}
            while len(arrived) < len(children) and time.monotonic() - changed < args.interval * 5 + 60:
                now = time.monotonic()
                for index, child in enumerate(children):
                    if index not in arrived and "app-new" in child.app_ids:
                        arrived[index] = now - changed
                await asyncio.sleep(0.02)
            wave_cpu, own_cpu = cpu_seconds(proc.pid) - wave_cpu, time.process_time() - own_cpu
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            times = sorted(arrived.values())
            if times:
                print(f"propagation:         reload {reloaded:.2f} s; every child had it after {times[-1]:.2f} s "
                      f"(median {statistics.median(times):.2f} s, {len(times)}/{len(children)} children; interval {args.interval} s)")
            else:
                print("propagation: no child saw the change")
            print(f"the change wave:     parent CPU {wave_cpu:.2f} s (reload included), {wave_cpu / len(children) * 1000:.1f} ms per child;"
                  f" this bench's own CPU {own_cpu:.2f} s (the simulated children share one process: with many"
                  f" children, their own work bounds the propagation measured here)")
        finally:
            proc.terminate()
            await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--apis", type=int, default=50)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--unconditional", action="store_true", help="full downloads every poll (the baseline)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
