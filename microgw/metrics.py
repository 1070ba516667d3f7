"""Request counters, rendered as Prometheus text. Owned by one Gateway; nothing global (the other
workers of a ``--workers`` group are read from their snapshots)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Callable, Protocol


class _Services(Protocol):
    @property
    def background(self) -> tuple[object, ...]: ...  # parts may expose ``metrics() -> {name: value}``


class _Runtime(Protocol):
    """What the metrics read of a runtime: its readiness and its background parts."""

    @property
    def services(self) -> _Services: ...

    def readiness(self) -> tuple[bool, object]: ...


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


# Seconds; the gateway's own share is usually well under a millisecond, native services vary widely.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """A Prometheus histogram of one series: cumulative buckets are computed when rendered."""

    __slots__ = ("counts", "sum", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str, labels: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip((*BUCKETS, "+Inf"), self.counts):
            running += count
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {running}')
        lines += [f"{name}_sum{{{labels}}} {self.sum:.6f}", f"{name}_count{{{labels}}} {self.count}"]
        return lines


class Metrics:
    """This process's counters; with ``peers`` (a ``--workers`` group) totals and the rendering add
    the other workers' last snapshots, so any worker answers for the whole group (the latency
    histograms are the answering worker's own)."""

    __slots__ = ("requests", "errors", "gateway_seconds", "upstream_seconds", "peers")

    def __init__(self, peers: Callable[[], list[dict]] | None = None) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()  # (api, version, status)
        self.errors: Counter[str] = Counter()  # gateway error code
        self.peers = peers
        self.gateway_seconds: dict[tuple[str, str], Histogram] = {}  # the request minus the native service's part
        self.upstream_seconds: dict[tuple[str, str], Histogram] = {}  # waiting for the native service's answer

    def latency(self, api: str, version: str, total: float, upstream: float | None) -> None:
        """One /gateway request: ``total`` seconds, of which ``upstream`` waiting for the native service."""
        key = (api, version)
        gateway = self.gateway_seconds.get(key) or self.gateway_seconds.setdefault(key, Histogram())
        gateway.observe(total - upstream if upstream is not None else total)
        if upstream is not None:
            (self.upstream_seconds.get(key) or self.upstream_seconds.setdefault(key, Histogram())).observe(upstream)

    def observe(self, api: str, version: str, status: int) -> None:
        self.requests[(api, version, status)] += 1

    def refused(self, code: str) -> None:
        self.errors[code] += 1

    def snapshot(self) -> dict:
        """The counters as JSON-able data (what a worker writes for the others)."""
        return {"requests": [[a, v, s, n] for (a, v, s), n in self.requests.items()], "errors": dict(self.errors)}

    def add(self, snapshot: dict) -> None:
        """Add a :meth:`snapshot` (a restarted worker continues from the counts it had written)."""
        for api, version, status, count in snapshot.get("requests", ()):
            self.requests[(api, version, int(status))] += int(count)
        for code, count in snapshot.get("errors", {}).items():
            self.errors[code] += int(count)

    def _summed(self) -> "Metrics":
        if self.peers is None:
            return self
        total = Metrics()
        total.add(self.snapshot())
        for snapshot in self.peers():
            total.add(snapshot)
        return total

    def total(self) -> int:
        return sum(self._summed().requests.values())

    def render(self, runtime: _Runtime, *, degraded: bool = False) -> str:
        """The Prometheus text; ``degraded`` is what /ready reports (saved keys only, parent unreachable)."""
        summed = self._summed()
        lines = [
            "# HELP microgw_requests_total Requests answered on /gateway paths, by API and status.",
            "# TYPE microgw_requests_total counter",
        ]
        for (api, version, status), count in sorted(summed.requests.items()):
            lines.append(f'microgw_requests_total{{api="{_label(api)}",version="{_label(version)}",status="{status}"}} {count}')
        lines += [
            "# HELP microgw_refusals_total Requests the gateway refused itself, by error code.",
            "# TYPE microgw_refusals_total counter",
        ]
        for code, count in sorted(summed.errors.items()):
            lines.append(f'microgw_refusals_total{{code="{_label(code)}"}} {count}')
        for name, series, what in (
            ("microgw_gateway_seconds", self.gateway_seconds, "Time a /gateway request spent in the gateway (the whole request minus waiting for the native service)."),
            ("microgw_upstream_seconds", self.upstream_seconds, "Time from sending a request to the native service until its answer's headers arrived."),
        ):
            lines += [f"# HELP {name} {what}", f"# TYPE {name} histogram"]
            for (api, version), histogram in sorted(series.items()):
                lines += histogram.render(name, f'api="{_label(api)}",version="{_label(version)}"')
        ready, details = runtime.readiness()
        lines += ["# HELP microgw_ready 1 when every background part has what it needs.", "# TYPE microgw_ready gauge", f"microgw_ready {int(ready)}"]
        lines += [
            "# HELP microgw_degraded 1 when the gateway serves but something is off (keys only from the saved download, parent unreachable); /ready says what.",
            "# TYPE microgw_degraded gauge",
            f"microgw_degraded {int(degraded)}",
        ]
        for part in runtime.services.background:
            for name, value in getattr(part, "metrics", lambda: {})().items():
                lines.append(f"microgw_{name} {value}")
        return "\n".join(lines) + "\n"
