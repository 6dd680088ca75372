"""addons/pgfollow: followers (read-only replicas) and forks of heroku-postgresql databases.

A follower (`addons:create heroku-postgresql:standard-0 --follow DATABASE_URL`) is its own PostgreSQL server,
a hot standby of the leader's server kept up to date by PostgreSQL's streaming replication: pg_basebackup
copies the leader's cluster through its unix socket as the replication role `herokusim_replication` (peer
authentication, like the superuser), with a physical replication slot named after the follower (the leader
keeps the WAL it has not received) and `-R` (standby.signal and primary_conninfo). Each follower has its own
standby server rather than one standby shared by every follower: `pg:unfollow` promotes the follower's
server (pg_promote()), which must leave the other followers following. A standby replicates the whole
cluster, so the follower's URL names the leader's database with the leader's role and password (a physical
replica copies the roles; Heroku gives a follower its own credentials), on the follower's own port, behind
its own TLS front (addons/pgtls.py, the leader's certificate). Writes fail as PostgreSQL fails them on a hot
standby: `cannot execute INSERT in a read-only transaction`.

A fork (`--fork DATABASE_URL`) is a new database and role on the main server holding a copy of the leader's
database at that moment (pg_dump | pg_restore, objects owned by the fork's role).

The follower's record (addons.json, as every add-on's) has kind "follower", its port, data dir, slot and the
leader's provider id and name; standbys are started, adopted and stopped with the main server.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herokusim.addons.pgtls import TlsFront
from herokusim.addons.provider import AddonError, Plan

if TYPE_CHECKING:
    from herokusim.addons.postgres import PostgresProvider

REPLICATION_ROLE = "herokusim_replication"
BASEBACKUP_TIMEOUT = 600.0
PROMOTE_TIMEOUT = 60


def is_follower(record: dict[str, Any] | None) -> bool:
    return bool(record) and record.get("kind") == "follower"  # type: ignore[union-attr]


class Followers:
    """The followers of one PostgresProvider: their standby servers and TLS fronts."""

    def __init__(self, provider: PostgresProvider):
        self.p = provider
        self.dir = provider.dir / "followers"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[str, int] = {}
        self._fronts: dict[str, TlsFront] = {}
        self._servers = threading.Lock()  # the supervisor's restarts and stop_sync, one at a time

    # ------------------------------------------------------------------ paths

    def _socket_dir(self, record: dict[str, Any]) -> Path:
        data = Path(record["data_dir"])
        if len(str(data / f".s.PGSQL.{record['port']}")) < 100:
            return data
        digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
        return Path("/tmp") / f"herokusim-pgf-{digest}"

    def _make_socket_dir(self, record: dict[str, Any]) -> Path:
        path = self._socket_dir(record)
        if path != Path(record["data_dir"]):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
            self._chown(path)
        return path

    def _chown(self, path: Path) -> None:
        from herokusim.addons.postgres import _as_root, _system_user

        if _as_root():
            os.chown(path, *_system_user(), follow_symlinks=False)

    # ------------------------------------------------------------------ creation

    def create_sync(self, fid: str, addon_id: str, app_name: str, plan: Plan, leader: dict[str, Any],
                    leader_id: str, leader_name: str) -> dict[str, Any]:
        """pg_basebackup of the leader's cluster into a new standby, started; its record saved under `fid`."""
        from herokusim.addons.postgres import _one_line

        p = self.p
        p._write_hba()
        with p._admin() as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_ROLE,)).fetchone() is None:
                conn.execute(f"CREATE ROLE {REPLICATION_ROLE} REPLICATION LOGIN")
            conn.execute("SELECT pg_reload_conf()")
        self.dir.mkdir(exist_ok=True)
        os.chmod(self.dir, 0o711)
        data = self.dir / fid
        data.mkdir(mode=0o700)
        self._chown(data)
        record = {
            "kind": "follower", "addon_id": addon_id, "app": app_name, "role": leader["role"],
            "database": leader["database"], "password": leader["password"], "plan": plan.name,
            "plan_human": plan.human_name, "limits": dict(plan.limits), "restricted": False,
            "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "port": p._free_port(), "data_dir": str(data), "slot": fid,
            "following": leader_id, "following_name": leader_name,
        }
        try:
            result = p._run_as_server([
                str(p.bin / "pg_basebackup"), "-D", str(data), "-h", str(p._socket_dir), "-p", str(p._port),
                "-U", REPLICATION_ROLE, "-R", "-X", "stream", "-C", "-S", fid, "-c", "fast", "-w",
            ], timeout=BASEBACKUP_TIMEOUT)
            if result.returncode != 0:
                from herokusim.addons.postgres import _last_line

                errors = [line for line in result.stderr.splitlines() if "error" in line or "failed" in line]
                raise AddonError("the follower's base backup failed: "
                                 + (errors[0].strip() if errors else _last_line(result.stderr)))
            self._spawn_sync(fid, record)
        except Exception as exc:
            self._remove_sync(fid, record)
            if isinstance(exc, AddonError):
                raise
            raise AddonError(f"the follower could not start: {_one_line(exc)}") from None
        p._save_record(fid, record)
        return record

    def fork_sync(self, record: dict[str, Any], leader: dict[str, Any]) -> None:
        """The leader's database as it is now, restored into the fork's (new, empty) database."""
        from herokusim.addons.postgres import _last_line, _server_env

        p = self.p
        common = ["-h", str(p._socket_dir), "-p", str(p._port), "-U", "postgres", "--no-owner", "--no-acl"]
        dump = subprocess.Popen([str(p.bin / "pg_dump"), "-Fc", *common, leader["database"]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_server_env())
        assert dump.stdout is not None
        restore = subprocess.run([str(p.bin / "pg_restore"), *common, f"--role={record['role']}",
                                  "--exit-on-error", "-d", record["database"]],
                                 check=False, stdin=dump.stdout, capture_output=True, text=True,
                                 env=_server_env(),
                                 timeout=BASEBACKUP_TIMEOUT)
        dump.stdout.close()
        dump_err = (dump.stderr.read() if dump.stderr else b"").decode(errors="replace")
        dump.wait(30)
        if dump.returncode != 0:
            raise AddonError(f"the fork's copy failed: {_last_line(dump_err)}")
        if restore.returncode != 0:
            raise AddonError(f"the fork's copy failed: {_last_line(restore.stderr)}")

    # ------------------------------------------------------------------ servers

    def _running(self, fid: str) -> bool:
        from herokusim.addons.postgres import _is_postmaster

        proc = self._procs.get(fid)
        if proc is not None:
            return proc.poll() is None
        pid = self._pids.get(fid)
        return pid is not None and _is_postmaster(pid, self.dir / fid)

    def _spawn_sync(self, fid: str, record: dict[str, Any]) -> None:
        """Start (or adopt) the follower's server and wait until it accepts connections."""
        from herokusim.addons.postgres import MAX_CONNECTIONS, START_TIMEOUT, _is_postmaster, _one_line

        if self._running(fid):
            return
        data = Path(record["data_dir"])
        socket_dir = self._make_socket_dir(record)
        pidfile = data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            if _is_postmaster(pid, data):
                self._pids[fid] = pid
        if not self._running(fid):
            pidfile.unlink(missing_ok=True)
            for name in (f".s.PGSQL.{record['port']}.lock", f".s.PGSQL.{record['port']}"):
                (socket_dir / name).unlink(missing_ok=True)
            argv = [
                str(self.p.bin / "postgres"), "-D", str(data),
                "-c", "listen_addresses=", "-c", f"port={record['port']}",
                "-c", f"unix_socket_directories={socket_dir}", "-c", "unix_socket_permissions=0700",
                "-c", f"max_connections={MAX_CONNECTIONS}", "-c", "shared_buffers=16MB",
                "-c", "hot_standby=on", "-c", "logging_collector=off",
            ]
            kwargs = self.p._as_server_kwargs()
            kwargs["cwd"] = str(data)
            with open(self.dir / f"{fid}.log", "ab") as log:
                self._procs[fid] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                    start_new_session=True, **kwargs)
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            proc = self._procs.get(fid)
            if proc is not None and proc.poll() is not None:
                raise AddonError(f"the follower's server exited: see {self.dir / f'{fid}.log'}")
            try:
                with self._admin(record) as conn:
                    conn.execute("SELECT 1")
                return
            except Exception as exc:  # noqa: BLE001 - starting up: keep trying until the deadline
                last = exc
                time.sleep(0.05)
        raise AddonError(f"the follower's server did not answer within {START_TIMEOUT:.0f}s: {_one_line(last)}")

    async def start_front(self, fid: str, record: dict[str, Any]) -> None:
        if fid in self._fronts:
            return
        front = TlsFront(self.p.network.listen, record["port"],
                         self._socket_dir(record) / f".s.PGSQL.{record['port']}",
                         self.p.dir / "server.crt", self.p.dir / "server.key")
        await front.start()
        self._fronts[fid] = front

    async def stop_front(self, fid: str) -> None:
        front = self._fronts.pop(fid, None)
        if front is not None:
            await front.stop()

    def records(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.p._registry().items() if is_follower(v)}

    def start_all_sync(self) -> list[str]:
        """Every follower's server started or adopted; the ids of those that could not start are returned
        (reported, never fatal: the main server is up)."""
        failed = []
        for fid, record in self.records().items():
            try:
                self._spawn_sync(fid, record)
            except Exception as exc:  # noqa: BLE001 - one follower's failure is reported, not fatal
                self.p.events(f"heroku-postgresql follower {record['addon_id']}: {exc}")
                failed.append(fid)
        return failed

    def restart_dead_sync(self) -> list[str]:
        """Run by the provider's supervisor: start again each follower server that died since it was started
        (one stopped on purpose has left `_procs`/`_pids`); the lines to report."""
        lines = []
        with self._servers:
            dead = [fid for fid in {*self._procs, *self._pids} if not self._running(fid)]
            for fid in dead:
                record = self.records().get(fid)
                proc = self._procs.pop(fid, None)
                self._pids.pop(fid, None)
                if record is None:
                    continue
                code = proc.poll() if proc is not None else None
                status = "unknown" if code is None else str(128 - code if code < 0 else code)
                lines.append(f"heroku-postgresql follower {record['addon_id']} server exited (status {status}): "
                             "restarting")
                try:
                    self._spawn_sync(fid, record)
                    lines.append(f"heroku-postgresql follower {record['addon_id']} server restarted")
                except Exception as exc:  # noqa: BLE001 - reported; it stays down until the daemon restarts
                    lines.append(f"heroku-postgresql follower {record['addon_id']} server could not restart: {exc}"
                                 "; it starts again with the daemon")
        return lines

    def stop_sync(self, fid: str) -> None:
        with self._servers:
            self._stop_sync(fid)

    def _stop_sync(self, fid: str) -> None:
        from herokusim.addons.postgres import STOP_TIMEOUT, _is_postmaster, _stop_pid

        proc = self._procs.pop(fid, None)
        pid = self._pids.pop(fid, None)
        if proc is not None:
            _stop_pid(proc.pid, STOP_TIMEOUT, proc)
        elif pid is not None and _is_postmaster(pid, self.dir / fid):
            _stop_pid(pid, STOP_TIMEOUT)
        record = self.p._registry().get(fid)
        if record is not None and self._socket_dir(record) != Path(record["data_dir"]):
            with contextlib.suppress(OSError):  # the short socket dir under /tmp, once empty
                self._socket_dir(record).rmdir()

    def stop_all_sync(self) -> None:
        for fid in {*self._procs, *self._pids}:
            self.stop_sync(fid)

    def _remove_sync(self, fid: str, record: dict[str, Any]) -> None:
        """Stop the follower's server, drop its slot on the leader, remove its files."""
        self.stop_sync(fid)
        with contextlib.suppress(Exception):
            self._drop_slot(record["slot"])
        socket_dir = self._socket_dir(record)
        shutil.rmtree(record["data_dir"], ignore_errors=True)
        (self.dir / f"{fid}.log").unlink(missing_ok=True)
        if socket_dir != Path(record["data_dir"]):
            shutil.rmtree(socket_dir, ignore_errors=True)

    def _drop_slot(self, slot: str) -> None:
        deadline = time.monotonic() + 10
        while True:
            with self.p._admin() as conn:
                row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                   (slot,)).fetchone()
                if row is None:
                    return
                if not row[0] or time.monotonic() > deadline:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    return
            time.sleep(0.1)

    async def deprovision(self, fid: str, record: dict[str, Any]) -> None:
        import asyncio

        await self.stop_front(fid)
        await asyncio.to_thread(self._remove_sync, fid, record)
        self.p._save_record(fid, None)

    # ------------------------------------------------------------------ connections

    @contextlib.contextmanager
    def _admin(self, record: dict[str, Any], dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        conn = psycopg.connect(host=str(self._socket_dir(record)), port=record["port"], user="postgres",
                               dbname=dbname, autocommit=True, connect_timeout=5, application_name="herokusim")
        try:
            yield conn
        finally:
            conn.close()

    def psql_argv(self, record: dict[str, Any]) -> list[str]:
        conninfo = (f"host={self._socket_dir(record)} port={record['port']} dbname={record['database']} "
                    f"user={record['role']} password={record['password']} sslmode=disable application_name=psql")
        return [str(self.p.bin / "psql"), conninfo]

    # ------------------------------------------------------------------ state

    def behind_sync(self, record: dict[str, Any]) -> int | None:
        """How many bytes of the leader's WAL the follower has not replayed (None: not streaming)."""
        with self._admin(record) as conn:
            replayed, receiving = conn.execute("""
                SELECT pg_last_wal_replay_lsn()::text,
                       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')""").fetchone()
        if replayed is None or not receiving:
            return None
        with self.p._admin() as conn:
            behind = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)",
                                  (replayed,)).fetchone()[0]
        return max(0, int(behind))

    def wait_status_sync(self, record: dict[str, Any]) -> tuple[bool, str]:
        """(waiting, message) as pg:wait shows them."""
        fid = record["slot"]
        if not self._running(fid):
            return True, "the follower's server is not running"
        if not record.get("following"):
            return False, "available"
        behind = self.behind_sync(record)
        if behind is None:
            return True, "connecting to its leader"
        if behind > 0:
            from herokusim.addons.postgres import human_size

            return True, f"catching up: behind by {human_size(behind)}"
        return False, "available"

    def health_sync(self, record: dict[str, Any]) -> str:
        if not self._running(record["slot"]):
            return "unavailable: the follower's server is not running"
        return "available"

    def info_sync(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        from herokusim.addons.postgres import human_size

        if not self._running(record["slot"]):
            return [("Plan", record["plan_human"]), ("Status", "Unavailable: the server is not running"),
                    ("Add-on", record["addon_id"])]
        database = record["database"]
        with self._admin(record) as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()[0]
            active = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                                  (database, record["role"])).fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0]
        with self._admin(record, database) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()[0]
        connections = record.get("limits", {}).get("connections")
        lines = [
            ("Plan", record["plan_human"]),
            ("Status", "Available"),
            ("Connections", f"{active}/{connections}" if connections else str(active)),
            ("PG Version", version),
            ("Created", record["created_at"]),
            ("Data Size", human_size(int(size))),
            ("Tables", str(tables)),
        ]
        if record.get("following"):
            behind = self.behind_sync(record)
            lines += [("Following", record["following_name"]),
                      ("Behind By", "unknown: not streaming" if behind is None else human_size(behind))]
        lines += [("Fork/Follow", "Available"), ("Rollback", "Unsupported"), ("Continuous Protection", "Off"),
                  ("Add-on", record["addon_id"])]
        return lines

    def unfollow_sync(self, fid: str, record: dict[str, Any]) -> dict[str, Any]:
        """pg:unfollow: the follower's server promoted (writable, independent); the leader's slot dropped."""
        if not record.get("following"):
            raise AddonError("this database is not following another database")
        with self._admin(record) as conn:
            done = conn.execute("SELECT pg_promote(true, %s)", (PROMOTE_TIMEOUT,)).fetchone()[0]
        if not done:
            raise AddonError(f"the follower was not promoted within {PROMOTE_TIMEOUT}s")
        with contextlib.suppress(Exception):
            self._drop_slot(record["slot"])
        record = {**record, "following": None, "unfollowed_from": record["following_name"]}
        self.p._save_record(fid, record)
        return record
