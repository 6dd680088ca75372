"""router/metrics: what the router counts per app and per dyno — in flight, req/s, latency percentiles, codes.

Recording a request is a handful of integer increments: latencies go into per-second histograms with
log-spaced buckets (exact below 32 ms, then 8 buckets per power of two, so a percentile is off by at most
~12 %), kept for the last WINDOW seconds. A request goes into one series only, its dyno's (or the app's
"no dyno" series for requests answered before reaching one); the app's figures merge them when a snapshot
is taken, and every rate of a snapshot divides by the same span, so the dynos' rates add up to the app's.
Snapshots, the only costly part, run when someone asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

WINDOW = 60  # seconds of history behind rates and percentiles
_EXACT = 32  # ms values below this get a bucket each


def bucket(ms: int) -> int:
    """The histogram bucket of a latency in whole milliseconds."""
    if ms < _EXACT:
        return max(0, ms)
    exp = ms.bit_length()  # >= 6
    return _EXACT + (exp - 6) * 8 + ((ms >> (exp - 4)) & 7)


def bucket_floor(index: int) -> int:
    """The smallest millisecond value that falls in bucket `index`."""
    if index < _EXACT:
        return index
    exp, sub = divmod(index - _EXACT, 8)
    exp += 6
    return (8 + sub) << (exp - 4)


_BUCKETS = [bucket(ms) for ms in range(4096)]


class Series:
    """Requests and connect/service latency histograms in one-second slots over the last WINDOW seconds."""

    __slots__ = ("connect", "counts", "first", "second", "service")

    def __init__(self) -> None:
        self.second = 0  # the slot last written
        self.first = 0.0  # when the first request was recorded
        self.counts = [0] * WINDOW
        self.connect: list[dict[int, int]] = [{} for _ in range(WINDOW)]
        self.service: list[dict[int, int]] = [{} for _ in range(WINDOW)]

    def record(self, now: float, connect_bucket: int, service_bucket: int) -> None:
        """Count one request; a bucket of -1 means the latency does not apply (no dyno was reached)."""
        second = int(now)
        if second != self.second:
            self.advance(second, now)
        slot = second % WINDOW
        self.counts[slot] += 1
        if connect_bucket >= 0:
            hist = self.connect[slot]
            hist[connect_bucket] = hist.get(connect_bucket, 0) + 1
        if service_bucket >= 0:
            hist = self.service[slot]
            hist[service_bucket] = hist.get(service_bucket, 0) + 1

    def advance(self, second: int, now: float) -> None:
        if not self.first:
            self.first = now
        start = max(self.second + 1, second - WINDOW + 1)
        for stale in range(start, second + 1):
            slot = stale % WINDOW
            self.counts[slot] = 0
            self.connect[slot] = {}
            self.service[slot] = {}
        self.second = second


def window_seconds(series: Iterable[Series], now: float) -> float:
    """What the rates of these series divide by: the window, or the time since the first of them counted a
    request if that is shorter (0: none has). An app's rate and each of its dynos' divide by the same span,
    so the dynos' rates add up to the app's. Drops the seconds that have left the window."""
    second = int(now)
    first = 0.0
    for one in series:
        if not one.first:
            continue
        if second != one.second:
            one.advance(second, now)
        first = one.first if not first else min(first, one.first)
    return min(float(WINDOW), max(1.0, now - first)) if first else 0.0


def rate(series: Iterable[Series], span: float) -> float:
    """Requests per second across several series, over a span from window_seconds()."""
    return round(sum(sum(one.counts) for one in series) / span, 1) if span else 0.0


def merged_percentiles(series: Iterable[Series], which: str) -> dict[str, int]:
    """p50/p95/p99 of connect or service times across several series (call window_seconds first: it drops
    the seconds that have left the window)."""
    merged: dict[int, int] = {}
    for one in series:
        for hist in one.connect if which == "connect" else one.service:
            for index, n in hist.items():
                merged[index] = merged.get(index, 0) + n
    total = sum(merged.values())
    result = {"p50": 0, "p95": 0, "p99": 0}
    if not total:
        return result
    wanted = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)]
    seen = 0
    for index in sorted(merged):
        seen += merged[index]
        while wanted and seen >= wanted[0][1] * total:
            result[wanted.pop(0)[0]] = bucket_floor(index)
    return result


class DynoMetrics:
    __slots__ = ("requests", "series")

    def __init__(self) -> None:
        self.requests = 0
        self.series = Series()


class AppMetrics:
    """Counters for one app since the daemon started; `inflight` is requests routed and not yet done."""

    __slots__ = ("codes", "dynos", "inflight", "requests", "status", "unrouted")

    def __init__(self) -> None:
        self.inflight = 0
        self.requests = 0
        self.status = [0, 0, 0, 0, 0, 0]  # by status // 100
        self.codes: dict[str, int] = {}
        self.unrouted = Series()  # requests answered before reaching a dyno (H-codes)
        self.dynos: dict[str, DynoMetrics] = {}

    def record(self, now: float, status: int, code: str | None, dyno: str, connect_ms: int | None,
               service_ms: int | None) -> None:
        self.requests += 1
        klass = status // 100
        if 0 < klass < 6:
            self.status[klass] += 1
        if code is not None:
            self.codes[code] = self.codes.get(code, 0) + 1
        if connect_ms is None:
            connect_bucket = -1
        else:
            connect_bucket = _BUCKETS[connect_ms] if connect_ms < 4096 else bucket(connect_ms)
        if service_ms is None:
            service_bucket = -1
        else:
            service_bucket = _BUCKETS[service_ms] if service_ms < 4096 else bucket(service_ms)
        if dyno:
            per = self.dynos.get(dyno)
            if per is None:
                per = self.dynos[dyno] = DynoMetrics()
            per.requests += 1
            per.series.record(now, connect_bucket, service_bucket)
        else:
            self.unrouted.record(now, connect_bucket, service_bucket)

    def snapshot(self, app: str, now: float, inflight_by_dyno: dict[str, int]) -> dict[str, Any]:
        """The JSON shape api/ serves (and the TUI reads): counts since start, rates over the window."""
        every = [self.unrouted, *(per.series for per in self.dynos.values())]
        span = window_seconds(every, now)  # one span for the app and every dyno: their rates add up
        names = sorted(set(self.dynos) | set(inflight_by_dyno), key=_dyno_order)
        dynos = []
        for name in names:
            per = self.dynos.get(name) or DynoMetrics()
            dynos.append({
                "name": name,
                "inflight": inflight_by_dyno.get(name, 0),
                "requests": per.requests,
                "requests_per_second": rate((per.series,), span),
                "connect_ms": merged_percentiles((per.series,), "connect"),
                "service_ms": merged_percentiles((per.series,), "service"),
            })
        return {
            "app": app,
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "window_seconds": WINDOW,
            "requests_per_second": rate(every, span),
            "inflight": self.inflight,
            "requests": self.requests,
            "connect_ms": merged_percentiles(every, "connect"),
            "service_ms": merged_percentiles(every, "service"),
            "status": {f"{k}xx": self.status[k] for k in (2, 3, 4, 5)},
            "codes": dict(sorted(self.codes.items())),
            "dynos": dynos,
        }


def _dyno_order(name: str) -> tuple[str, int, str]:
    kind, _, number = name.partition(".")
    return (kind, int(number), "") if number.isdigit() else (kind, 0, number)
