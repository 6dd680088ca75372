"""TUI room: the built-in load generator — loopback only, bounded, and it stops by itself.

It exists to provoke request queues and H12s in front of a class, never to load anything but the local
router: the target is always 127.0.0.1:<router port> with the app's Host header, and rate, concurrency
and duration are clamped to the limits below.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from herokusim.config import LOOPBACK

MAX_RATE = 500  # requests per second
MAX_CONCURRENCY = 100
MAX_DURATION = 300  # seconds
REQUEST_TIMEOUT = 60.0  # longer than the router's 30 s + 55 s rolling window would be pointless


class LoadError(ValueError):
    """A load plan the generator refuses; the message says which limit."""


@dataclass(frozen=True)
class LoadPlan:
    app: str
    rate: float = 10.0
    concurrency: int = 10
    path: str = "/"
    duration: float = 30.0

    def checked(self) -> LoadPlan:
        if not 0 < self.rate <= MAX_RATE:
            raise LoadError(f"rate must be 1 to {MAX_RATE} requests/s")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise LoadError(f"concurrency must be 1 to {MAX_CONCURRENCY}")
        if not 0 < self.duration <= MAX_DURATION:
            raise LoadError(f"duration must be 1 to {MAX_DURATION} seconds")
        if not self.path.startswith("/") or "://" in self.path or any(c.isspace() for c in self.path):
            raise LoadError("path must start with / (the app's own path, e.g. /slow)")
        return self

    @classmethod
    def parse(cls, app: str, text: str) -> LoadPlan:
        """`rate=50 concurrency=10 path=/ duration=30` (any subset, any order)."""
        values: dict[str, str] = {}
        for word in text.split():
            key, sep, value = word.partition("=")
            if not sep or key not in ("rate", "concurrency", "path", "duration"):
                raise LoadError(f"{word!r}: use rate=N concurrency=N path=/p duration=S")
            values[key] = value
        try:
            plan = cls(app, rate=float(values.get("rate", cls.rate)),
                       concurrency=int(values.get("concurrency", cls.concurrency)),
                       path=values.get("path", cls.path), duration=float(values.get("duration", cls.duration)))
        except ValueError:
            raise LoadError("rate, concurrency and duration must be numbers") from None
        return plan.checked()

    def describe(self) -> str:
        return f"{self.rate:g} req/s ×{self.concurrency} {self.path} for {self.duration:g}s"


@dataclass
class LoadStats:
    started: float = 0.0
    ends: float = 0.0
    sent: int = 0
    done: int = 0
    failed: int = 0  # no HTTP answer at all (connection refused, timeout)
    skipped: int = 0  # the concurrency limit was reached when a request was due
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, pct: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms[-2000:])
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]

    def describe(self, now: float) -> str:
        left = max(0.0, self.ends - now)
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        summary = (f"sent {self.sent} done {self.done} {codes} fail {self.failed} skip {self.skipped} "
                   f"p95 {self.percentile(95):.0f}ms")
        return f"{summary} · {left:.0f}s left" if left > 0 else summary


class LoadGenerator:
    """Open-loop requests at a fixed rate, at most `concurrency` in flight; ends after `duration`."""

    def __init__(self, router_port: int, plan: LoadPlan) -> None:
        self.plan = plan.checked()
        self.url = f"http://{LOOPBACK}:{router_port}{plan.path}"
        self.host = f"{plan.app}.localhost"
        self.stats = LoadStats()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        stats = self.stats
        stats.started = time.monotonic()
        stats.ends = stats.started + self.plan.duration
        slots = asyncio.Semaphore(self.plan.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        connector = aiohttp.TCPConnector(limit=self.plan.concurrency)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                interval = 1.0 / self.plan.rate
                due = stats.started
                while due < stats.ends:
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    due += interval
                    if slots.locked():
                        stats.skipped += 1
                        continue
                    await slots.acquire()
                    stats.sent += 1
                    task = asyncio.create_task(self._one(session, slots))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if in_flight:
                    await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT)
            finally:
                for task in in_flight:
                    task.cancel()
                stats.ends = min(stats.ends, time.monotonic())

    async def _one(self, session: aiohttp.ClientSession, slots: asyncio.Semaphore) -> None:
        began = time.monotonic()
        try:
            async with session.get(self.url, headers={"Host": self.host}, allow_redirects=False) as response:
                await response.read()
                self.stats.statuses[response.status] = self.stats.statuses.get(response.status, 0) + 1
                self.stats.done += 1
                self.stats.latencies_ms.append((time.monotonic() - began) * 1000)
                if len(self.stats.latencies_ms) > 4000:
                    del self.stats.latencies_ms[:2000]
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.stats.failed += 1
        finally:
            slots.release()
