"""Simulated clock: the platform's one source of "now" for log timestamps, ages and platform timers.

Simulated time runs `scale` simulated seconds per real second from the moment the daemon starts, and
`warp()` jumps it forward. Platform timers (daily cycling, crash cool-offs) are callbacks registered with
`call_at`: the clock fires each when simulated time reaches it. A warp fires every timer that falls due in
order, each with the clock set to the timer's own moment, so what it logs carries that moment.
Request timeouts are real seconds and never go through this clock.

The store keeps the clock (`ClockState`) so a restarted daemon goes on from where it was instead of going
back to real time and leaving releases made during a warp in the future.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

# fullmatch, ASCII: `$` lets a trailing newline in, a Unicode \d takes digits like '١'
DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?",
                      re.ASCII)
SECONDS = re.compile(r"\d+\.?\d*|\.\d+", re.ASCII)
log = logging.getLogger(__name__)
MAX_WARP = 366 * 24 * 3600  # a year at most per warp
TIME_SCALE = 1.0  # simulated seconds per real second, unless set (or saved by an earlier daemon)
MAX_SCALE = 86400.0  # a simulated day per real second at most (PATCH /clock)


def parse_duration(text: str) -> float:
    """`24h`, `90m`, `1d12h`, `30s` or plain seconds -> seconds; ValueError with a one-line reason."""
    text = text.strip().lower()
    if SECONDS.fullmatch(text):
        return float(text)
    match = DURATION.fullmatch(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration: use forms like 24h, 90m, 1d12h or 30s")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class ClockState:
    """The clock as the store keeps it: simulated time `sim` at real Unix time `real`, running at `scale`;
    `running` is true while a daemon drives it, and stays true in the store after that daemon crashed."""

    sim: float
    real: float
    scale: float
    running: bool

    def resumed(self, real_now: float) -> float:
        """Simulated time for a daemon starting at real time `real_now`; never earlier than `sim`. The real
        time a stopped daemon was away passes once (nothing ran, so nothing was sped up); after a crash
        nobody knows when it stopped, so the clock is taken to have run at its scale until now, which is
        past anything that daemon showed or stamped."""
        away = max(0.0, real_now - self.real)  # a wall clock set back never sets simulated time back
        return self.sim + away * (self.scale if self.running else 1.0)


class Timer:
    """A platform timer on simulated time; cancel() before it fires and it never does."""

    __slots__ = ("callback", "cancelled", "fired", "when")

    def __init__(self, when: float, callback: Callable[[], Awaitable[None]]) -> None:
        self.when = when  # simulated Unix time
        self.callback = callback
        self.cancelled = False
        self.fired = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def pending(self) -> bool:
        return not (self.cancelled or self.fired)


class Clock:
    def __init__(self, scale: float = TIME_SCALE) -> None:
        if scale <= 0:
            raise ValueError("the time scale must be more than 0")
        self.scale = scale
        self._real_origin = time.time()
        self._sim_origin = self._real_origin
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._changed: asyncio.Event | None = None
        self._firing = asyncio.Lock()
        self._driver: asyncio.Task[None] | None = None

    # reading
    def time(self) -> float:
        """Simulated Unix time in seconds."""
        return self._sim_origin + (time.time() - self._real_origin) * self.scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def state(self, running: bool) -> ClockState:
        real = time.time()
        return ClockState(self._sim_origin + (real - self._real_origin) * self.scale, real, self.scale, running)

    def resume(self, saved: ClockState | None, scale: float | None) -> None:
        """At daemon start, before any timer: go on from a saved clock (None: a first start, at real time).
        A `scale` given explicitly wins over the saved one."""
        if scale is not None and scale <= 0:
            raise ValueError("the time scale must be more than 0")
        real = time.time()
        self._real_origin = real
        self._sim_origin = saved.resumed(real) if saved is not None else real
        self.scale = scale if scale is not None else saved.scale if saved is not None else TIME_SCALE

    # timers
    def call_at(self, when: float, callback: Callable[[], Awaitable[None]]) -> Timer:
        """Run `await callback()` when simulated time reaches `when`. Callbacks run one after another and a
        warp waits for each, so a callback that returns once its event is done (a dyno started or stopped)
        has every line of it logged at the timer's simulated time; keep them short."""
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if self._changed is not None:
            self._changed.set()
        return timer

    def call_later(self, seconds: float, callback: Callable[[], Awaitable[None]]) -> Timer:
        return self.call_at(self.time() + seconds, callback)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time (a warp cuts it short)."""
        if seconds <= 0:
            return
        done = asyncio.get_running_loop().create_future()

        async def wake() -> None:
            if not done.done():
                done.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await done
        finally:
            timer.cancel()

    def start(self) -> None:
        """Fire timers as simulated time passes (needs the running loop)."""
        self._changed = asyncio.Event()
        self._driver = asyncio.create_task(self._drive(), name="clock")

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None

    async def warp(self, seconds: float) -> None:
        """Jump simulated time forward by `seconds`, firing every timer that falls due, in order."""
        if not 0 < seconds <= MAX_WARP:
            raise ValueError("a warp must be more than 0 seconds and at most a year")
        async with self._firing:
            target = self.time() + seconds
            while (timer := self._next_due(target)) is not None:
                self._advance_to(timer.when)
                await self._fire(timer)
            self._advance_to(target)
        if self._changed is not None:
            self._changed.set()

    def set_scale(self, scale: float) -> None:
        """Run at `scale` simulated seconds per real second from now on (a class period for a day); simulated
        time so far is kept, and timers fire at the same simulated moments, sooner or later in real time."""
        if not 0 < scale <= MAX_SCALE:
            raise ValueError(f"the time scale must be more than 0 and at most {MAX_SCALE:g}")
        self._sim_origin, self._real_origin = self.time(), time.time()
        self.scale = scale
        if self._changed is not None:
            self._changed.set()  # the driver recomputes its real delay to the next timer

    def upcoming(self) -> list[Timer]:
        return sorted((t for _, _, t in self._heap if t.pending), key=lambda t: t.when)

    # inside
    def _advance_to(self, when: float) -> None:
        now = self.time()
        if when > now:
            self._sim_origin += when - now

    def _next_due(self, until: float) -> Timer | None:
        while self._heap:
            when, _, timer = self._heap[0]
            if not timer.pending:
                heapq.heappop(self._heap)
                continue
            if when > until:
                return None
            heapq.heappop(self._heap)
            return timer
        return None

    async def _fire(self, timer: Timer) -> None:
        timer.fired = True
        try:
            await timer.callback()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timer callback failed")

    async def _drive(self) -> None:
        assert self._changed is not None
        while True:
            async with self._firing:
                while (timer := self._next_due(self.time())) is not None:
                    await self._fire(timer)
            self._changed.clear()
            # _next_due left the earliest pending timer at the head of the heap
            delay = max((self._heap[0][0] - self.time()) / self.scale, 0.0) if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: in 3.11 it can swallow a cancel
                    await self._changed.wait()
