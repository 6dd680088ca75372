"""Dyno state lines as a user reads them in `logs`: each says a state changed, never to the same state."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon, checkout_of, git, wait_for


def _logs(daemon: Daemon, app: str) -> str:
    result = daemon.cli("logs", "-a", app, "-n", "1500", "--dyno", "web.1")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_restarting_a_starting_dyno_logs_no_change_to_itself(daemon: Daemon, tmp_path: Path) -> None:
    # port-ignorer never binds $PORT: web.1 stays `starting` for the 60 s boot timeout
    repo = checkout_of("port-ignorer", tmp_path / "booting")
    assert daemon.cli("apps:create", "booting").returncode == 0
    assert daemon.cli("git:remote", "-a", "booting", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    wait_for(lambda: "Starting process with command" in _logs(daemon, "booting"), message="web.1 booting")
    restart = daemon.cli("ps:restart", "web.1", "-a", "booting")
    assert restart.returncode == 0, restart.stderr
    text = wait_for(lambda: (t := _logs(daemon, "booting")).count("Starting process with command") == 2 and t,
                    message="the replacement web.1 booting")
    assert "heroku[web.1]: Restarting" in text
    assert "State changed from down to starting" in text, "the first boot's line is still there"
    assert "from starting to starting" not in text, text
    dynos = daemon.api("GET", "/apps/booting/dynos").json()
    assert [(d["name"], d["state"]) for d in dynos] == [("web.1", "starting")]
