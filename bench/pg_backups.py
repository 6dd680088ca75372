"""Benchmark (not a test): Heroku Postgres backups on the add-on's real PostgreSQL.

    python3 bench/pg_backups.py [--mb 100]

1. A heroku-postgresql add-on filled with about --mb MB of rows of random text (through its TLS URL, as an
   app writes).
2. `pg:backups:capture` (POST /apps/{app}/postgres-backups) until the backup has finished: pg_dump -Fc.
3. `pg:backups:restore` of that backup into the same database until it has finished: pg_restore --clean.

Writes bench/results.md (its `pg-backups` section, "## pg:backups").
"""

from __future__ import annotations

import argparse
import time

import psycopg
from benchlib import machine, start_daemon, wait_until, write_section

APP = "bench-pg"
ROW_TEXT = " || ".join(["md5(random()::text)"] * 6)  # 192 characters of random hex a row


def finished(daemon, name: str) -> dict | None:  # type: ignore[no-untyped-def, type-arg]
    transfer = daemon.api("GET", f"/apps/{APP}/postgres-backups/{name}")
    return transfer if transfer["finished_at"] else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    daemon = start_daemon()
    try:
        daemon.cli("apps:create", APP)
        daemon.cli("addons:create", "heroku-postgresql:standard-0", "-a", APP)
        url = daemon.api("GET", f"/apps/{APP}/config-vars")["DATABASE_URL"]
        with psycopg.connect(url, sslmode="require", autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)")
            size = 0
            while size < args.mb * 1024 * 1024:
                conn.execute(f"INSERT INTO notes (body) SELECT {ROW_TEXT} FROM generate_series(1, 50000)")
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
            rows = conn.execute("SELECT count(*) FROM notes").fetchone()[0]  # type: ignore[index]
        print(f"database: {size / 1024 / 1024:.0f} MB, {rows} rows", flush=True)

        started = time.perf_counter()
        backup = daemon.api("POST", f"/apps/{APP}/postgres-backups", {"database": "DATABASE"})
        wait_until(lambda: finished(daemon, backup["name"]), timeout=600, poll=0.05, what="the backup")
        capture = time.perf_counter() - started
        done = finished(daemon, backup["name"])
        assert done and done["succeeded"], done
        print(f"capture: {capture:.2f} s, dump {done['processed_bytes'] / 1024 / 1024:.1f} MB", flush=True)

        started = time.perf_counter()
        restore = daemon.api("POST", f"/apps/{APP}/postgres-restores", {"backup": backup["name"]})
        wait_until(lambda: finished(daemon, restore["name"]), timeout=600, poll=0.05, what="the restore")
        restored = time.perf_counter() - started
        result = finished(daemon, restore["name"])
        assert result and result["succeeded"], result
        with psycopg.connect(url, sslmode="require", autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == rows  # type: ignore[index]
        print(f"restore: {restored:.2f} s", flush=True)
    finally:
        daemon.stop()

    write_section("pg-backups", [
        "## pg:backups",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/pg_backups.py --mb {args.mb}` on {machine()}."),
        "",
        "| figure | measured |",
        "|---|---|",
        f"| heroku-postgresql database (rows of random text) | {size / 1024 / 1024:.0f} MB, {rows} rows |",
        (f"| `pg:backups:capture` until the backup is `Completed` (pg_dump -Fc, "
         f"{done['processed_bytes'] / 1024 / 1024:.1f} MB dump) | {capture:.2f} s |"),
        f"| `pg:backups:restore` of it until `Completed` (pg_restore --clean --if-exists) | {restored:.2f} s |",
    ])


if __name__ == "__main__":
    main()
