"""The dyno manager as a user meets it: formation, crashes and cool-offs, R10/R12/R14/R15, ephemeral files,
daily cycling under a warped clock, one-off and release-phase dynos, reconcile after a daemon crash.

Real daemons, real processes, real HTTP through the router; timeouts shortened only through the documented
settings (test_defaults.py proves what ships).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, dyno_alive, git, leftover_dynos, start_daemon, stop_daemon, wait_for

pytestmark = pytest.mark.both_runtimes  # each test once per runtime (tests/conftest.py)

FAST = {"HEROKUSIM_BOOT_TIMEOUT": "3", "HEROKUSIM_STOP_GRACE": "2", "HEROKUSIM_MEMORY_QUOTA_MB": "64"}


@pytest.fixture
def fast_daemon(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = start_daemon(tmp_path / "home", **FAST)
    try:
        yield d
    finally:
        stop_daemon(d)


def deploy(daemon: Daemon, tmp_path: Path, fixture: str, app: str, config: dict[str, str] | None = None) -> Path:
    repo = checkout_of(fixture, tmp_path / app)
    assert daemon.cli("apps:create", app).returncode == 0
    assert daemon.cli("git:remote", "-a", app, cwd=repo).returncode == 0
    if config:
        assert daemon.cli("config:set", *(f"{k}={v}" for k, v in config.items()), "-a", app).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    return repo


def dynos(daemon: Daemon, app: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["name"]: d for d in daemon.api("GET", f"/apps/{app}/dynos").json()}


def states(daemon: Daemon, app: str) -> dict[str, str]:
    return {name: d["state"] for name, d in dynos(daemon, app).items()}


def logs(daemon: Daemon, app: str, *args: str) -> str:
    result = daemon.cli("logs", "-a", app, "-n", "1500", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def all_up(daemon: Daemon, app: str, names: set[str]) -> dict[str, dict] | None:  # type: ignore[type-arg]
    found = dynos(daemon, app)
    return found if set(found) == names and all(d["state"] == "up" for d in found.values()) else None


def fails(daemon: Daemon, *args: str, expect: str) -> None:
    result = daemon.cli(*args)
    assert result.returncode != 0, result.stdout
    assert expect in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_formation_scale_restart_and_stop(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "python-hello", "formed")
    first = wait_for(lambda: all_up(daemon, "formed", {"web.1"}), message="web.1 up")

    scaled = daemon.cli("ps:scale", "web=3", "-a", "formed")
    assert "now running web at 3:Standard-1X" in scaled.stdout
    three = wait_for(lambda: all_up(daemon, "formed", {"web.1", "web.2", "web.3"}), message="three up")
    assert three["web.1"]["id"] == first["web.1"]["id"], "scaling up starts only the new dynos"
    assert "app[api]: Scaled to web@3:Standard-1X by user" in logs(daemon, "formed")

    assert daemon.cli("ps:scale", "web-1", "-a", "formed").returncode == 0
    two = wait_for(lambda: all_up(daemon, "formed", {"web.1", "web.2"}), message="web.3 gone")
    assert two["web.2"]["id"] == three["web.2"]["id"], "scaling down stops only the highest-numbered"

    restart = daemon.cli("ps:restart", "web.2", "-a", "formed")
    assert restart.returncode == 0 and "Restarting dyno web.2 on ⬢ formed... done" in restart.stdout
    after = wait_for(lambda: (d := all_up(daemon, "formed", {"web.1", "web.2"}))
                     and d["web.2"]["id"] != two["web.2"]["id"] and d, message="web.2 replaced")
    assert after["web.1"]["id"] == two["web.1"]["id"]
    assert "heroku[web.2]: Restarting" in logs(daemon, "formed")

    stop = daemon.cli("ps:stop", "web.1", "-a", "formed")
    assert stop.returncode == 0 and "Stopping dyno web.1 on ⬢ formed... done" in stop.stdout
    wait_for(lambda: (d := all_up(daemon, "formed", {"web.1", "web.2"})) and d["web.1"]["id"] != after["web.1"]["id"],
             message="the formation to replace the stopped web.1")

    sized = daemon.cli("ps:scale", "web=1:standard-2X", "-a", "formed")
    assert sized.returncode == 0 and "now running web at 1:Standard-2X" in sized.stdout
    big = wait_for(lambda: all_up(daemon, "formed", {"web.1"}), message="one standard-2X dyno")
    assert big["web.1"]["size"] == "standard-2X" and big["web.1"]["memory_quota_mb"] == 1024
    ps = daemon.cli("ps", "-a", "formed").stdout
    assert "=== web (Standard-2X): python app.py (1)" in ps and re.search(r"web\.1: up \d{4}/", ps)

    before = daemon.api("GET", "/apps/formed/formation").json()
    fails(daemon, "ps:scale", "web=-1", "-a", "formed", expect="web=-1")
    fails(daemon, "ps:scale", "web=abc", "-a", "formed", expect="web=abc")
    fails(daemon, "ps:scale", "worker=1", "-a", "formed", expect="Couldn't find that process type (worker)")
    fails(daemon, "ps:scale", "web=1:huge", "-a", "formed", expect="Unknown dyno size 'huge'")
    fails(daemon, "ps:restart", "web.9", "-a", "formed", expect="Couldn't find that dyno (web.9)")
    fails(daemon, "ps:stop", "web.9", "-a", "formed", expect="Couldn't find that dyno (web.9)")
    assert daemon.api("GET", "/apps/formed/formation").json() == before


def test_port_not_bound_is_r10_then_crashed_and_h10(fast_daemon: Daemon, tmp_path: Path) -> None:
    deploy(fast_daemon, tmp_path, "port-ignorer", "ignorer")
    wait_for(lambda: "Error R10" in logs(fast_daemon, "ignorer"), message="R10")
    text = logs(fast_daemon, "ignorer")
    assert ("heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 3 seconds "
            "of launch") in text
    assert "heroku[web.1]: Stopping process with SIGKILL" in text
    assert "heroku[web.1]: Process exited with status 137" in text
    assert "heroku[web.1]: State changed from starting to crashed" in text
    wait_for(lambda: states(fast_daemon, "ignorer") == {"web.1": "crashed"}, message="crashed after its 2nd R10")
    response = fast_daemon.get("ignorer.localhost")
    assert response.status_code == 503
    assert 'code=H10 desc="App crashed"' in logs(fast_daemon, "ignorer", "--dyno", "router")


def test_sigterm_ignored_is_r12_and_sigkill(fast_daemon: Daemon, tmp_path: Path) -> None:
    deploy(fast_daemon, tmp_path, "sigterm-ignorer", "stubborn")
    wait_for(lambda: states(fast_daemon, "stubborn") == {"web.1": "up"}, message="up")
    assert fast_daemon.cli("ps:restart", "-a", "stubborn").returncode == 0
    wait_for(lambda: "Error R12" in logs(fast_daemon, "stubborn"), message="R12")
    text = logs(fast_daemon, "stubborn")
    stop = text[text.index("heroku[web.1]: Stopping all processes with SIGTERM"):]
    assert "app[web.1]: Got SIGTERM; ignoring it" in stop
    # Heroku's current wording (the 2012 form said `Process failed to exit` / `Stopping process with SIGKILL`)
    assert ("heroku[web.1]: Error R12 (Exit timeout) -> At least one process failed to exit within 2 seconds "
            "of SIGTERM" in stop)
    assert stop.index("Error R12") < stop.index("heroku[web.1]: Stopping remaining processes with SIGKILL") \
        < stop.index("heroku[web.1]: Process exited with status 137")
    wait_for(lambda: states(fast_daemon, "stubborn") == {"web.1": "up"}, message="the replacement up")


def _restart_gap(dyno: dict) -> timedelta:  # type: ignore[type-arg]
    return datetime.fromisoformat(dyno["restart_at"]) - datetime.fromisoformat(dyno["updated_at"])


def test_crash_schedule_cooloffs_and_reset(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "crasher", "crashy", config={"CRASH_AFTER": "1"})
    # the first crash restarts at once; the second waits 20 simulated minutes
    crashed = wait_for(lambda: (d := dynos(daemon, "crashy").get("web.1")) and d["restart_at"] and d,
                       message="a crashed dyno in its cool-off")
    assert crashed["state"] == "crashed" and crashed["crashes"] == 2
    assert _restart_gap(crashed) == timedelta(minutes=20)
    text = logs(daemon, "crashy")
    assert "app[web.1]: Crashing now with status 1" in text
    assert "heroku[web.1]: Process exited with status 1" in text
    assert "heroku[web.1]: State changed from up to crashed" in text
    assert "heroku[web.1]: State changed from crashed to starting" in text
    ps = daemon.cli("ps", "-a", "crashy").stdout
    assert re.search(r"^web\.1: crashed \d{4}/\d\d/\d\d \S+ \+\d{4} \(~ \d+s ago\)$", ps, re.MULTILINE), ps
    extended = daemon.cli("ps", "--extended", "-a", "crashy").stdout
    restarting = r"web\.1 +crashed .*\d{4}/\d\d/\d\d \S+ \+\d{4} \(cool-off 20m\)$"
    assert re.search(restarting, extended, re.MULTILINE), extended

    # nothing happens until the cool-off is over on the simulated clock
    warp = daemon.cli("clock:warp", "20m")
    assert warp.returncode == 0, warp.stderr
    third = wait_for(lambda: (d := dynos(daemon, "crashy").get("web.1")) and d["crashes"] == 3
                     and d["restart_at"] and d, message="the third crash")
    assert _restart_gap(third) == timedelta(minutes=40)

    # a new release starts the schedule afresh
    assert daemon.cli("config:set", "CRASH_AFTER=never", "-a", "crashy").returncode == 0
    fixed = wait_for(lambda: (d := dynos(daemon, "crashy").get("web.1")) and d["state"] == "up" and d,
                     message="the fixed dyno up")
    assert fixed["crashes"] == 0 and fixed["restart_at"] is None
    assert daemon.get("crashy.localhost").status_code == 200


def test_files_are_private_per_dyno_and_gone_after_a_restart(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "file-writer", "writer")
    assert daemon.cli("ps:scale", "web=2", "-a", "writer").returncode == 0
    wait_for(lambda: all_up(daemon, "writer", {"web.1", "web.2"}), message="two up")
    writer = daemon.get("writer.localhost", "/write/upload.txt").text.split()[0]
    other = "web.2" if writer == "web.1" else "web.1"
    listings: dict[str, str] = {}

    def both_listed() -> bool:
        dyno, _, files = daemon.get("writer.localhost", "/files").text.strip().partition(": ")
        listings[dyno] = files
        return len(listings) == 2

    wait_for(both_listed, message="both dynos to answer /files")
    assert listings == {writer: "upload.txt", other: "(none)"}, "a file is visible only on the dyno that wrote it"

    assert daemon.cli("ps:restart", writer, "-a", "writer").returncode == 0
    wait_for(lambda: (d := all_up(daemon, "writer", {"web.1", "web.2"})) and d, message="restarted")
    listings.clear()
    wait_for(both_listed, message="both dynos to answer /files again")
    assert listings == {writer: "(none)", other: "(none)"}, "the restarted dyno starts from a fresh slug"
    if daemon.runtime == "process":  # on Docker the files went with each removed container
        dirs = sorted(p.name for p in (daemon.home / "dynos").iterdir())
        assert dirs == sorted(d["id"] for d in dynos(daemon, "writer").values()), "stopped dynos' files are removed"


def test_daily_cycling_under_a_warped_clock(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "python-hello", "cycled")
    assert daemon.cli("ps:scale", "web=2", "-a", "cycled").returncode == 0
    started = wait_for(lambda: all_up(daemon, "cycled", {"web.1", "web.2"}), message="two up")
    for dyno in started.values():  # 24 h + 0-216 min after it came up (stamps in whole seconds)
        cycle = datetime.fromisoformat(dyno["cycle_at"]) - datetime.fromisoformat(dyno["state_since"])
        assert timedelta(hours=24) - timedelta(seconds=1) <= cycle <= timedelta(hours=24, minutes=216, seconds=1)
    before = datetime.fromisoformat(daemon.api("GET", "/clock").json()["now"])

    day = "1d3h36m"  # 24 h + 216 min: every dyno is due exactly once
    assert daemon.cli("clock:warp", day).returncode == 0
    after = datetime.fromisoformat(daemon.api("GET", "/clock").json()["now"])
    assert after - before >= timedelta(hours=27, minutes=36)
    wait_for(lambda: (d := all_up(daemon, "cycled", {"web.1", "web.2"}))
             and all(d[n]["id"] != started[n]["id"] for n in d), message="both cycled back up")
    text = logs(daemon, "cycled")
    for name in ("web.1", "web.2"):
        assert text.count(f"heroku[{name}]: Cycling") == 1
        cycle_at = datetime.fromisoformat(started[name]["cycle_at"])
        line = next(line for line in text.splitlines() if f"heroku[{name}]: Cycling" in line)
        logged = datetime.fromisoformat(line.split(" ", 1)[0])
        assert abs(logged - cycle_at) < timedelta(seconds=2), "each cycle logs at its own simulated time"
        cycle = text[text.index(f"heroku[{name}]: Cycling"):]
        assert cycle.index(f"heroku[{name}]: State changed from up to starting") \
            < cycle.index(f"heroku[{name}]: Stopping all processes with SIGTERM") \
            < cycle.index(f"heroku[{name}]: Process exited with status 143")
    assert daemon.cli("clock:warp", day).returncode == 0
    wait_for(lambda: all(logs(daemon, "cycled").count(f"heroku[{n}]: Cycling") == 2 for n in ("web.1", "web.2")),
             message="a second warp to cycle each dyno a second time")
    clock = daemon.cli("clock")
    assert "Simulated time:" in clock.stdout and "Time scale:     1 simulated seconds per second" in clock.stdout
    fails(daemon, "clock:warp", "soon", expect="'soon' is not a duration")


def test_memory_over_quota_is_r14_then_r15_kills(fast_daemon: Daemon, tmp_path: Path) -> None:
    deploy(fast_daemon, tmp_path, "memory-grower", "leaky")
    wait_for(lambda: states(fast_daemon, "leaky") == {"web.1": "up"}, message="up")
    assert fast_daemon.get("leaky.localhost", "/grow/80").text.startswith("holding 80 MB")
    wait_for(lambda: "Error R14 (Memory quota exceeded)" in logs(fast_daemon, "leaky"), message="R14")
    text = logs(fast_daemon, "leaky", "--dyno", "web.1")
    usage = re.search(r"heroku\[web\.1\]: Process running mem=(\d+)M\((\d+\.\d)%\)\n.*heroku\[web\.1\]: "
                      r"Error R14 \(Memory quota exceeded\)", text)
    assert usage, text
    assert int(usage[1]) > 64 and abs(float(usage[2]) - int(usage[1]) / 64 * 100) < 2
    assert dynos(fast_daemon, "leaky")["web.1"]["memory_mb"] > 64
    assert fast_daemon.get("leaky.localhost").status_code == 200, "R14 leaves the dyno running"

    fast_daemon.get("leaky.localhost", "/grow/80")
    wait_for(lambda: "Error R15" in logs(fast_daemon, "leaky"), message="R15")
    text = logs(fast_daemon, "leaky")
    kill = text[text.index("heroku[web.1]: Error R15 (Memory quota vastly exceeded)"):]
    assert kill.index("heroku[web.1]: Stopping process with SIGKILL") \
        < kill.index("heroku[web.1]: Process exited with status 137") \
        < kill.index("heroku[web.1]: State changed from up to crashed")
    wait_for(lambda: states(fast_daemon, "leaky") == {"web.1": "up"}, message="restarted at once (first crash)")


def test_one_off_dynos(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "python-hello", "oneoff")
    hello = daemon.cli("run", "echo", "hello from", "$DYNO", "-a", "oneoff")
    assert hello.returncode == 0, hello.stderr
    match = re.search(r'Running echo "hello from" \$DYNO on ⬢ oneoff\.\.\. up, (run\.\d{4}) \(Standard-1X\)',
                      hello.stderr)
    assert match, hello.stderr
    assert hello.stdout == f"hello from {match[1]}\n"
    assert daemon.cli("run", "exit 3", "-a", "oneoff").returncode == 3, "the exit status passes through"
    piped = daemon.cli("run", "tr", "a-z", "A-Z", "-a", "oneoff", input="piped input\n")
    assert piped.stdout == "PIPED INPUT\n"
    listing = daemon.cli("run", "ls", "-a", "oneoff")
    assert "app.py" in listing.stdout.split(), "a one-off starts from a copy of the slug"

    detached = daemon.cli("run:detached", "echo", "detached-out", "-a", "oneoff")
    assert detached.returncode == 0, detached.stderr
    name = re.search(r"Running echo detached-out on ⬢ oneoff\.\.\. done, (run\.\d{4}) \(Standard-1X\)",
                     detached.stdout)
    assert name, detached.stdout
    assert f"Run herokusim logs --app oneoff --dyno {name[1]} to view the output." in detached.stdout
    wait_for(lambda: f"heroku[{name[1]}]: State changed from up to complete" in logs(daemon, "oneoff"),
             message="the detached one-off to complete")
    text = logs(daemon, "oneoff", "--dyno", name[1])
    assert f"app[{name[1]}]: detached-out" in text
    assert f"heroku[{name[1]}]: Process exited with status 0" in text
    assert text.count("Starting process with command") == 1, "one-off dynos are never restarted"
    # the API logs who started each one-off, before the dyno's own lines (Heroku's order)
    every = logs(daemon, "oneoff")
    started = every.index("app[api]: Starting process with command `echo detached-out` by user ")
    assert started < every.index(f"heroku[{name[1]}]: Starting process with command `echo detached-out`")
    assert 'app[api]: Starting process with command `echo "hello from" $DYNO` by user ' in every
    assert name[1] not in dynos(daemon, "oneoff")
    fails(daemon, "run", "  ", "-a", "oneoff", expect="Give a command to run")


def test_release_phase_gates_the_release(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("worker-release", tmp_path / "gated")
    assert daemon.cli("apps:create", "gated").returncode == 0
    assert daemon.cli("git:remote", "-a", "gated", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert "remote: Running release command..." in push.stderr
    assert "remote: Migrations done" in push.stderr
    assert "remote: Waiting for release.... done." in push.stderr
    web = wait_for(lambda: all_up(daemon, "gated", {"web.1"}), message="web up after the release phase")
    assert re.search(r"heroku\[release\.\d{4}\]: State changed from up to complete", logs(daemon, "gated"))

    assert daemon.cli("ps:scale", "worker=1", "-a", "gated").returncode == 0
    wait_for(lambda: "app[worker.1]: worker.1 working" in logs(daemon, "gated"), message="the worker to run")
    assert dynos(daemon, "gated")["worker.1"]["state"] == "up", "a worker is up once its process starts"

    setting = daemon.cli("config:set", "RELEASE_FAIL=no-db", "-a", "gated")
    assert setting.returncode == 0, setting.stderr
    wait_for(lambda: "Release v4 command failed" in logs(daemon, "gated"), message="the failed release phase")
    releases = daemon.cli("releases", "-a", "gated").stdout
    assert re.search(r"v4\s+Set RELEASE_FAIL config vars release command failed", releases), releases
    assert daemon.api("GET", "/apps/gated/releases/3").json()["current"]
    assert dynos(daemon, "gated")["web.1"]["id"] == web["web.1"]["id"], "the old release keeps serving"
    assert daemon.get("gated.localhost").status_code == 200

    assert daemon.cli("config:unset", "RELEASE_FAIL", "-a", "gated").returncode == 0
    wait_for(lambda: daemon.api("GET", "/apps/gated/releases/5").json()["current"], message="v5 live")
    wait_for(lambda: (d := all_up(daemon, "gated", {"web.1", "worker.1"})) and d["web.1"]["id"] != web["web.1"]["id"],
             message="the formation restarted on v5")


def test_reconcile_after_the_daemon_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_daemon(home)
    try:
        deploy(first, tmp_path, "python-hello", "survivor")
        assert first.cli("ps:scale", "web=2", "-a", "survivor").returncode == 0
        wait_for(lambda: all_up(first, "survivor", {"web.1", "web.2"}), message="two up")
        orphans = leftover_dynos(first)
        assert orphans
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        assert all(dyno_alive(first, handle) for handle in orphans), "a killed daemon leaves its dynos running"
    finally:
        stop_daemon(first)
    second = start_daemon(home)
    try:
        # the API answers while reconcile still removes them (a container takes longer than a process)
        wait_for(lambda: not any(dyno_alive(second, handle) for handle in orphans),
                 message="the new daemon to stop the old dynos")
        wait_for(lambda: all_up(second, "survivor", {"web.1", "web.2"}), message="the formation back")
        assert second.get("survivor.localhost").status_code == 200
    finally:
        stop_daemon(second)
    assert not leftover_dynos(second), "stopping the daemon stops its dynos"



def test_run_attaches_a_terminal(daemon: Daemon, tmp_path: Path) -> None:
    """On a terminal, `herokusim run` gives the dyno one too: a TTY, keystrokes in, output out."""
    import pty
    import select

    deploy(daemon, tmp_path, "python-hello", "termed")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "herokusim", "run", "bash", "-a", "termed"], env=daemon.env,
                            cwd=tmp_path, stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    seen = b""

    def read_until(marker: bytes) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + 30
        while not re.search(marker, seen) and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    break
        assert re.search(marker, seen), seen
        return seen

    try:
        read_until(rb"(?s)up, run\.\d+.*[#$] $")  # bash's prompt: typing before it may be flushed, as on any terminal
        os.write(controller, b"tty; echo answer-$((6 * 7)); exit 5\r")
        text = read_until(b"answer-42")
        assert re.search(rb"/dev/pts/\d+", text), "the one-off has a terminal"
        assert proc.wait(30) == 5, "the exit status passes through"
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()


def test_the_largest_sizes_with_r15_at_1_2x_their_quota(tmp_path: Path) -> None:
    # standard-1X's quota of 1 MB makes performance-l-RAM's 60 x 512 MB quota 60 MB here
    daemon = start_daemon(tmp_path / "home", **{**FAST, "HEROKUSIM_MEMORY_QUOTA_MB": "1"})
    try:
        deploy(daemon, tmp_path, "python-hello", "roomy")
        scaled = daemon.cli("ps:scale", "web=1:performance-xl", "-a", "roomy")
        assert scaled.returncode == 0, scaled.stderr
        assert "now running web at 1:Performance-XL" in scaled.stdout
        web = wait_for(lambda: (d := all_up(daemon, "roomy", {"web.1"})) and d["web.1"], message="web.1 up")
        assert web["size"] == "performance-XL" and web["memory_quota_mb"] == 124  # 62 GB = 124 x 512 MB
        assert daemon.cli("ps:scale", "web=0", "-a", "roomy").returncode == 0
        for size, quota in (("performance-2xl", 252), ("performance-l-ram", 60)):  # 126 GB, 30 GB
            assert daemon.cli("run:detached", "--size", size, "-a", "roomy", "sleep 30").returncode == 0
            assert quota in [d["memory_quota_mb"] for d in dynos(daemon, "roomy").values()]

        # 90 MB written is 150 % of performance-l-RAM's quota: over its R15 limit (1.2 x), under 2 x
        hog = "python -c 'import time; x = b\"x\" * (90 << 20); time.sleep(60)'"
        detached = daemon.cli("run:detached", "--size", "performance-l-RAM", "-a", "roomy", hog)
        assert detached.returncode == 0, detached.stderr
        name = re.search(r"(run\.\d{4}) \(Performance-L-RAM\)", detached.stdout)
        assert name, detached.stdout
        wait_for(lambda: "Error R15" in logs(daemon, "roomy", "--dyno", name[1]), message="R15")
        text = logs(daemon, "roomy", "--dyno", name[1])
        usage = re.search(rf"heroku\[{re.escape(name[1])}\]: Process running mem=(\d+)M\((\d+\.\d)%\)\n"
                          rf".*heroku\[{re.escape(name[1])}\]: Error R15 \(Memory quota vastly exceeded\)", text)
        assert usage, text
        assert 120 <= float(usage[2]) < 200, "R15 at 1.2 x the quota (the hard limit on Docker), not twice it"
        wait_for(lambda: f"heroku[{name[1]}]: Process exited with status 137" in logs(daemon, "roomy"),
                 message="the one-off killed")
    finally:
        stop_daemon(daemon)


def _stamped(text: str, pattern: str) -> list[tuple[datetime, str]]:
    """The log lines matching `pattern`, each with its timestamp."""
    return [(datetime.fromisoformat(line.split(" ", 1)[0]), line) for line in text.splitlines()
            if re.search(pattern, line)]


def _in_cooloff(daemon: Daemon, tmp_path: Path, app: str) -> None:
    deploy(daemon, tmp_path, "crasher", app, config={"CRASH_AFTER": "1"})
    wait_for(lambda: (d := dynos(daemon, app).get("web.1")) and d["restart_at"], message="web.1 in its cool-off")


def test_a_one_off_cycles_too(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "python-hello", "longrun")
    detached = daemon.cli("run:detached", "-a", "longrun", "sleep 200000")
    assert detached.returncode == 0, detached.stderr
    name = re.search(r"(run\.\d{4}) \(Standard-1X\)", detached.stdout)
    assert name, detached.stdout
    up = wait_for(lambda: (d := dynos(daemon, "longrun").get(name[1])) and d["state"] == "up" and d,
                  message="the one-off up")
    assert daemon.cli("clock:warp", "28h").returncode == 0  # past 24 h + 216 min
    wait_for(lambda: name[1] not in dynos(daemon, "longrun"), message="the one-off cycled away")
    text = logs(daemon, "longrun", "--dyno", name[1])
    ((cycled, _),) = _stamped(text, rf"heroku\[{re.escape(name[1])}\]: Cycling$")
    ran = cycled - datetime.fromisoformat(up["state_since"])
    assert timedelta(hours=24) - timedelta(seconds=1) <= ran <= timedelta(hours=24, minutes=216, seconds=1)
    stop = text[text.index("Cycling"):]
    assert stop.index(f"heroku[{name[1]}]: Stopping all processes with SIGTERM") \
        < stop.index(f"heroku[{name[1]}]: Process exited with status 143") \
        < stop.index(f"heroku[{name[1]}]: State changed from up to complete")
    assert text.count("Starting process") == 1, "a cycled one-off is not started again"


def test_a_crashed_dyno_does_not_cycle(daemon: Daemon, tmp_path: Path) -> None:
    _in_cooloff(daemon, tmp_path, "crashloop")
    before = dynos(daemon, "crashloop")["web.1"]["id"]
    # the cool-off restart falls in the warp; a day later that dyno has long crashed again
    assert daemon.cli("clock:warp", "28h").returncode == 0
    wait_for(lambda: (d := dynos(daemon, "crashloop").get("web.1")) and d["id"] != before and d["restart_at"],
             message="the restarted dyno crashed again")
    text = logs(daemon, "crashloop", "--dyno", "web.1")
    assert "Cycling" not in text, text
    assert not re.search(r"State changed from (\w+) to \1$", text, re.MULTILINE), text
    # each start follows the end of the dyno before it: never two processes at once
    events = re.findall(r"heroku\[web\.1\]: (Starting process|Process exited)", text)
    assert events == ["Starting process", "Process exited"] * (len(events) // 2), events


def test_a_warp_logs_a_cooloff_restart_at_its_own_time(daemon: Daemon, tmp_path: Path) -> None:
    _in_cooloff(daemon, tmp_path, "cooled")
    assert daemon.cli("clock:warp", "5h").returncode == 0
    wait_for(lambda: (d := dynos(daemon, "cooled").get("web.1")) and d["crashes"] >= 3,
             message="the cool-off restart to crash again")
    text = logs(daemon, "cooled", "--dyno", "web.1")
    restarts = _stamped(text, r"heroku\[web\.1\]: State changed from crashed to starting$")
    starts = _stamped(text, r"heroku\[web\.1\]: Starting process")
    restarted, _ = restarts[-1]
    started = next(when for when, line in starts if when >= restarted)
    assert started - restarted < timedelta(minutes=1), "its Starting process line is not at the warp's end"
    assert text.index(restarts[-1][1]) < text.index(next(line for when, line in starts if when == started))
