"""Lab 19: backups before deploy — a destructive migration loses the data unless a backup was taken first."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from herokusim.client import app_path, parse_time
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

if TYPE_CHECKING:
    from herokusim.config import Settings
    from herokusim.labs.runner import LabState

DROPS = "Migration 002: dropping table notes"  # what the destructive release phase logs
SEEDED = 3  # the notes migration 001 made


def _rows(ctx: CheckContext) -> int:
    """The notes in the database now (0 when the table is missing)."""
    answer = ctx.api.post(app_path(ctx.app, "addons", "DATABASE", "pg-psql"),
                          {"command": "SELECT 'rows=' || count(*) FROM notes"})
    found = re.search(r"rows=(\d+)", answer.get("stdout", ""))
    return int(found.group(1)) if found else 0


def _dropped_at(ctx: CheckContext) -> tuple[datetime, str] | None:
    """When the release phase of migration 002 dropped the table (the first time), and its log line."""
    for line in ctx.logs(source="app"):
        if DROPS in line:
            return parse_time(line.split(" ", 1)[0]), line.split(": ", 1)[-1]
    return None


def _backups(ctx: CheckContext) -> list[dict[str, Any]]:
    return [t for t in ctx.api.get(app_path(ctx.app, "postgres-backups"))
            if t["kind"] == "backup" and t["status"] == "completed"]


def check(ctx: CheckContext) -> CheckResult:
    ctx.say("Reading the release phase's log, the backups and the notes table...")
    dropped, rows = _dropped_at(ctx), _rows(ctx)
    if dropped is None:
        return CheckResult.fail(f"Migration 002 (upgrade/migrate.py) is not deployed yet: notes holds {rows} rows.",
                                "Ship the upgrade: it drops the notes table. What should exist before you push it?")
    when, line = dropped
    before = [b for b in _backups(ctx) if parse_time(b["finished_at"] or b["created_at"]) <= when]
    if rows < SEEDED:
        return CheckResult.fail(f"notes holds {rows} rows since the release phase said `{line}`"
                                + ("" if before else "; no backup completed before it"),
                                "pg:backups:capture before a destructive deploy; pg:backups:restore brings the "
                                "data back.")
    if not before:
        return CheckResult.fail(f"The notes are here ({rows} rows) but no backup completed before `{line}`.",
                                "A deploy that drops data needs a backup taken before it: pg:backups:capture.")
    return CheckResult.ok(f"Backup {before[-1]['name']} completed before migration 002 ran, and notes holds "
                          f"{rows} rows now.")


def _wait(ctx: CheckContext, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        transfer = ctx.api.get(app_path(ctx.app, "postgres-backups", name))
        if transfer["status"] == "completed":
            return
        if transfer["finished_at"]:
            raise RuntimeError(f"{name} failed: {transfer['logs']}")
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not finish in 120 s")


def solve(state: LabState, settings: Settings, ctx: CheckContext) -> None:
    """pg:backups:capture, push the upgrade (the solution's migrate.py, committed), pg:backups:restore."""
    from herokusim.labs import runner

    _wait(ctx, ctx.api.post(app_path(ctx.app, "postgres-backups"), {"database": "DATABASE"})["name"])
    runner.push(state, settings, say=lambda line: None)
    _wait(ctx, ctx.api.post(app_path(ctx.app, "postgres-restores"),
                            {"backup": "latest", "database": "DATABASE"})["name"])


LAB = Lab(
    number=19,
    slug="backups",
    title="Backups before deploy",
    lesson=("A deploy whose migration drops data cannot be rolled back by `rollback`: the code comes back, the "
            "rows do not. Capture a backup before it (pg:backups:capture); restore from it (pg:backups:restore)."),
    task=("The upgrade in upgrade/migrate.py drops the notes table to rebuild it.\n"
          "Ship it (copy it over migrate.py, push) without losing the notes for good, then run "
          "`herokusim labs:check`."),
    check=check,
    addons=("heroku-postgresql",),
    check_describes=("Finds the release phase's `Migration 002: dropping table notes` line in the logs, the "
                     "app's completed backups and the notes rows (pg-psql): fails while the upgrade is not "
                     "deployed, when the notes are gone, or when no backup completed before the drop; passes "
                     "with a backup from before the drop and the notes present now."),
    solve=solve,
)
