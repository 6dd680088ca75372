"""Simulated clock: the platform's one source of "now" for log timestamps, ages and platform timers.

The walking skeleton runs it at real time (scale 1); time scale and warp build on this seam.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._real_origin = time.time()
        self._sim_origin = self._real_origin

    def time(self) -> float:
        """Simulated Unix time in seconds."""
        return self._sim_origin + (time.time() - self._real_origin) * self.scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time."""
        if seconds > 0:
            await asyncio.sleep(seconds / self.scale)
