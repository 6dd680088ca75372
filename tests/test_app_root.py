"""Process-runtime dynos find their slug at /app, as on Heroku, each its own: where the OS allows it (Linux
with util-linux's `unshare`, as root or with unprivileged user namespaces) every dyno has a private mount
namespace, and the host's / and mount table stay as they were.

Real daemon on the process runtime (the Docker runtime has its own /app in each container), real dynos, real
HTTP through the router.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, leftover_dynos, wait_for

from herokusim.dynos.runtime.process import app_root_argv, app_root_works

pytestmark = pytest.mark.skipif(not app_root_works(), reason="this machine lets no process dyno have its own "
                                "mount namespace (elsewhere than Linux, or user namespaces refused)")


def dyno_mounts(home: Path) -> list[str]:
    """The mounts of this test's dynos that the host sees (this test runs in the host's mount namespace): a
    dyno's / (the tmpfs named herokusim-dyno), anything at /app or under the daemon's home."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, fs = line.partition(" - ")
        point, source = fields.split()[4], fs.split()[1]
        if source == "herokusim-dyno" or point == "/app" or point.startswith(f"{home.resolve()}/"):
            found.append(line)
    return found


def test_each_dyno_has_its_own_slug_at_app(daemon: Daemon, tmp_path: Path) -> None:
    root_before = sorted(os.listdir("/"))
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
    assert dyno_mounts(daemon.home) == [], "no dyno's mount shows on the host"

    # stopped, a dyno leaves nothing: no process (a mount namespace lives only as long as one), no directory
    assert daemon.cli("ps:scale", "web=0", "-a", "rooted").returncode == 0
    wait_for(lambda: daemon.api("GET", "/apps/rooted/dynos").json() == [], message="the dynos stopped")
    wait_for(lambda: leftover_dynos(daemon) == [], message="no dyno process left")
    wait_for(lambda: list((daemon.home / "dynos").iterdir()) == [], message="the dynos' directories removed")
    assert dyno_mounts(daemon.home) == [] and sorted(os.listdir("/")) == root_before


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to act as another user (setpriv)")
def test_a_daemon_that_is_not_root_gives_dynos_app_too() -> None:
    """Not root, the namespace is an unprivileged user namespace: the dyno's processes still run as the
    daemon's own user, and see their slug at /app. (A real dyno would be started by the daemon; here the
    same command line runs as `nobody`, in a directory of its own: pytest's tmp_path is root's alone.)"""
    nobody = 65534
    home = Path(tempfile.mkdtemp(prefix="herokusim-nobody-"))
    try:
        root, app = home / "dyno" / "root", home / "dyno" / "app"
        root.mkdir(parents=True)
        app.mkdir()
        (app / "Procfile").write_text("web: python app.py\n")
        for path in (home, home / "dyno", root, app, app / "Procfile"):
            os.chown(path, nobody, nobody)
        as_nobody = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]
        # asked on its own, not read from the dyno's errors: an `unshare` the setup gets wrong must fail here
        allowed = subprocess.run([*as_nobody, "unshare", "--user", "--map-root-user", "--mount", "true"],
                                 capture_output=True, text=True, timeout=60, check=False)
        if allowed.returncode != 0:
            pytest.skip(f"unprivileged user namespaces are refused here: {allowed.stderr.strip()}")
        command = ["bash", "-c", "id -u; pwd; ls /app; touch /app/written"]
        ran = subprocess.run([*as_nobody, *app_root_argv(root, app, command, nobody, nobody)],
                             cwd=app, capture_output=True, text=True, timeout=60, check=False)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == [str(nobody), "/app", "Procfile"]
        assert (app / "written").stat().st_uid == nobody, "what the dyno writes is the daemon user's"
    finally:
        shutil.rmtree(home)
