"""A client that goes away is normal: `logs --tail` or an attached `run` killed mid-stream leaves no error in
the daemon's output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for


@pytest.fixture
def deployed(tmp_path: Path):  # type: ignore[no-untyped-def]
    daemon = start_daemon(tmp_path / "home")
    try:
        repo = checkout_of("python-hello", tmp_path / "leaver")
        assert daemon.cli("apps:create", "leaver").returncode == 0
        assert daemon.cli("git:remote", "-a", "leaver", cwd=repo).returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        yield daemon
    finally:
        stop_daemon(daemon)


def _one_offs(daemon: Daemon) -> list[str]:
    return [d["name"] for d in daemon.api("GET", "/apps/leaver/dynos").json() if d["name"].startswith("run.")]


def _client(daemon: Daemon, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "herokusim", *args, "-a", "leaver"], env=daemon.env,
                            cwd=daemon.home.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _kill_while_it_streams(client: subprocess.Popen[bytes], first: bytes) -> None:
    """Kill the client once its stream flows, and after it stopped reading: the daemon is mid-write."""
    assert client.stdout is not None
    seen = b""
    while first not in seen:
        chunk = client.stdout.read1(65536)
        assert chunk, seen
        seen += chunk
    client.send_signal(signal.SIGSTOP)
    time.sleep(2)  # the flood fills the socket buffers: the daemon waits to write more
    client.kill()
    client.wait()


def _no_error_logged(daemon: Daemon) -> None:
    output = daemon.output()
    assert "Error handling request" not in output, output
    assert "Traceback" not in output, output


def test_killing_logs_tail_is_no_error(deployed: Daemon) -> None:
    # a flood of 5 kB lines: a stopped client's socket buffers fill in moments
    flood = deployed.cli("run:detached", "yes", "x" * 5000, "-a", "leaver")
    assert flood.returncode == 0, flood.stderr
    (flooder,) = _one_offs(deployed)
    tail = _client(deployed, "logs", "--tail")
    _kill_while_it_streams(tail, b"app[run.")
    time.sleep(2)  # the daemon learns of the reset at its next write, which the flood makes at once
    assert deployed.cli("ps:stop", flooder, "-a", "leaver").returncode == 0
    wait_for(lambda: not _one_offs(deployed), message="the flood stopped")
    _no_error_logged(deployed)


def test_killing_an_attached_run_is_no_error(deployed: Daemon) -> None:
    run = _client(deployed, "run", "yes")
    _kill_while_it_streams(run, b"y\n")
    # the terminal went away: the daemon stops the one-off, and is done with the session
    wait_for(lambda: not _one_offs(deployed), message="the one-off stopped with its terminal")
    _no_error_logged(deployed)
