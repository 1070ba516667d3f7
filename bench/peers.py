"""microgw side by side with its peers, in one run: req/s, p50, p99, RSS and the issue-15 ratios.

Run by hand (never in tests); it installs nothing. Needs wrk, nginx and HAProxy (>= 2.5 for
``jwt_verify``):   apt-get install -y wrk haproxy nginx

    python3 bench/peers.py [--seconds 10] [--rounds 3] [--json out.json] [--curve 1,2,3] [--only a,b]

Every target sits behind the same upstream, an nginx answering a 17-byte JSON body, and is loaded
with ``wrk -t1 -c32 --latency``. Rounds alternate over the targets (the order rotates each round) and
the table shows medians, so a noisy neighbour hurts every target alike. Targets:

  upstream      nginx answering by itself (what the machine can do at all)
  nginx-proxy   nginx proxy_pass with pooled upstream connections
  haproxy-jwt   HAProxy, native jwt_verify RS256 (signature, iss and exp checked; no cache exists)
  naive         bench/naive_proxy.py: a ten-line aiohttp proxy, no auth (the Python floor)
  mgw-open      microgw, API without policies
  mgw-jwt       microgw, jwt policy, one RS256 token (the verified-token cache hits)
  mgw-fresh     microgw, jwt policy, a wrk Lua script cycling through more distinct tokens than the
                cache holds, so every request verifies a signature
  mgw-jwt-w2    microgw --workers 2, jwt policy, one token

One worker/thread/process each, except mgw-jwt-w2. ``--curve 1,2,3`` adds mgw-jwt-wN for each N.
``--baseline /work/main`` adds base-jwt: mgw-jwt of another checkout, so a change is judged by the
ratio mgw-jwt / base-jwt measured in the same rounds (the machine's load shifts between runs); with
mgw-fresh selected it also adds base-fresh, the other checkout's fresh-token run.

Besides req/s, each round records the CPU time (user + system, the target's whole process tree) per
request. On a shared machine req/s moves with the neighbours' load (the wait for a core); the CPU a
request takes moves far less, so "mgw-jwt / mgw-fresh (CPU per request)" is the steadier reading of
what a fresh token costs (a load that pollutes caches still shows in it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, _ms, free_port, wait_http  # noqa: E402

BODY = '{"hello":"world"}'
ISSUER = "https://idp.bench"
CONNECTIONS = 32


# --- processes --------------------------------------------------------------------------------

@contextmanager
def spawn(argv: list[str], *, env: dict | None = None, log: Path | None = None, cwd: Path = REPO):
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (nginx/HAProxy workers, microgw workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants."""
    total = 0
    for current in tree(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its living descendants.

    Per request it is the cost a target pays whatever the machine's load: a shared machine changes
    req/s (waits for a core) far more than it changes the CPU a request takes."""
    total = 0
    for current in tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total / _TICK


# --- peers --------------------------------------------------------------------------------------

NGINX_COMMON = """
worker_processes 1;
daemon off;
user root;
pid {dir}/{name}.pid;
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/{name}-body;
  proxy_temp_path {dir}/{name}-proxy;
  fastcgi_temp_path {dir}/{name}-fcgi;
  uwsgi_temp_path {dir}/{name}-uwsgi;
  scgi_temp_path {dir}/{name}-scgi;
  keepalive_requests 1000000;
  {body}
}}
"""

UPSTREAM_SERVER = """
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
"""

PROXY_SERVER = """
  upstream native {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ proxy_pass http://native; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
"""

HAPROXY = """
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend jwt
  bind 127.0.0.1:{port}
  http-request deny deny_status 401 unless {{ http_auth_bearer,jwt_header_query('$.alg') -m str RS256 }}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_verify("RS256","{cert}") -m int 1 }}
  http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_payload_query('$.iss') -m str {issuer} }}
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 if {{ var(txn.exp),sub(txn.now) -m int lt 0 }}
  http-request del-header Authorization
  default_backend native
backend native
  http-reuse always
  server up 127.0.0.1:{upstream}
