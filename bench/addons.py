"""Benchmark (not a test): add-ons on real servers — from `addons:create` to a URL that accepts a connection,
and what the servers cost in memory.

    python3 bench/addons.py

On the process runtime, in a fresh HEROKUSIM_HOME:
1. `addons:create heroku-postgresql` until its DATABASE_URL accepts a connection (sslmode=require, as an app
   connects): the first ever in the home (the server's cluster is created) and warm (a second add-on: a
   database and role on the running server).
2. The same for heroku-redis and REDIS_URL (each add-on has its own redis-server, so warm is a second one).
3. With one Postgres and one Redis add-on running: the daemon's RSS, and its servers' processes' RSS apart
   (Postgres: the postmaster and its workers, whose shared buffers each count, so the sum overstates).

Each figure is the `addons:create` command as a user runs it (CLI start included), then polling the URL.
Writes bench/results.md (its `addons` section). Other measurements of add-ons go in their own functions
here and add rows to the same section.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import redis
from benchlib import Daemon, machine, start_daemon, wait_until, write_section

APP = "bench-addons"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a kernel thread or a process that just exited


def processes() -> dict[int, tuple[int, str]]:
    """Every process on the machine: pid -> (parent pid, command name)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            found[int(entry.name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), name)
    return found


def descendants(pid: int) -> dict[int, str]:
    """The processes under `pid` (its children, theirs, ...): pid -> command name."""
    table, found, todo = processes(), {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, name) in table.items():
            if ppid == parent and child not in found:
                found[child] = name
                todo.append(child)
    return found


def config(daemon: Daemon) -> dict[str, str]:
    return daemon.api("GET", f"/apps/{APP}/config-vars")  # the API, not the CLI: no second CLI start timed


def postgres_accepts(url: str) -> bool:
    try:
        with psycopg.connect(url, sslmode="require", connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def redis_accepts(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=5).ping())
    except redis.RedisError:
        return False


def create_until_accepting(daemon: Daemon, service: str, var: str, accepts) -> float:  # type: ignore[no-untyped-def]
    """Seconds from `addons:create SERVICE` until the URL in the new add-on's `var` accepts a connection."""
    before = config(daemon)
    start = time.perf_counter()
    out = daemon.cli("addons:create", service, "-a", APP, "--wait").stdout
    created = config(daemon)
    # the first add-on of a service takes VAR; a second one only its own HEROKU_POSTGRESQL_<COLOR>_URL / ...
    new = [k for k in created if k.endswith("_URL") and k not in before]
    url = created[var] if var in new else created[new[0]] if new else None
    if url is None:
        raise SystemExit(f"addons:create {service} set no new URL:\n{out}")
    wait_until(lambda: accepts(url), timeout=120, what=f"{service} to accept a connection")
    return time.perf_counter() - start


def provisioning_figures(daemon: Daemon) -> tuple[list[tuple[str, str, str]], dict[str, float]]:
    """The create-to-connection rows, and the RSS (MiB) with one Postgres and one Redis add-on running."""
    pg_first = create_until_accepting(daemon, "heroku-postgresql", "DATABASE_URL", postgres_accepts)
    redis_first = create_until_accepting(daemon, "heroku-redis", "REDIS_URL", redis_accepts)
    memory = memory_figures(daemon)
    pg_warm = create_until_accepting(daemon, "heroku-postgresql", "DATABASE_URL", postgres_accepts)
    redis_warm = create_until_accepting(daemon, "heroku-redis", "REDIS_URL", redis_accepts)
    first_pg = ("`addons:create heroku-postgresql` until DATABASE_URL accepts a connection, first in a fresh home"
                " (the cluster is created)")
    rows = [
        (first_pg, f"{pg_first:.2f} s", ""),
        ("the same, warm: a second heroku-postgresql add-on (a database and role on the running server)",
         f"{pg_warm:.2f} s", ""),
        ("`addons:create heroku-redis` until REDIS_URL answers PING, first in a fresh home", f"{redis_first:.2f} s",
         ""),
        ("the same, warm: a second heroku-redis add-on (its own redis-server)", f"{redis_warm:.2f} s", ""),
    ]
    return rows, memory


def memory_figures(daemon: Daemon) -> dict[str, float]:
    """RSS in MiB: the daemon itself, and its add-on servers' processes by kind."""
    figures = {"daemon": rss_kib(daemon.proc.pid) / 1024, "postgres": 0.0, "redis-server": 0.0}
    for pid, name in descendants(daemon.proc.pid).items():
        kind = "postgres" if name.startswith("postgres") else "redis-server" if name.startswith("redis") else None
        if kind:
            figures[kind] += rss_kib(pid) / 1024
    return figures


def memory_rows(memory: dict[str, float]) -> list[tuple[str, str, str]]:
    return [
        ("daemon RSS with one Postgres and one Redis add-on running (its own process)",
         f"{memory['daemon']:.0f} MiB", ""),
        ("Postgres server processes' RSS (postmaster and workers, summed: shared buffers counted in each)",
         f"{memory['postgres']:.0f} MiB", ""),
        ("the Redis add-on's redis-server RSS", f"{memory['redis-server']:.0f} MiB", ""),
    ]


def main() -> None:
    daemon = start_daemon()
    try:
        daemon.cli("apps:create", APP)
        rows, memory = provisioning_figures(daemon)
        rows += memory_rows(memory)
    finally:
        daemon.stop()
    write_section("addons", [
        "## Add-ons",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/addons.py` on {machine()}; process runtime.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *(f"| {figure} | {measured} | {target} |" for figure, measured, target in rows),
    ])


if __name__ == "__main__":
    main()
