"""``microgw start --workers N``: real processes on one port under a supervisor (issue 15).

What a user sees: one port, answers from several processes; a killed worker comes back; a reload
(admin API or SIGHUP to the supervisor) reaches every worker; /metrics counts the whole group;
with a parent gateway only worker 0 downloads and the others serve what it saved.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal

import aiohttp
import yaml

from support.parent import FakeParent

ADMIN = {"Authorization": aiohttp.encode_basic_auth("admin", "admin")}
ADMIN_CONFIG = {"user": "admin", "password": "{encoded}YWRtaW4="}


async def one_connection_status(gw, path: str = "/rest/microgateway/status") -> tuple[aiohttp.ClientSession, dict]:
    """A session held to ONE connection, so every request on it reaches the same worker."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=False))
    async with session.get(f"{gw.http}{path}", headers=ADMIN) as resp:
        return session, await resp.json()


async def statuses_of_every_worker(gw, count: int = 2, tries: int = 200) -> dict[int, dict]:
    """Status from each worker, reached over new connections (the kernel spreads them)."""
    seen: dict[int, dict] = {}
    for _ in range(tries):
        session, body = await one_connection_status(gw)
        await session.close()
        seen[body["worker"]["index"]] = body
        if len(seen) == count:
            return seen
    raise AssertionError(f"only workers {sorted(seen)} answered in {tries} connections")


async def until(predicate, timeout: float = 15.0, every: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(every)


def started_pids(log: str) -> dict[int, list[int]]:
    pids: dict[int, list[int]] = {}
    for index, pid in re.findall(r"worker (\d+) started \(pid (\d+)\)", log):
        pids.setdefault(int(index), []).append(int(pid))
    return pids


async def test_two_workers_restart_reload_and_summed_metrics(gateway, upstream, tmp_path):
    path = tmp_path / "gw.yml"
    config = {"admin": ADMIN_CONFIG, "apis": [{"name": "pets", "version": "1.0", "endpoint": upstream.url}]}
    path.write_text(yaml.safe_dump(config))
    gw = await gateway(path, args=("--workers", "2"))
    await gw.wait_for_log(r"supervisor: 2 workers on http port %d" % gw.ports["http"])
    first = await statuses_of_every_worker(gw)
    assert {body["worker"]["pid"] for body in first.values()} == {started_pids(gw.log)[0][0], started_pids(gw.log)[1][0]}
    assert os.getpid() not in {body["worker"]["pid"] for body in first.values()}

    # requests over new connections land on both workers; /metrics on any one counts them all
    for _ in range(20):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
            async with fresh.get(f"{gw.http}/gateway/pets/1.0/echo") as resp:
                assert resp.status == 200

    async def counted(expected: int, on: int | None = None):
        """/metrics shows ``expected`` requests (asked of worker ``on``, over one connection)."""
        for _ in range(200):
            session, body = await one_connection_status(gw)
            try:
                if on is None or body["worker"]["index"] == on:
                    async with session.get(f"{gw.http}/rest/microgateway/metrics", headers=ADMIN) as resp:
                        text = await resp.text()
                    return f'microgw_requests_total{{api="pets",version="1.0",status="200"}} {expected}' in text
            finally:
                await session.close()
        return False

    await until(lambda: counted(20, on=0))  # worker 0 sums its own and worker 1's written counts

    # a killed worker comes back on the same port, and keeps its share of the counts
    victim = first[1]["worker"]["pid"]
    os.kill(victim, signal.SIGKILL)
    await gw.wait_for_log(r"worker 1 \(pid %d\) exited with signal 9; restarting it" % victim)
    await gw.wait_for_log(r"worker 1 listens again")
    again = await statuses_of_every_worker(gw)
    assert again[1]["worker"]["pid"] not in (victim, first[0]["worker"]["pid"])
    assert again[0]["worker"]["pid"] == first[0]["worker"]["pid"]
    await until(lambda: counted(20, on=1))  # the new worker 1 started from the counts the killed one wrote

    # a reload over the admin API, answered by one worker, reaches the other
    config["apis"].append({"name": "cats", "version": "1.0", "endpoint": upstream.url})
    path.write_text(yaml.safe_dump(config))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gw.http}/rest/microgateway/reload", headers=ADMIN) as resp:
            assert resp.status == 200

    async def every_worker_has(apis: int):
        return all(body["apis"] == apis for body in (await statuses_of_every_worker(gw)).values())

    await until(lambda: every_worker_has(2))

    # SIGHUP to the supervisor reloads every worker
    config["apis"].append({"name": "owls", "version": "1.0", "endpoint": upstream.url})
    path.write_text(yaml.safe_dump(config))
    gw.proc.send_signal(signal.SIGHUP)
    await until(lambda: every_worker_has(3))

    # SIGTERM to the supervisor stops the group
    workers = [body["worker"]["pid"] for body in again.values()]
    assert await gw.stop() == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


async def test_only_worker_0_downloads_from_the_parent(gateway, client, tmp_path):
    apps = {"applications": [{"id": "a", "name": "A", "api_keys": ["key-a"], "apis": ["orders"]}]}
    parent = await FakeParent(applications=apps).start()
    try:
        config = {
            "admin": ADMIN_CONFIG,
            "api_gateway": {"url": f"127.0.0.1:{parent.port}", "download_settings": True},
            "polling_interval_secs": 3600,
            "apis": [{"name": "orders", "version": "1.0", "mock": {"echo": True}, "policies": {"identify": {"rules": ["apiKey"]}}}],
        }
        gw = await gateway(config, args=("--workers", "2"))
        await gw.wait_for_log(r"supervisor: 2 workers")
        assert parent.hits["applications"] == 1  # worker 0 downloaded; worker 1 started from its copy
        # both workers serve the download (over one connection each, to know who answered)
        for index in (0, 1):
            for _ in range(200):
                session, body = await one_connection_status(gw)
                if body["worker"]["index"] == index:
                    break
                await session.close()
            try:
                async with session.get(f"{gw.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "key-a"}) as resp:
                    assert resp.status == 200
                async with session.get(f"{gw.http}/rest/microgateway/ready") as resp:
                    state = (await resp.json())["parent"]["state"]
                assert state == ("downloaded" if index == 0 else "downloaded by worker 0")
            finally:
                await session.close()

        # worker 0 restarted downloads anew; worker 1 follows the copy it saves
        parent.answers["applications"] = {"applications": [{"id": "b", "name": "B", "api_keys": ["key-b"], "apis": ["orders"]}]}
        os.kill(started_pids(gw.log)[0][0], signal.SIGKILL)
        await gw.wait_for_log(r"worker 0 listens again")
        await gw.wait_for_log(r"\[worker 1\] microgw.sync: applied new settings from the parent \(downloaded by worker 0\)")
        assert parent.hits["applications"] == 2
        for _ in range(10):  # whichever worker answers, key-b is in and key-a is out
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                async with fresh.get(f"{gw.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "key-b"}) as resp:
                    assert resp.status == 200
                async with fresh.get(f"{gw.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "key-a"}) as resp:
                    assert resp.status == 401
    finally:
        await parent.stop()


async def test_workers_out_of_range_is_a_config_error(tmp_path):
    from support.gateway import run_microgw, write_config

    path = write_config(tmp_path, {"server": {"workers": 0}, "apis": []})
    code, _, err = await run_microgw("check", "-c", str(path))
    assert code == 2
    assert "at server.workers" in err and "minimum of 1" in err