"""

FRESH_LUA = """
local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "{path_url}", {{["Authorization"] = "Bearer " .. tokens[i]}})
end
"""


def nginx(folder: Path, name: str, body: str, stack: ExitStack) -> int:
    conf = folder / f"{name}.conf"
    conf.write_text(NGINX_COMMON.format(dir=folder, name=name, body=body))
    proc = stack.enter_context(spawn(["nginx", "-p", str(folder), "-c", str(conf), "-e", "stderr"], log=folder / f"{name}.log"))
    return proc.pid


def keys(folder: Path) -> tuple[object, Path]:
    """An RSA-2048 key, a self-signed certificate of it (microgw's trust store) and its public key (HAProxy's)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.bench")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    path = folder / "idp.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    public = serialization.PublicFormat.SubjectPublicKeyInfo  # HAProxy 2.6 reads a bare public key, not a certificate
    (folder / "idp.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, public))
    return key, path


def mint(key, count: int) -> list[str]:
    import jwt as pyjwt  # PyJWT: the test extra

    exp = int(time.time()) + 3600
    return [pyjwt.encode({"iss": ISSUER, "sub": f"user-{n}", "exp": exp, "n": n}, key, algorithm="RS256") for n in range(count)]


def microgw_config(upstream: str, port: int, cert: Path, state: Path, workers: int) -> dict:
    server = {"workers": workers} if workers > 1 else {}
    return {
        "ports": {"http": port},
        "server": server,
        "state_dir": str(state),
        "logging": {"level": "warning", "access_log": False},
        "trust_store": {"type": "PEM", "location": str(cert)},
        "security_settings": {
            "auth_servers": [
                {
                    "id": "idp", "name": "idp", "type": "authServerAlias",
                    "localIntrospectionConfig": {"issuer": ISSUER, "jwksuri": None, "trustStoreAlias": None, "certificateAlias": "idp"},
                }
            ]
        },
        "apis": [
            {"name": "open", "version": "1.0", "endpoint": upstream},
            {"name": "jwt", "version": "1.0", "endpoint": upstream, "policies": {"jwt": {}}},
        ],
    }


def write_microgw_config(folder: Path, name: str, upstream: str, cert: Path, workers: int = 1) -> tuple[Path, int]:
    """``<name>.yml`` (and its state folder) for a gateway on a free port: the path and the port."""
    port = free_port()
    state = folder / f"{name}-state"
    state.mkdir()
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(microgw_config(upstream, port, cert, state, workers)))
    return path, port


def upstream_nginx(folder: Path, stack: ExitStack) -> tuple[int, str]:
    """The nginx every target is measured behind, answering BODY: its pid and URL, once it answers."""
    port = free_port()
    pid = nginx(folder, "upstream", UPSTREAM_SERVER.format(port=port, body=BODY), stack)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/")
    return pid, url


def microgw(folder: Path, name: str, upstream: str, cert: Path, workers: int, stack: ExitStack, repo: Path = REPO) -> tuple[int, str]:
    path, port = write_microgw_config(folder, name, upstream, cert, workers)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = stack.enter_context(spawn([sys.executable, "-m", "microgw", "start", "-c", str(path)], env=env, log=folder / f"{name}.log", cwd=repo))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {(folder / f'{name}.log').read_text()[-1500:]}")
        try:
            wait_http(f"{url}/rest/microgateway/health", timeout=0.5)
            return proc.pid, url
        except RuntimeError:
            if time.time() > deadline:
                raise


# --- load -------------------------------------------------------------------------------------

def wrk(url: str, seconds: float, *, headers: dict | None = None, script: Path | None = None) -> dict:
    import re

    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{int(seconds)}s", "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def load_avg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# --- report -------------------------------------------------------------------------------------

RATIOS = [  # (label, numerator, denominator, metric, target, higher is better)
    ("mgw-jwt / naive (req/s)", "mgw-jwt", "naive", "rps", 1.3, True),
    ("mgw-jwt / haproxy-jwt (req/s)", "mgw-jwt", "haproxy-jwt", "rps", 0.5, True),
    ("mgw-fresh / mgw-jwt (req/s)", "mgw-fresh", "mgw-jwt", "rps", 0.7, True),
    ("mgw-jwt / mgw-fresh (CPU per request)", "mgw-jwt", "mgw-fresh", "cpu_us", None, True),
    ("mgw-jwt p50 / nginx-proxy p50", "mgw-jwt", "nginx-proxy", "p50_ms", 2.0, False),
    ("mgw-jwt p99 / haproxy-jwt p99", "mgw-jwt", "haproxy-jwt", "p99_ms", 3.0, False),
    ("mgw-jwt-w2 / mgw-jwt (req/s)", "mgw-jwt-w2", "mgw-jwt", "rps", 1.7, True),
    ("mgw-open / naive (req/s)", "mgw-open", "naive", "rps", None, True),
    ("mgw-jwt / base-jwt (req/s)", "mgw-jwt", "base-jwt", "rps", None, True),
    ("mgw-jwt p50 / base-jwt p50", "mgw-jwt", "base-jwt", "p50_ms", None, False),
    ("mgw-jwt / base-jwt (CPU per request)", "mgw-jwt", "base-jwt", "cpu_us", None, False),
    ("mgw-fresh / base-fresh (req/s)", "mgw-fresh", "base-fresh", "rps", None, True),
    ("mgw-fresh / base-fresh (CPU per request)", "mgw-fresh", "base-fresh", "cpu_us", None, False),
    ("base-fresh / base-jwt (req/s)", "base-fresh", "base-jwt", "rps", None, True),
]


