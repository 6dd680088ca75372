"""Process-runtime dynos find their slug at /app, as on Heroku, each its own: where the OS allows it (Linux,
as root, with util-linux's `unshare`) every dyno has a private mount namespace, and the host's / and mount
table stay as they were.

Real daemon on the process runtime (the Docker runtime has its own /app in each container), real dynos, real
HTTP through the router.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="dynos get their own /app only on Linux, as root, with unshare (elsewhere they run in their directory)")


def host_mounts() -> list[str]:
    """The host's mount points (this test runs in the host's mount namespace)."""
    return sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_each_dyno_has_its_own_slug_at_app(daemon: Daemon, tmp_path: Path) -> None:
    root_before, mounts_before = sorted(os.listdir("/")), host_mounts()
    repo = checkout_of("file-writer", tmp_path / "rooted")
    assert daemon.cli("apps:create", "rooted").returncode == 0
    assert daemon.cli("git:remote", "-a", "rooted", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert daemon.cli("ps:scale", "web=2", "-a", "rooted").returncode == 0
    wait_for(lambda: sorted((d["name"], d["state"]) for d in daemon.api("GET", "/apps/rooted/dynos").json())
             == [("web.1", "up"), ("web.2", "up")], message="two web dynos up")

    where = daemon.cli("run", "pwd; echo $HOME; ls /app", "-a", "rooted")
    assert where.returncode == 0, where.stdout + where.stderr
    pwd, home, *listing = where.stdout.split()
    assert (pwd, home) == ("/app", "/app"), "a dyno starts in /app, its HOME"
    assert {"Procfile", "app.py"} <= set(listing), "/app is the slug"

    # a web dyno writes under its /app (file-writer writes to $HOME/uploads) ...
    writer = daemon.get("rooted.localhost", "/write/from-web").text.split()[0]
    # ... a one-off's /app does not have it, and what the one-off writes there no web dyno sees
    one_off = daemon.cli("run", "ls /app/uploads 2>/dev/null; mkdir /app/uploads; touch /app/uploads/from-run; "
                         "ls /app/uploads", "-a", "rooted")
    assert one_off.stdout == "from-run\n", one_off.stdout + one_off.stderr
    listings: dict[str, str] = {}

    def both_listed() -> bool:
        dyno, _, files = daemon.get("rooted.localhost", "/files").text.strip().partition(": ")
        listings[dyno] = files
        return len(listings) == 2

    wait_for(both_listed, message="both web dynos to answer /files")
    other = "web.2" if writer == "web.1" else "web.1"
    assert listings == {writer: "from-web", other: "(none)"}, "each dyno's /app is its own"

    assert sorted(os.listdir("/")) == root_before, "the host's / is unchanged"
    assert host_mounts() == mounts_before, "no dyno's mount shows on the host"
