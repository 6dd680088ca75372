"""logplex/: per-app log channels — a 1500-line ring per app, live tails with filters.

Every part of the platform writes `LogLine`s here; the CLI and the TUI read them through api/.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from herokusim.clock import Clock
from herokusim.config import LOG_HISTORY

MAX_LINE_BYTES = 10_000  # a longer line is split into pieces of this size
TAIL_QUEUE = 10_000  # lines a slow tail may fall behind before it drops


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime
    source: str  # "app" or "heroku"
    process: str  # "web.1", "api", "router", "slug-compiler"
    message: str

    def render(self) -> str:
        return f"{self.time.isoformat(timespec='microseconds')} {self.source}[{self.process}]: {self.message}"


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What `logs` selects: `--source app|heroku`, `--dyno web.1`, `--ps web`."""

    source: str | None = None
    dyno: str | None = None
    ps: str | None = None

    def matches(self, line: LogLine) -> bool:
        if self.source and line.source != self.source:
            return False
        if self.dyno and line.process != self.dyno:
            return False
        return not (self.ps and line.process.split(".", 1)[0] != self.ps)


def split_message(message: str) -> list[str]:
    data = message.encode("utf-8", "replace")
    if len(data) <= MAX_LINE_BYTES:
        return [message]
    return [
        data[i : i + MAX_LINE_BYTES].decode("utf-8", "replace") for i in range(0, len(data), MAX_LINE_BYTES)
    ]


class _Channel:
    __slots__ = ("ring", "tails")

    def __init__(self) -> None:
        self.ring: deque[LogLine] = deque(maxlen=LOG_HISTORY)
        self.tails: set[asyncio.Queue[LogLine | None]] = set()


class Logplex:
    """Log channels keyed by app id. Publishing is synchronous and never blocks on a reader."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._channels: dict[str, _Channel] = {}

    def _channel(self, app_id: str) -> _Channel:
        channel = self._channels.get(app_id)
        if channel is None:
            channel = self._channels[app_id] = _Channel()
        return channel

    def publish(self, app_id: str, source: str, process: str, message: str) -> None:
        now = self.clock.now()
        for piece in split_message(message):
            self.publish_line(app_id, LogLine(now, source, process, piece))

    def publish_line(self, app_id: str, line: LogLine) -> None:
        channel = self._channel(app_id)
        channel.ring.append(line)
        for queue in channel.tails:
            if queue.full():
                continue  # a tail that cannot keep up loses lines rather than stalling the platform
            queue.put_nowait(line)

    def history(self, app_id: str, num: int = 100, where: LogFilter = LogFilter()) -> list[LogLine]:
        channel = self._channels.get(app_id)
        if channel is None or num <= 0:
            return []
        selected = [line for line in channel.ring if where.matches(line)]
        return selected[-num:]

    async def tail(
        self, app_id: str, num: int = 100, where: LogFilter = LogFilter()
    ) -> AsyncIterator[LogLine]:
        """The last `num` matching lines, then every new matching line until the app is dropped."""
        channel = self._channel(app_id)
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(TAIL_QUEUE)
        backlog: Iterable[LogLine] = self.history(app_id, num, where)
        channel.tails.add(queue)
        try:
            for line in backlog:
                yield line
            while True:
                line = await queue.get()
                if line is None:
                    return
                if where.matches(line):
                    yield line
        finally:
            channel.tails.discard(queue)

    def drop(self, app_id: str) -> None:
        """Forget an app's channel (apps:destroy) and end its tails."""
        channel = self._channels.pop(app_id, None)
        if channel is None:
            return
        for queue in channel.tails:
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    def close(self) -> None:
        for app_id in list(self._channels):
            self.drop(app_id)
