"""The labs:* commands as a student and a teacher use them, on a real daemon: list, start lab 6, a failing
check (exit 1, the R10 line), the solution, a passing check after the fix is pushed, progress kept by the
daemon, reset, export, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, start_daemon, stop_daemon

from herokusim.labs.catalogue import lab


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    # the boot timeout shortened through its documented setting (Heroku's 60 s ships: test_defaults.py)
    d = start_daemon(tmp_path / "home", HEROKUSIM_BOOT_TIMEOUT="5")
    try:
        yield d
    finally:
        stop_daemon(d)


def _labs(d: Daemon) -> dict[int, dict[str, object]]:
    done = d.cli("labs", "--json")
    assert done.returncode == 0, done.stderr
    return {row["number"]: row for row in json.loads(done.stdout)}


def _git(checkout: Path, d: Daemon, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=checkout, env={**d.env, "GIT_TERMINAL_PROMPT": "0"},
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr


def test_a_student_plays_lab_6_from_the_command_line(daemon: Daemon, tmp_path: Path) -> None:
    d = daemon
    assert _labs(d)[6]["state"] == "not started"
    listed = d.cli("labs")
    assert listed.returncode == 0 and "$PORT and R10" in listed.stdout and "not started" in listed.stdout

    checkout = tmp_path / "mine"
    started = d.cli("labs:start", "6", "--dir", str(checkout), timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Lab 6: $PORT and R10" in started.stdout and "labs:check" in started.stdout
    marker = json.loads((checkout / ".herokusim-lab").read_text())
    assert marker["number"] == 6 and set(marker["apps"]) == {"app"} and marker["created"]
    app = marker["apps"]["app"]
    assert f"http://{app}.localhost:{d.router_port}/" in started.stdout
    assert (checkout / "README.md").is_file() and _labs(d)[6]["state"] == "started"

    failed = d.cli("labs:check", cwd=checkout, timeout=200)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Waiting for web.1" in failed.stdout  # what the check does, as it goes
    assert "FAIL: " in failed.stdout and "Error R10 (Boot timeout)" in failed.stdout and "Hint: " in failed.stdout
    record = _labs(d)[6]
    assert record["state"] == "started" and record["last_check"]["passed"] is False

    solution = d.cli("labs:solution", "--yes", cwd=checkout)
    port_lab = lab(6)
    assert port_lab is not None
    assert solution.returncode == 0 and (port_lab.solution_dir / "SOLUTION.md").read_text().strip() in solution.stdout
    refused = d.cli("labs:solution", "6", input="n\n")
    assert refused.returncode == 1 and "SOLUTION" not in refused.stdout

    shutil.copy(port_lab.solution_dir / "app.py", checkout / "app.py")
    _git(checkout, d, "-c", "user.name=s", "-c", "user.email=s@x", "commit", "-qam", "bind $PORT")
    _git(checkout, d, "push", "-q", "herokusim", "main")
    passed = d.cli("labs:check", "6", timeout=200)  # by number, from outside the checkout
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS: " in passed.stdout
    assert _labs(d)[6]["state"] == "passed"
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True,
                              text=True, check=False).stdout.strip(), "the marker stays out of the student's commits"

    reset = d.cli("labs:reset", "6", "--confirm", "6")
    assert reset.returncode == 0, reset.stderr
    assert d.api("GET", f"/apps/{app}").status_code == 404
    assert _labs(d)[6]["state"] == "not started"
    gone = d.cli("labs:check", cwd=checkout)
    assert gone.returncode == 2 and "UNDECIDED" in gone.stdout


def test_export_and_bad_input(daemon: Daemon, tmp_path: Path) -> None:
    d = daemon
    out = tmp_path / "export"
    exported = d.cli("labs:export", str(out))
    assert exported.returncode == 0, exported.stderr
    lab6 = out / "lab06-port-r10"
    assert (lab6 / "fixture" / "README.md").is_file() and (lab6 / "fixture" / "Procfile").is_file()
    assert (lab6 / "solution" / "SOLUTION.md").is_file()
    assert "Error R10" in (lab6 / "CHECK.md").read_text()

    for args, cwd in ((["labs:start", "99"], None), (["labs:check"], tmp_path), (["labs:reset", "6", "--confirm", "5"],
                                                                                  None)):
        bad = d.cli(*args, cwd=cwd)
        assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, (args, bad.stderr)
        assert "Traceback" not in bad.stderr
    refused = d.cli("labs:start", "6", "--dir", str(tmp_path / "x"), "--time-scale", "0")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert not (tmp_path / "x").exists()  # a refused scale makes nothing
    scaled = d.cli("labs:start", "6", "--dir", str(tmp_path / "x"), "--time-scale", "60")
    assert scaled.returncode == 0, scaled.stderr
    assert d.api("GET", "/clock").json()["time_scale"] == 60  # a simulated minute per real second
    d.api("PATCH", "/clock", json={"scale": 1})
