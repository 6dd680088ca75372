"""Heroku Scheduler end to end through the CLI: the scheduler:standard add-on, scheduler:jobs:create /
update / delete, and the runs — each a one-off `scheduler.NNNN` dyno with the app's config, on the simulated
clock: a warp runs the due jobs in order, each logged at its own simulated time. Bad input is one line and
changes nothing; without the add-on, one line says how to add it; destroying it removes the jobs."""

from __future__ import annotations

import itertools
import re
import subprocess
from datetime import datetime
from pathlib import Path

from conftest import Daemon, checkout_of, git, wait_for

APP = "sched"
LINE = re.compile(r"(\S+) (app|heroku)\[([\w.-]+)\]: (.*)")


def deploy(daemon: Daemon, tmp_path: Path, app: str) -> None:
    repo = checkout_of("python-hello", tmp_path / app)
    assert daemon.cli("apps:create", app).returncode == 0
    assert daemon.cli("git:remote", "-a", app, cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr


def log_lines(daemon: Daemon, app: str) -> list[tuple[datetime, str, str, str]]:
    out = daemon.cli("logs", "-a", app, "-n", "1500").stdout
    found = []
    for line in out.splitlines():
        if match := LINE.fullmatch(line):
            found.append((datetime.fromisoformat(match[1]), match[2], match[3], match[4]))
    return found


def jobs(daemon: Daemon, app: str) -> list[dict]:
    return daemon.api("GET", f"/apps/{app}/scheduler-jobs").json()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_jobs_run_on_the_simulated_clock_in_one_off_scheduler_dynos(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, APP)
    # without the add-on: one line saying how to add it, and nothing is created
    missing = one_error_line(daemon.cli("scheduler:jobs", "-a", APP))
    assert "addons:create scheduler:standard -a sched" in missing
    one_error_line(daemon.cli("scheduler:jobs:create", "echo hi", "--every", "10m", "-a", APP))
    assert daemon.cli("addons:create", "scheduler:standard", "-a", APP).returncode == 0
    assert jobs(daemon, APP) == []
    assert not [k for k in daemon.api("GET", f"/apps/{APP}/config-vars").json() if "SCHEDULER" in k]
    assert daemon.cli("config:set", "GREETING=hello", "-a", APP).returncode == 0

    ten = daemon.cli("scheduler:jobs:create", "echo ten $GREETING", "--every", "10m", "-a", APP)
    assert ten.returncode == 0, ten.stderr
    hourly = daemon.cli("scheduler:jobs:create", "echo hourly", "--every", "1h", "--at", ":30", "--size", "basic",
                        "-a", APP)
    assert hourly.returncode == 0, hourly.stderr
    table = daemon.cli("scheduler:jobs", "-a", APP).stdout.splitlines()
    assert table[0].split() == ["ID", "Schedule", "Next", "Due", "Dyno", "size", "Command"]
    assert "every 10 minutes" in table[2] and "Standard-1X" in table[2] and table[2].endswith("echo ten $GREETING")
    assert "every hour at :30" in table[3] and "Basic" in table[3] and table[3].endswith("echo hourly")
    ten_id, hourly_id = (str(j["id"]) for j in jobs(daemon, APP))

    # bad input: one line each, nothing changed
    before = jobs(daemon, APP)
    seven = one_error_line(daemon.cli("scheduler:jobs:create", "echo x", "--every", "7m", "-a", APP))
    assert "7m" in seven and all(v in seven for v in ("10m", "1h", "1d"))
    one_error_line(daemon.cli("scheduler:jobs:create", "echo x", "--every", "1h", "--at", ":15", "-a", APP))
    one_error_line(daemon.cli("scheduler:jobs:create", "echo x", "--every", "1d", "--at", "25:00", "-a", APP))
    one_error_line(daemon.cli("scheduler:jobs:create", "echo x", "--every", "10m", "--at", ":30", "-a", APP))
    one_error_line(daemon.cli("scheduler:jobs:create", "echo x", "--every", "1h", "--size", "huge", "-a", APP))
    one_error_line(daemon.cli("scheduler:jobs:update", ten_id, "--every", "7m", "-a", APP))
    assert "Couldn't find that scheduler job (99)" in one_error_line(
        daemon.cli("scheduler:jobs:delete", "99", "-a", APP))
    assert jobs(daemon, APP) == before

    # a warp of an hour: the 10-minute job six times, the hourly one once, in order, each at its own time
    warp = daemon.cli("clock:warp", "1h")
    assert warp.returncode == 0, warp.stderr
    lines = log_lines(daemon, APP)
    outputs = [(t, proc, msg) for t, src, proc, msg in lines if src == "app" and proc.startswith("scheduler.")]
    assert [msg for _, _, msg in outputs].count("ten hello") == 6, outputs
    assert [msg for _, _, msg in outputs].count("hourly") == 1, outputs
    assert [t for t, _, _ in outputs] == sorted(t for t, _, _ in outputs), "runs logged in order"
    tens = [t for t, _, msg in outputs if msg == "ten hello"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(tens)]
    assert all(590 <= gap <= 610 for gap in gaps), gaps
    assert all(t.minute % 10 == 0 and t.second < 10 for t in tens), tens
    hourly_at = next(t for t, _, msg in outputs if msg == "hourly")
    assert hourly_at.minute == 30 and hourly_at.second < 10
    assert len({proc for _, proc, _ in outputs}) == 7, "each run is its own one-off dyno"
    assert all(re.fullmatch(r"scheduler\.\d{4}", proc) for _, proc, _ in outputs)
    # Heroku's lines of one run, in order
    proc = next(p for _, p, msg in outputs if msg == "hourly")
    run = [msg for _, src, p, msg in lines if p == proc and src == "heroku"]
    assert run == ["State changed from down to starting", "Starting process with command `echo hourly`",
                   "State changed from starting to up", "Process exited with status 0",
                   "State changed from up to complete"]
    api_lines = [msg for _, src, p, msg in lines if src == "app" and p == "api"]
    assert "Starting process with command `echo hourly` by user scheduler@addons.heroku.com" in api_lines
    assert all(j["last_run_at"] for j in jobs(daemon, APP))

    # update and delete
    updated = daemon.cli("scheduler:jobs:update", hourly_id, "--every", "1d", "--at", "02:00", "--command",
                         "echo daily", "-a", APP)
    assert updated.returncode == 0, updated.stderr
    job = next(j for j in jobs(daemon, APP) if str(j["id"]) == hourly_id)
    assert (job["schedule"], job["command"], job["dyno_size"]) == ("every day at 02:00 UTC", "echo daily", "basic")
    assert job["next_due"].endswith("T02:00:00Z")
    assert daemon.cli("scheduler:jobs:delete", ten_id, "-a", APP).returncode == 0
    assert [str(j["id"]) for j in jobs(daemon, APP)] == [hourly_id]

    # a run shows in ps while it runs
    assert daemon.cli("scheduler:jobs:create", "sleep 4; echo slept", "--every", "10m", "-a", APP).returncode == 0
    warping = subprocess.Popen([*daemon.program, "clock:warp", "10m"], env=daemon.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: re.search(r"scheduler\.\d{4}: up", daemon.cli("ps", "-a", APP).stdout), timeout=30,
                 message="the scheduler dyno in ps")
        assert "=== scheduler (Standard-1X): sleep 4; echo slept" in daemon.cli("ps", "-a", APP).stdout
    finally:
        warping.wait(60)
    assert "slept" in [msg for _, src, p, msg in log_lines(daemon, APP) if p.startswith("scheduler.")]

    # destroying the add-on removes the jobs; a warp then runs nothing
    addon = daemon.api("GET", f"/apps/{APP}/addons/SCHEDULER").json()["name"]
    assert daemon.cli("addons:destroy", addon, "-a", APP, "--confirm", APP).returncode == 0
    one_error_line(daemon.cli("scheduler:jobs", "-a", APP))
    runs = len([1 for _, _, p, _ in log_lines(daemon, APP) if p.startswith("scheduler.")])
    assert daemon.cli("clock:warp", "1d").returncode == 0
    assert len([1 for _, _, p, _ in log_lines(daemon, APP) if p.startswith("scheduler.")]) == runs
    assert daemon.cli("addons:create", "scheduler:standard", "-a", APP).returncode == 0
    assert jobs(daemon, APP) == []
