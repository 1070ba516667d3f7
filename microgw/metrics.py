"""Request counters, rendered as Prometheus text. Owned by one Gateway; nothing global."""

from __future__ import annotations

from collections import Counter
from typing import Protocol


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


class Metrics:
    __slots__ = ("requests", "errors")

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()  # (api, version, status)
        self.errors: Counter[str] = Counter()  # gateway error code

    def observe(self, api: str, version: str, status: int) -> None:
        self.requests[(api, version, status)] += 1

    def refused(self, code: str) -> None:
        self.errors[code] += 1

    def total(self) -> int:
        return sum(self.requests.values())

    def render(self, runtime: _Runtime) -> str:
        lines = [
            "# HELP microgw_requests_total Requests answered on /gateway paths, by API and status.",
            "# TYPE microgw_requests_total counter",
        ]
        for (api, version, status), count in sorted(self.requests.items()):
            lines.append(f'microgw_requests_total{{api="{_label(api)}",version="{_label(version)}",status="{status}"}} {count}')
        lines += [
            "# HELP microgw_refusals_total Requests the gateway refused itself, by error code.",
            "# TYPE microgw_refusals_total counter",
        ]
        for code, count in sorted(self.errors.items()):
            lines.append(f'microgw_refusals_total{{code="{_label(code)}"}} {count}')
        ready, details = runtime.readiness()
        lines += ["# HELP microgw_ready 1 when every background part has what it needs.", "# TYPE microgw_ready gauge", f"microgw_ready {int(ready)}"]
        for part in runtime.services.background:
            for name, value in getattr(part, "metrics", lambda: {})().items():
                lines.append(f"microgw_{name} {value}")
        return "\n".join(lines) + "\n"
