"""addons/scheduler: Heroku Scheduler — the `scheduler:standard` add-on and the runner of its jobs.

The add-on has no server and exports no config vars (as Heroku's): the provider only records that it exists.
The jobs are the app's (store/ table scheduler_jobs, removed with the add-on or the app), each a command
run `every` 10m, 1h (at `:MM`) or 1d (at `HH:MM` UTC), as Heroku Scheduler offers them. The JobRunner keeps
one timer on the SIMULATED clock per job; when it fires, the job runs in a one-off dyno `scheduler.NNNN`
with the app's config (the `run` it is given: platform.py wires the dyno manager's run_scheduled, so this
module never imports dynos/). A warp fires the due runs in order, each waiting for its dyno, so every line
of a run carries that run's own simulated time. A run still going at its job's next interval is stopped,
as on Heroku. Runs missed while the daemon was down are not made up.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from herokusim.addons.provider import AddonError, AddonNetwork, Events, Plan, Provisioned, Service
from herokusim.clock import Clock, Timer
from herokusim.errors import InvalidParams, NotFound, PlatformError
from herokusim.logplex.hub import Logplex
from herokusim.store.models import Addon, App, SchedulerJob
from herokusim.store.sqlite import Store

SERVICE_NAME = "scheduler"
SERVICE = Service(
    name=SERVICE_NAME,
    human_name="Heroku Scheduler",
    plans=(Plan("standard", "Standard", 0, default=True),),
    attachment_name="SCHEDULER",
    name_prefix="scheduler",
    config_suffixes=(),  # Heroku Scheduler exports no config vars
)
USER = "scheduler@addons.heroku.com"  # who starts a job's dyno, as Heroku's app[api] line names it
EVERY = {"10m": 600, "1h": 3600, "1d": 86400}  # Heroku Scheduler's three frequencies
DEFAULT_SIZE = "standard-1X"
HOURLY_AT = re.compile(r":?([0-5]0)", re.ASCII)  # the minute of the hour: :00, :10, ... :50
DAILY_AT = re.compile(r"([01][0-9]|2[0-3]):([03]0)(?: ?UTC)?", re.ASCII | re.IGNORECASE)  # half hours, UTC
EVERY_HELP = "use --every 10m (every 10 minutes), 1h (every hour) or 1d (every day)"
RunJob = Callable[[str, str, str, float], Awaitable[Any]]  # (app id, command, dyno size, interval in seconds)


class SchedulerProvider:
    """The add-on itself: no server, no config vars, no options."""

    service = SERVICE

    def __init__(self, settings: Any, network: AddonNetwork, events: Events) -> None:
        self.events = events

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]) -> Provisioned:
        if options:
            raise AddonError(f"scheduler:standard takes no options (not --{min(options)}).")
        return Provisioned(secrets.token_hex(8), {})

    async def deprovision(self, provider_id: str) -> None:
        return None  # the jobs go with the add-on's record (the store's cascade)

    async def health(self, provider_id: str) -> str:
        return "available"

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        return []

    async def metrics(self, provider_id: str) -> dict[str, str]:
        return {}


# ---- schedules ---------------------------------------------------------------------------------------------

def check_every(every: str) -> str:
    value = every.strip().lower()
    if value not in EVERY:
        raise InvalidParams(f"Invalid --every {every!r}: Heroku Scheduler runs a job every 10 minutes, every hour "
                            f"or every day; {EVERY_HELP}.")
    return value


def check_at(every: str, at: str | None) -> str | None:
    """The normalised `--at` of a job `every` (None: the default, :00 or 00:00)."""
    if every == "10m":
        if at is not None and at.strip():
            raise InvalidParams("--at is for --every 1h (:MM) or --every 1d (HH:MM UTC); a job every 10 minutes "
                                "runs at :00, :10, :20, :30, :40 and :50.")
        return None
    if every == "1h":
        if at is None or not at.strip():
            return ":00"
        if match := HOURLY_AT.fullmatch(at.strip()):
            return f":{match[1]}"
        raise InvalidParams(f"Invalid --at {at!r} for a job every hour: use :00, :10, :20, :30, :40 or :50.")
    if at is None or not at.strip():
        return "00:00"
    if match := DAILY_AT.fullmatch(at.strip()):
        return f"{match[1]}:{match[2]}"
    raise InvalidParams(f"Invalid --at {at!r} for a job every day: use a UTC time on the hour or half hour, "
                        "00:00 to 23:30 (e.g. --at 02:00).")


def describe(every: str, at: str | None) -> str:
    """`every 10 minutes`, `every hour at :30`, `every day at 02:00 UTC`."""
    if every == "10m":
        return "every 10 minutes"
    if every == "1h":
        return f"every hour at {at or ':00'}"
    return f"every day at {at or '00:00'} UTC"


def next_due(every: str, at: str | None, after: float) -> float:
    """The first time strictly after `after` (Unix seconds, UTC) that a job `every`/`at` runs."""
    period = EVERY[every]
    offset = 0
    if every == "1h":
        offset = int((at or ":00")[1:]) * 60
    elif every == "1d":
        hours, minutes = (at or "00:00").split(":")
        offset = int(hours) * 3600 + int(minutes) * 60
    due = math.floor((after - offset) / period) * period + offset
    while due <= after:
        due += period
    return due


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---- the runner --------------------------------------------------------------------------------------------

class JobRunner:
    """Scheduler jobs: checked and stored for the API, armed on the simulated clock, run when due."""

    def __init__(self, store: Store, clock: Clock, logplex: Logplex, run: RunJob,
                 size: Callable[[str], str]) -> None:
        self.store = store
        self.clock = clock
        self.logplex = logplex
        self.run = run
        self.size = size  # a dyno size as given -> its canonical name (InvalidParams if unknown)
        self._timers: dict[int, Timer] = {}
        self._closing = False

    async def start(self) -> None:
        """With the daemon, once dynos are back: arm every job from now on."""
        self._closing = False
        for job in await self.store.list_jobs():
            self._arm(job, self.clock.time())

    def stop(self) -> None:
        self._closing = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def next_due(self, job: SchedulerJob) -> float:
        timer = self._timers.get(job.id)
        return timer.when if timer is not None and timer.pending else next_due(job.every, job.at, self.clock.time())

    # what the API asks
    async def addon(self, app: App) -> Addon:
        """The app's scheduler add-on; one line saying how to add one if there is none."""
        for attachment in await self.store.list_attachments(app_id=app.id):
            addon = await self.store.get_addon(attachment.addon_id)
            if addon is not None and addon.service == SERVICE_NAME:
                return addon
        raise InvalidParams(f"{app.name} has no Heroku Scheduler: add it with `herokusim addons:create "
                            f"scheduler:standard -a {app.name}`.")

    async def jobs(self, app: App) -> list[SchedulerJob]:
        await self.addon(app)
        return await self.store.list_jobs(app.id)

    async def job(self, app: App, job_id: str) -> SchedulerJob:
        await self.addon(app)
        job = await self.store.get_job(job_id, app.id)
        if job is None:
            raise NotFound(f"Couldn't find that scheduler job ({job_id}).")
        return job

    async def create(self, app: App, command: str, every: str, at: str | None = None,
                     size: str | None = None) -> SchedulerJob:
        addon = await self.addon(app)
        command = check_command(command)
        every = check_every(every)
        at = check_at(every, at)
        dyno_size = self.size(size) if size else DEFAULT_SIZE
        job = await self.store.create_job(app.id, addon.id, command, every, at, dyno_size)
        self._arm(job, self.clock.time())
        return job

    async def update(self, app: App, job_id: str, command: str | None = None, every: str | None = None,
                     at: str | None = None, size: str | None = None) -> SchedulerJob:
        job = await self.job(app, job_id)
        new_command = check_command(command) if command is not None else job.command
        new_every = check_every(every) if every is not None else job.every
        if at is not None:
            new_at = check_at(new_every, at)
        elif new_every != job.every:
            new_at = check_at(new_every, None)
        else:
            new_at = job.at
        dyno_size = self.size(size) if size else job.dyno_size
        await self.store.update_job(job.id, new_command, new_every, new_at, dyno_size)
        updated = await self.job(app, job_id)
        self._disarm(job.id)
        self._arm(updated, self.clock.time())
        return updated

    async def delete(self, app: App, job_id: str) -> SchedulerJob:
        job = await self.job(app, job_id)
        await self.store.delete_job(job.id)
        self._disarm(job.id)
        return job

    # the timers
    def _arm(self, job: SchedulerJob, after: float) -> None:
        if self._closing:
            return
        when = next_due(job.every, job.at, after)
        self._timers[job.id] = self.clock.call_at(when, lambda: self._due(job.id, when))

    def _disarm(self, job_id: int) -> None:
        timer = self._timers.pop(job_id, None)
        if timer is not None:
            timer.cancel()

    async def _due(self, job_id: int, when: float) -> None:
        self._timers.pop(job_id, None)
        job = await self.store.get_job(str(job_id))
        if job is None or self._closing:
            return  # deleted, or its add-on or app destroyed (the store's cascade)
        self._arm(job, when)
        await self.store.set_job_last_run(job.id, iso(when))
        try:
            await self.run(job.app_id, job.command, job.dyno_size, EVERY[job.every])
        except PlatformError as exc:
            self.logplex.publish(job.app_id, "heroku", SERVICE_NAME, f"Job {job.id} was not run: {exc}")


def check_command(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise InvalidParams("Give the job's command, e.g. `herokusim scheduler:jobs:create 'python task.py' "
                            "--every 1h`.")
    if "\0" in command:
        raise InvalidParams("command cannot contain a NUL character.")
    return command.strip()
