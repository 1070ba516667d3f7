"""What a fresh token costs inside a serving gateway: validation timed in place, cached vs fresh.

bench/bench_fresh.py times the validator in a hot loop; a gateway runs it between a request's other
work, with colder caches. This runs one gateway as peers.py does (same nginx upstream, same config,
same PyJWT tokens), loads it with wrk through a Lua script that sends either one token (cached) or
12,000 distinct ones (every request a miss + an eviction), and reports per round:

* req/s and the gateway's CPU time per request (its process, user + system);
* ``TokenValidator.validate``, the RS256 verifier and ``parse`` timed in place with this thread's
  CPU clock (p50 and mean; the mean carries the collector's pauses that hit the call). The timers
  themselves add ~1-2 µs to ``validate`` (six clock reads around it and inside).

A third mode, ``cached+rs256``, sends the one cached token and has the gateway check one RS256
signature per request on top (the same verifier call a fresh token makes, nothing else): its CPU per
request minus the cached one is what the signature check alone costs a request, its own time plus
what it does to the rest of the request (caches it leaves cold); ``cached / cached+rs256`` is then
the best fresh/cached ratio any Python-side work on the token path could reach.

Both modes use the same Lua script, so wrk's own cost per request is the same. Run by hand (never in
tests), needs wrk and nginx:   python3 bench/fresh_in_situ.py [--seconds 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, wait_http, wait_started  # noqa: E402
from peers import FRESH_LUA, cpu_seconds, keys, load_avg, mint, spawn, upstream_nginx, write_microgw_config, wrk  # noqa: E402

STATS_SIGNAL = signal.SIGUSR2  # the gateway writes and resets its timings
RS256_SIGNAL = signal.SIGURG  # the gateway starts / stops one extra RS256 check per request


def serve(config: str, stats: str) -> int:
    """The gateway process: microgw start with timers around the token path."""
    from microgw.tokens import validator, verify

    samples: dict[str, list[int]] = {"validate": [], "rs256": [], "parse": []}
    clock = time.thread_time_ns

    original_validate = validator.TokenValidator.validate

    extra: dict = {"on": False, "input": None}

    async def validate(self, *args, **kwargs):
        start = clock()
        result = await original_validate(self, *args, **kwargs)
        if extra["on"]:  # cached+rs256: the signature check a fresh token makes, on a cache hit
            if extra["input"] is None:
                parsed = verify.parse(args[0])
                extra["input"] = (parsed.signing_input, parsed.signature)
            rs256(result.verify_key.key, *extra["input"])
        samples["validate"].append(clock() - start)
        return result

    def toggle(*_):
        extra["on"] = not extra["on"]

    rs256 = verify._VERIFIERS["RS256"]

    def timed_rs256(key, data, sig):
        start = clock()
        rs256(key, data, sig)
        samples["rs256"].append(clock() - start)

    parse = validator.parse

    def timed_parse(*args):
        start = clock()
        result = parse(*args)
        samples["parse"].append(clock() - start)
        return result

    validator.TokenValidator.validate = validate
    verify._VERIFIERS["RS256"] = timed_rs256
    validator.parse = timed_parse

    def dump(*_):
        row = {}
        for name, values in samples.items():
            if values:
                row[name] = {"n": len(values), "p50_us": statistics.median(values) / 1e3, "mean_us": sum(values) / len(values) / 1e3}
            values.clear()
        with open(stats, "a") as out:
            out.write(json.dumps(row) + "\n")

    signal.signal(STATS_SIGNAL, dump)
    signal.signal(RS256_SIGNAL, toggle)
    from microgw.cli import main as microgw_main

    return microgw_main(["start", "-c", config])


def read_stats(path: Path, before: int) -> dict:
    deadline = time.time() + 10
    while time.time() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) > before:
            return json.loads(lines[-1])
        time.sleep(0.05)
    raise RuntimeError("the gateway wrote no timings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=12000)
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        raise SystemExit(serve(*args.serve))
    with tempfile.TemporaryDirectory(prefix="fresh-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        key, cert = keys(folder)
        _, upstream = upstream_nginx(folder, stack)
        config, port = write_microgw_config(folder, "mgw", upstream, cert)
        stats = folder / "stats.jsonl"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = stack.enter_context(spawn([sys.executable, __file__, "--serve", str(config), str(stats)], env=env, log=folder / "mgw.log"))
        url = f"http://127.0.0.1:{port}/gateway/jwt/1.0/hello"
        wait_started(port, timeout=60)
        tokens = mint(key, args.tokens + 1)
        scripts = {}
        for mode, chosen in (("cached", tokens[-1:]), ("fresh", tokens[:-1])):
            (folder / f"{mode}.txt").write_text("\n".join(chosen) + "\n")
            scripts[mode] = folder / f"{mode}.lua"
            scripts[mode].write_text(FRESH_LUA.format(path=folder / f"{mode}.txt", path_url="/gateway/jwt/1.0/hello"))
        wait_http(url, headers={"Authorization": f"Bearer {tokens[-1]}"})
        for mode in ("cached", "fresh"):  # warm up; the fresh run fills the cache
            wrk(url, 3, script=scripts[mode])
        modes = {"cached": "cached", "cached+rs256": "cached", "fresh": "fresh"}  # mode -> token script
        rows: dict[str, list[dict]] = {mode: [] for mode in modes}
        loads = [load_avg()]
        for _ in range(args.rounds):
            for mode, script in modes.items():
                lines = len(stats.read_text().splitlines()) if stats.exists() else 0
                os.kill(proc.pid, STATS_SIGNAL)  # drop what the previous run left
                read_stats(stats, lines)
                lines += 1
                if mode == "cached+rs256":
                    os.kill(proc.pid, RS256_SIGNAL)
                cpu = cpu_seconds(proc.pid)
                result = wrk(url, args.seconds, script=scripts[script])
                cpu = cpu_seconds(proc.pid) - cpu
                if mode == "cached+rs256":
                    os.kill(proc.pid, RS256_SIGNAL)
                os.kill(proc.pid, STATS_SIGNAL)
                timings = read_stats(stats, lines)
                row = {"rps": result["rps"], "cpu_us": cpu / result["requests"] * 1e6, "non2xx": result["non2xx"], **timings}
                rows[mode].append(row)
                t = {k: f"{v['p50_us']:.1f}/{v['mean_us']:.1f}" for k, v in timings.items()}
                print(f"{mode:<13}{row['rps']:>8.0f} req/s  CPU {row['cpu_us']:6.1f} µs/req  p50/mean µs: {t}  non-2xx {row['non2xx']}", file=sys.stderr)
            loads.append(load_avg())

    def med(mode: str, *path: str) -> float:
        values = []
        for row in rows[mode]:
            value = row
            if len(path) > 1 and row.get(path[0], {}).get("n", 0) < 100:
                continue  # cached: the one token's first check after the fresh run evicted it
            for step in path:
                value = value.get(step, {}) if isinstance(value, dict) else {}
            if isinstance(value, (int, float)):
                values.append(value)
        return statistics.median(values) if values else float("nan")

    print(f"\n{'medians':<28}{'cached':>10}{'+rs256':>10}{'fresh':>10}{'fresh-cached':>14}")
    for label, path in (
        ("req/s", ("rps",)),
        ("gateway CPU µs/request", ("cpu_us",)),
        ("validate p50 µs", ("validate", "p50_us")),
        ("validate mean µs", ("validate", "mean_us")),
        ("  RS256 verify p50 µs", ("rs256", "p50_us")),
        ("  parse p50 µs", ("parse", "p50_us")),
    ):
        c, r, f = med("cached", *path), med("cached+rs256", *path), med("fresh", *path)
        show = lambda v: f"{v:>10.1f}" if v == v else f"{'-':>10}"  # noqa: E731 - NaN: not measured
        diff = f"{f - c:>14.1f}" if c == c and f == f else f"{'-':>14}"
        print(f"{label:<28}{show(c)}{show(r)}{show(f)}{diff}")
    c, r, f = (med(mode, "cpu_us") for mode in modes)
    print(f"fresh / cached req/s: {med('fresh', 'rps') / med('cached', 'rps'):.2f}; by CPU per request: {c / f:.2f}")
    print(f"CPU per request: the RS256 check alone {r - c:.1f} µs, the rest of a fresh token {f - r:.1f} µs; "
          f"best ratio with nothing but the check (cached / cached+rs256): {c / r:.2f}")
    print(f"load averages (1/5/15 min) before and after each round: {loads}")


if __name__ == "__main__":
    main()