def summarize(samples: dict[str, list[dict]], rss: dict[str, int]) -> dict[str, dict]:
    out = {}
    for name, runs in samples.items():
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "cpu_us": round(statistics.median(cpus), 1) if (cpus := [r["cpu_us"] for r in runs if "cpu_us" in r]) else None,
            "rss_mib": round(rss.get(name, 0) / 1024, 1),
            "non2xx": sum(r["non2xx"] for r in runs),
            "socket_errors": sorted({r["socket_errors"] for r in runs if r["socket_errors"]}),
            "rounds": [{k: r[k] for k in ("rps", "p50_ms", "p99_ms", "cpu_us") if k in r} for r in runs],
        }
    return out


def ratios(table: dict[str, dict]) -> list[dict]:
    rows = []
    for label, num, den, metric, target, higher in RATIOS:
        if num in table and den in table and table[den][metric] and table[num][metric] is not None:
            value = table[num][metric] / table[den][metric]
            met = None if target is None else (value >= target if higher else value <= target)
            rows.append({"ratio": label, "value": round(value, 3), "target": target and (f">= {target}" if higher else f"<= {target}"), "met": met})
    return rows


def show(table: dict[str, dict], rows: list[dict]) -> None:
    base = table.get("naive", {}).get("rps")
    print(f"\n{'target':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs':>9}{'RSS MiB':>9}{'x naive':>9}  errors")
    for name, row in table.items():
        rel = f"{row['rps'] / base:.2f}" if base else "-"
        errors = f"non-2xx {row['non2xx']}" if row["non2xx"] else ""
        errors += (" " + ", ".join(row["socket_errors"])) if row["socket_errors"] else ""
        cpu = f"{row['cpu_us']:.0f}" if row["cpu_us"] is not None else "-"
        print(f"{name:<14}{row['rps']:>9.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{cpu:>9}{row['rss_mib']:>9.1f}{rel:>9}  {errors}")
    print()
    for row in rows:
        mark = {True: "met", False: "MISSED", None: ""}[row["met"]]
        print(f"{row['ratio']:<42}{row['value']:>7.2f}  {row['target'] or '':<8} {mark}")


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the table shows medians (default 3)")
    parser.add_argument("--tokens", type=int, default=12000, help="distinct tokens for mgw-fresh; more than the cache's 10000 (default 12000)")
    parser.add_argument("--curve", default="", help="also measure mgw-jwt with these worker counts, e.g. 1,2,3")
    parser.add_argument("--only", default="", help="comma-separated targets to run (default all)")
    parser.add_argument("--baseline", metavar="CHECKOUT", help="also measure mgw-jwt of another checkout (e.g. /work/main) as base-jwt, "
                        "for a before/after ratio within one run")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON here ('-': stdout)")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "haproxy"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed: apt-get install -y wrk haproxy nginx")
    only = {t for t in args.only.split(",") if t}
    curve = [int(n) for n in args.curve.split(",") if n]

    def wanted(name: str) -> bool:
        return not only or name in only

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        key, cert = keys(folder)
        token = mint(key, 1)[0]
        auth = {"Authorization": f"Bearer {token}"}
        upstream_pid, upstream = upstream_nginx(folder, stack)
        up_port = int(upstream.rsplit(":", 1)[1])
        pids: dict[str, int] = {"upstream": upstream_pid}
        targets: dict[str, tuple[str, dict]] = {"upstream": (f"{upstream}/hello", {})}
        if wanted("nginx-proxy"):
            port = free_port()
            pids["nginx-proxy"] = nginx(folder, "proxy", PROXY_SERVER.format(port=port, upstream=up_port), stack)
            targets["nginx-proxy"] = (f"http://127.0.0.1:{port}/hello", {})
        if wanted("haproxy-jwt"):
            port = free_port()
            conf = folder / "haproxy.cfg"
            conf.write_text(HAPROXY.format(port=port, upstream=up_port, cert=folder / "idp.pub", issuer=ISSUER))
            pids["haproxy-jwt"] = stack.enter_context(spawn(["haproxy", "-db", "-f", str(conf)], log=folder / "haproxy.log")).pid
            targets["haproxy-jwt"] = (f"http://127.0.0.1:{port}/hello", auth)
        if wanted("naive"):
            port = free_port()
            pids["naive"] = stack.enter_context(spawn([sys.executable, str(REPO / "bench" / "naive_proxy.py"), str(port), upstream])).pid
            targets["naive"] = (f"http://127.0.0.1:{port}/hello", {})
        if any(wanted(t) for t in ("mgw-open", "mgw-jwt", "mgw-fresh")):
            pid, url = microgw(folder, "mgw", upstream, cert, 1, stack)
            for name, path, headers in (("mgw-open", "open", {}), ("mgw-jwt", "jwt", auth), ("mgw-fresh", "jwt", None)):
                if wanted(name):
                    pids[name] = pid
                    targets[name] = (f"{url}/gateway/{path}/1.0/hello", headers)
        if args.baseline:
            pids["base-jwt"], url = microgw(folder, "base", upstream, cert, 1, stack, repo=Path(args.baseline).resolve())
            targets["base-jwt"] = (f"{url}/gateway/jwt/1.0/hello", auth)
            if wanted("mgw-fresh"):
                pids["base-fresh"] = pids["base-jwt"]
                targets["base-fresh"] = (f"{url}/gateway/jwt/1.0/hello", None)
        workers = sorted({2} | set(curve)) if wanted("mgw-jwt-w2") or curve else sorted(set(curve))
        for n in workers:
            name = f"mgw-jwt-w{n}"
            if n == 2 and not wanted(name) and 2 not in curve:
                continue
            try:
                pids[name], url = microgw(folder, f"mgw-w{n}", upstream, cert, n, stack)
            except RuntimeError as exc:
                print(f"skipping {name}: {exc}", file=sys.stderr)
                continue
            targets[name] = (f"{url}/gateway/jwt/1.0/hello", auth)
        script = None
        if "mgw-fresh" in targets or "base-fresh" in targets:
            print(f"minting {args.tokens} RS256 tokens for mgw-fresh...", file=sys.stderr)
            tokens = folder / "tokens.txt"
            tokens.write_text("\n".join(mint(key, args.tokens)) + "\n")
            script = folder / "fresh.lua"
            script.write_text(FRESH_LUA.format(path=tokens, path_url="/gateway/jwt/1.0/hello"))
        for url in {u for u, _ in targets.values()}:
            wait_http(url, headers=auth)
        names = [n for n in targets if wanted(n) or n.startswith("mgw-jwt-w") or n.startswith("base-")]
        for name in names:  # warm up: pools, caches, JIT-less but branchy code paths
            url, headers = targets[name]
            wrk(url, 2, headers=headers, script=script if headers is None else None)
        samples: dict[str, list[dict]] = {n: [] for n in names}
        loads = [load_avg()]
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[: round_no % len(names)]
            for name in order:
                url, headers = targets[name]
                before = cpu_seconds(pids[name]) if name in pids else None
                result = wrk(url, args.seconds, headers=headers, script=script if headers is None else None)
                if before is not None and result["requests"]:
                    result["cpu_us"] = (cpu_seconds(pids[name]) - before) / result["requests"] * 1e6
                samples[name].append(result)
                cpu = f"  CPU {result['cpu_us']:.0f} µs/req" if "cpu_us" in result else ""
                print(f"round {round_no + 1} {name:<13} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']:.2f}  p99 {result['p99_ms']:.2f}"
                      f"{cpu}  non-2xx {result['non2xx']}", file=sys.stderr)
            loads.append(load_avg())
        rss = {name: rss_kib(pids[name]) for name in names if name in pids}
    table = summarize(samples, rss)
    rows = ratios(table)
    show(table, rows)
    print(f"\nload averages (1/5/15 min) before and after each round: {loads}")
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_averages": loads},
        "wrk": {"threads": 1, "connections": CONNECTIONS, "seconds": args.seconds, "rounds": args.rounds},
        "fresh_tokens": args.tokens,
        "targets": table,
        "ratios": rows,
    }
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
