"""dynos/dyno: what the dyno manager knows of one dyno — its release, slug, port, state, timers and
process — and the terminal of an attached one-off. Plain data; dynos/manager drives it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from herokusim.clock import Timer
from herokusim.dynos.runtime.backend import RunningDyno
from herokusim.store.models import Release

# a dyno's kind: of the formation, a one-off (`run`) or a release phase (one-offs are named `run.N`/`release.N`)
FORMATION, ONE_OFF, RELEASE = "formation", "run", "release"
SCHEDULER = "scheduler"  # a one-off Heroku Scheduler started for a job: `scheduler.N`


@dataclass(eq=False)
class Attachment:
    """The terminal of an attached one-off (`herokusim run`): output waits here until the client reads it."""

    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    output: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    attached: bool = False


@dataclass(eq=False)
class Dyno:
    id: str
    app_id: str
    app_name: str
    name: str
    type: str
    command: str
    size: str
    release: Release
    slug_path: Path
    port: int
    created_at: datetime
    kind: str = FORMATION  # or ONE_OFF / RELEASE / SCHEDULER: never restarted, they end `complete`
    state: str = "down"
    state_since: datetime | None = None
    up_since: float | None = None  # simulated time it became up
    crashes: int = 0  # consecutive crashes, for the cool-off schedule
    stopping: bool = False
    running: RunningDyno | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set once its process exists (or failed to)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    exit_status: int | None = None
    task: asyncio.Task[None] | None = None
    restart_timer: Timer | None = None  # a crashed dyno's next restart
    cycle_timer: Timer | None = None  # the next daily cycle
    memory_mb: float | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra env of a one-off
    tty: bool = False
    attachment: Attachment | None = None
    on_line: Callable[[str], None] | None = None  # also gets each output line (release phase -> git push)

    @property
    def number(self) -> int:
        return int(self.name.rsplit(".", 1)[1])

    @property
    def restart_at(self) -> float | None:
        return self.restart_timer.when if self.restart_timer and self.restart_timer.pending else None

    @property
    def cycle_at(self) -> float | None:
        return self.cycle_timer.when if self.cycle_timer and self.cycle_timer.pending else None


def sim_datetime(when: float | None) -> datetime | None:
    """A simulated-clock time (restart_at, cycle_at) as a UTC datetime."""
    return datetime.fromtimestamp(when, UTC) if when is not None else None
