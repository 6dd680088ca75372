"""logplex/hub: per-app log channels — a 1500-line ring per app, and live tails with filters.

Publishing is synchronous and never blocks on a reader: a tail that falls behind loses lines.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable

from herokusim.clock import Clock
from herokusim.config import LOG_HISTORY
from herokusim.logplex.lines import LogFilter, LogLine, split_message

TAIL_QUEUE = 10_000  # lines a slow tail may fall behind before it drops
EVERY_LINE = LogFilter()  # a plain `logs`: no filter


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

    def history(self, app_id: str, num: int = 100, where: LogFilter = EVERY_LINE) -> list[LogLine]:
        channel = self._channels.get(app_id)
        if channel is None or num <= 0:
            return []
        selected = [line for line in channel.ring if where.matches(line)]
        return selected[-num:]

    async def tail(
        self, app_id: str, num: int = 100, where: LogFilter = EVERY_LINE
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
