"""CLI room: Heroku PGBackups — `pg:backups`, `pg:backups:capture`, `pg:backups:info`, `pg:backups:restore`,
`pg:backups:download`, `pg:backups:url`, `pg:backups:delete`, `pg:backups:schedule`, `pg:backups:schedules`,
`pg:backups:unschedule`, and the old names `pgbackups:capture` and `pgbackups:url`, with the Heroku CLI's
output, over the API's /apps/{app}/postgres-backups (api/pgbackups_api.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import httpx

from herokusim.cli.addons_cmds import _confirm
from herokusim.cli.base import (
    CommandError,
    action,
    api_client,
    app_option,
    main,
    print_header,
    print_lines,
    resolve_app,
    warn,
)
from herokusim.cli.output import HEXAGON, align_object, align_rows
from herokusim.client import Client, app_path
from herokusim.client import parse_time as _parse_time

WAIT_INTERVAL = 1.0  # seconds between two looks at a running transfer (--wait-interval)


def when(stamp: str | None) -> str:
    """The API's `2026-11-29T05:00:00Z` as Heroku's transfers show times: `2026-11-29 05:00:00 +0000`."""
    parsed = _parse_time(stamp) if stamp else None
    return parsed.strftime("%Y-%m-%d %H:%M:%S +0000") if parsed else ""


def filesize(size: int | None) -> str:
    """The `bytes` package's form, as Heroku's CLI prints sizes: `3.27MB`, `512.00B`."""
    value = float(size or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.2f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def status(transfer: dict[str, Any]) -> str:
    if transfer["succeeded"]:
        if transfer["warnings"]:
            return f"Finished with {transfer['warnings']} warnings"
        return f"Completed {when(transfer['finished_at'])}"
    if transfer["finished_at"]:
        return f"Failed {when(transfer['finished_at'])}"
    return f"Running (processed {filesize(transfer['processed_bytes'])})"


def info_status(transfer: dict[str, Any]) -> str:
    """pg:backups:info's words: Completed, Finished with N warnings, Failed, Running."""
    if transfer["succeeded"]:
        return f"Finished with {transfer['warnings']} warnings" if transfer["warnings"] else "Completed"
    return "Failed" if transfer["finished_at"] else "Running"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    table = [headers, [""] * len(headers), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    table[1] = ["─" * w for w in widths]
    print_lines(align_rows(table))


def _wait(api: Client, app: str, label: str, transfer: dict[str, Any], interval: float, verbose: bool) -> None:
    """Heroku's progress: `Backing up DATABASE to b001... done` (with --verbose, the transfer's log lines)."""
    path = app_path(app, "postgres-backups", transfer["name"])
    shown = 0
    if verbose:
        click.echo(f"{label}...")
    else:
        click.echo(f"{label}... ", nl=False)
    while True:
        transfer = api.get(path)
        if verbose:
            for entry in transfer["logs"][shown:]:
                click.echo(f"{when(entry['created_at'])} {entry['message']}")
            shown = len(transfer["logs"])
        if transfer["finished_at"]:
            break
        time.sleep(interval)
    if transfer["succeeded"]:
        click.echo("done" if not verbose else "")
        return
    if not verbose:
        click.echo("!")
    last = transfer["logs"][-1]["message"] if transfer["logs"] else "no log"
    raise CommandError(f"An error occurred and the {transfer['kind']} did not finish. {last}. Run herokusim "
                       f"pg:backups:info {transfer['name']} for more details.")


def _interval(text: str | None) -> float:
    try:
        return max(0.1, float(text)) if text else WAIT_INTERVAL
    except ValueError:
        raise CommandError(f"--wait-interval must be a number of seconds, not {text!r}.") from None


@main.command("pg:backups")
@app_option
def pg_backups(app: str | None) -> None:
    """List database backups (and the restores and copies made here)."""
    name = resolve_app(app)
    transfers = sorted(api_client().get(app_path(name, "postgres-backups")), key=lambda t: t["created_at"],
                       reverse=True)
    backups = [t for t in transfers if t["kind"] == "backup"]
    print_header("Backups")
    if backups:
        _table(["ID", "Created at", "Status", "Size", "Database"],
               [[t["name"], when(t["created_at"]), status(t), filesize(t["processed_bytes"]), t["from_name"]]
                for t in backups])
    else:
        click.echo("No backups. Capture one with herokusim pg:backups:capture")
    click.echo("")
    restores = [t for t in transfers if t["kind"] == "restore"][:10]
    print_header("Restores")
    if restores:
        _table(["ID", "Started at", "Status", "Size", "Database"],
               [[t["name"], when(t["created_at"]), status(t), filesize(t["processed_bytes"]), t["to_name"]]
                for t in restores])
    else:
        click.echo("No restores found. Use herokusim pg:backups:restore to restore a backup")
    click.echo("")
    print_header("Copies")
    click.echo("No copies found. herokusim does not simulate pg:copy yet")
    click.echo("")


@main.command("pg:backups:capture")
@click.argument("database", required=False)
@app_option
@click.option("--wait-interval", metavar="SECONDS", help="Seconds between two looks at the backup's progress.")
@click.option("-v", "--verbose", is_flag=True, help="Show the backup's log as it runs.")
def pg_backups_capture(database: str | None, app: str | None, wait_interval: str | None, verbose: bool) -> None:
    """Capture a new backup (of DATABASE_URL, or the database named)."""
    name = resolve_app(app)
    interval = _interval(wait_interval)
    api = api_client()
    addon = api.get(app_path(name, "addons", database or "DATABASE"))
    with action(f"Starting backup of {addon['name']}"):
        transfer = api.post(app_path(name, "postgres-backups"), {"database": database or "DATABASE"})
    click.echo("")
    click.echo("Use Ctrl-C at any time to stop monitoring progress; the backup will continue running.")
    click.echo("Use herokusim pg:backups:info to check progress.")
    click.echo("")
    _wait(api, name, f"Backing up {transfer['from_name']} to {transfer['name']}", transfer, interval, verbose)


@main.command("pg:backups:info")
@click.argument("backup_id", required=False)
@app_option
def pg_backups_info(backup_id: str | None, app: str | None) -> None:
    """Get information about a specific backup (default: the latest)."""
    name = resolve_app(app)
    api = api_client()
    if backup_id is None:
        backups = [t for t in api.get(app_path(name, "postgres-backups")) if t["kind"] == "backup"]
        if not backups:
            raise CommandError("No backups. Capture one with herokusim pg:backups:capture")
        backup = backups[-1]
    else:
        backup = api.get(app_path(name, "postgres-backups", backup_id))
    size = filesize(backup["processed_bytes"])
    if backup["finished_at"] and backup["kind"] == "backup":
        total, done = backup["source_bytes"], backup["processed_bytes"]
        percent = max(0, round((total - done) / total * 100)) if done > 0 and total else 0
        size += f" ({percent}% compression)"
    print_header(f"Backup {backup['name']}")
    print_lines(align_object([
        ("Database", backup["from_name"]),
        ("Started at", when(backup["started_at"])),
        ("Finished at", when(backup["finished_at"])),
        ("Status", info_status(backup)),
        ("Type", "Scheduled" if backup["schedule"] else "Manual"),
        ("Original DB Size", filesize(backup["source_bytes"])),
        ("Backup Size", size),
    ]))
    click.echo("")
    print_header("Backup Logs")
    for entry in backup["logs"]:
        click.echo(f"{when(entry['created_at'])} {entry['message']}")
    click.echo("")


@main.command("pg:backups:restore")
@click.argument("backup", required=False)
@click.argument("database", required=False)
@app_option
@click.option("-c", "--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
@click.option("--wait-interval", metavar="SECONDS", help="Seconds between two looks at the restore's progress.")
@click.option("-v", "--verbose", is_flag=True, help="Show the restore's log as it runs.")
def pg_backups_restore(backup: str | None, database: str | None, app: str | None, confirm: str | None,
                       wait_interval: str | None, verbose: bool) -> None:
    """Restore a backup (default latest; b001, or APP::b001 from another app) to a database (default
    DATABASE_URL): its tables are replaced by the backup's."""
    name = resolve_app(app)
    interval = _interval(wait_interval)
    api = api_client()
    addon = api.get(app_path(name, "addons", database or "DATABASE"))
    source_app, ref = (backup.split("::", 1) if backup and "::" in backup else (name, backup or "latest"))
    found = api.get(app_path(source_app, "postgres-backups", ref))
    if found["kind"] != "backup":
        raise CommandError(f"Backup {ref} not found for {HEXAGON} {source_app}")
    if not found["succeeded"]:
        raise CommandError(f"Backup {found['name']} for {HEXAGON} {source_app} did not complete successfully")
    label = found["name"] if source_app == name else f"{source_app}::{found['name']}"
    _confirm(name, confirm)
    with action(f"Starting restore of {label} to {addon['name']}"):
        transfer = api.post(app_path(name, "postgres-restores"),
                            {"backup": label, "database": database or "DATABASE"})
    click.echo("")
    click.echo("Use Ctrl-C at any time to stop monitoring progress; the backup will continue restoring.")
    click.echo("Use herokusim pg:backups to check progress.")
    click.echo("")
    _wait(api, name, "Restoring", transfer, interval, verbose)


def _download_name() -> Path:
    """Heroku's default: latest.dump, or latest.dump.1, .2... when it exists."""
    path = Path("latest.dump")
    n = 1
    while path.exists():
        path = Path(f"latest.dump.{n}")
        n += 1
    return path


@main.command("pg:backups:download")
@click.argument("backup_id", required=False)
@app_option
@click.option("-o", "--output", metavar="FILE", help="Location to download to. Defaults to latest.dump.")
def pg_backups_download(backup_id: str | None, app: str | None, output: str | None) -> None:
    """Download a backup (default: the latest) as a pg_dump custom-format file."""
    name = resolve_app(app)
    api = api_client()
    target = Path(output) if output else _download_name()
    with action(f"Getting backup from {HEXAGON} {name}") as step:
        answer = api.post(app_path(name, "postgres-backups", backup_id or "latest", "actions", "public-url"))
        step.suffix = f", #{answer['backup']['num']}"
    partial = target.with_name(f".{target.name}.partial")
    with action(f"Downloading {target}"):
        try:
            with httpx.stream("GET", answer["url"], timeout=60) as response:
                if response.status_code != 200:
                    raise CommandError(f"The download failed: HTTP {response.status_code}.")
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(1024 * 1024):
                        handle.write(chunk)
            partial.replace(target)
        except (httpx.HTTPError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"The download failed: {exc}") from None


def _url(backup_id: str | None, app: str | None) -> None:
    name = resolve_app(app)
    answer = api_client().post(app_path(name, "postgres-backups", backup_id or "latest", "actions", "public-url"))
    click.echo(answer["url"])


@main.command("pg:backups:url")
@click.argument("backup_id", required=False)
@app_option
def pg_backups_url(backup_id: str | None, app: str | None) -> None:
    """Get a signed URL of a backup's dump (default: the latest), valid for 60 simulated minutes."""
    _url(backup_id, app)


@main.command("pg:backups:public-url", hidden=True)
@click.argument("backup_id", required=False)
@app_option
def pg_backups_public_url(backup_id: str | None, app: str | None) -> None:
    _url(backup_id, app)


@main.command("pg:backups:delete")
@click.argument("backup_id")
@app_option
@click.option("-c", "--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
def pg_backups_delete(backup_id: str, app: str | None, confirm: str | None) -> None:
    """Delete a backup."""
    name = resolve_app(app)
    api = api_client()
    api.get(app_path(name, "postgres-backups", backup_id))  # a missing one is named before any prompt
    _confirm(name, confirm)
    with action(f"Deleting backup {backup_id} on {HEXAGON} {name}"):
        api.delete(app_path(name, "postgres-backups", backup_id))


@main.command("pg:backups:schedule")
@click.argument("database", required=False)
@app_option
@click.option("--at", required=True, metavar="'HOUR:00 TIMEZONE'",
              help="At a specific (24h) hour in the given timezone. Defaults to UTC. --at '[HOUR]:00 [TIMEZONE]'")
def pg_backups_schedule(database: str | None, app: str | None, at: str) -> None:
    """Schedule daily backups of a database (on the simulated clock: clock:warp takes those that fall due)."""
    name = resolve_app(app)
    api = api_client()
    addon = api.get(app_path(name, "addons", database or "DATABASE"))
    hour = at.strip().split(":", 1)[0]
    zone = at.strip().partition(" ")[2] or "UTC"
    with action(f"Scheduling automatic daily backups of {addon['name']} at {hour}:00 {zone}") as step:
        answer = api.post(app_path(name, "postgres-backup-schedules"), {"database": database or "DATABASE",
                                                                         "at": at})
        if answer["warnings"]:
            step.suffix = f" ({answer['warnings'][0]})"


@main.command("pg:backups:schedules")
@app_option
def pg_backups_schedules(app: str | None) -> None:
    """List backup schedules."""
    name = resolve_app(app)
    schedules = api_client().get(app_path(name, "postgres-backup-schedules"))
    if not schedules:
        warn(f"No backup schedules found on {HEXAGON} {name}\nUse herokusim pg:backups:schedule to set one up")
        return
    print_header("Backup Schedules")
    for schedule in schedules:
        click.echo(f"{schedule['name']}: daily at {schedule['hour']}:00 {schedule['timezone']}")


@main.command("pg:backups:unschedule")
@click.argument("database", required=False)
@app_option
def pg_backups_unschedule(database: str | None, app: str | None) -> None:
    """Stop daily backups of a database."""
    name = resolve_app(app)
    api = api_client()
    target = database or "DATABASE"
    schedules = api.get(app_path(name, "postgres-backup-schedules"))
    if database is None and len(schedules) == 1:
        target = schedules[0]["name"].removesuffix("_URL")
    shown = target if target.endswith("_URL") else f"{target}_URL"
    with action(f"Unscheduling {shown} daily backups"):
        api.delete(app_path(name, "postgres-backup-schedules", target))


def _alias(old: str, new: str) -> None:
    warn(f"{old} is an old name of {new}: running {new}.")


@main.command("pgbackups:capture", hidden=True)
@click.argument("database", required=False)
@app_option
@click.option("--expire", is_flag=True, hidden=True)
@click.pass_context
def pgbackups_capture(ctx: click.Context, database: str | None, app: str | None, expire: bool) -> None:
    """The old name of pg:backups:capture."""
    _alias("pgbackups:capture", "pg:backups:capture")
    ctx.invoke(pg_backups_capture, database=database, app=app, wait_interval=None, verbose=False)


@main.command("pgbackups:url", hidden=True)
@click.argument("backup_id", required=False)
@app_option
def pgbackups_url(backup_id: str | None, app: str | None) -> None:
    """The old name of pg:backups:url."""
    _alias("pgbackups:url", "pg:backups:url")
    _url(backup_id, app)
