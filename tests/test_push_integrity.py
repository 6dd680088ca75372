"""A push's ref, build and release agree: under concurrent pushes, and after the daemon is killed mid-push.

Real daemons, real `git push`, real HTTP through the router.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import HOME_LABEL, Daemon, git, start_daemon, stop_daemon, wait_for

# A web app that answers with the text of version.txt; standard library only, so builds need no network.
APP_PY = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = open("version.txt", "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""
MOVED = re.compile(r"remote:  !     main was updated by another push while yours waited \(now [0-9a-f]{7}\); "
                   r"fetch and push again")


def make_app(path: Path, version: str, procfile: str = "web: python app.py\n") -> Path:
    path.mkdir(parents=True)
    (path / "app.py").write_text(APP_PY)
    (path / "requirements.txt").write_text("# standard library only\n")
    (path / "Procfile").write_text(procfile)
    (path / "version.txt").write_text(version)
    git("init", "-q", "-b", "main", cwd=path)
    commit(path, version)
    return path


def commit(path: Path, version: str) -> str:
    (path / "version.txt").write_text(version)
    git("add", "-A", cwd=path)
    result = git("commit", "-q", "-m", version, cwd=path)
    assert result.returncode == 0, result.stderr
    return git("rev-parse", "HEAD", cwd=path).stdout.strip()


def push_argv(daemon: Daemon, *args: str) -> list[str]:
    helper = f"!f() {{ echo username=x; echo password={daemon.token}; }}; f"
    return ["git", "-c", "credential.helper=", "-c", f"credential.helper={helper}", "push", *args,
            f"http://127.0.0.1:{daemon.git_port}/demo.git", "main"]


def push(daemon: Daemon, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(push_argv(daemon, *args), cwd=repo, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})


def repo_main(daemon: Daemon) -> str | None:
    repo = daemon.home / "repos" / "demo.git"
    result = git("--git-dir", str(repo), "rev-parse", "--verify", "-q", "refs/heads/main", cwd=daemon.home)
    return result.stdout.strip() or None


def deploys(daemon: Daemon) -> list[dict]:
    """The app's releases with a slug, oldest first, each with its slug's commit."""
    releases = daemon.api("GET", "/apps/demo/releases").json()
    found = []
    for release in sorted(releases, key=lambda r: r["version"]):
        if release["slug"]:
            slug = daemon.api("GET", f"/apps/demo/slugs/{release['slug']['id']}").json()
            found.append({**release, "commit": slug["commit"]})
    return found


def current_commit(daemon: Daemon) -> str | None:
    current = [r for r in deploys(daemon) if r["current"]]
    return current[0]["commit"] if current else None


def builds(daemon: Daemon) -> list[dict]:
    return daemon.api("GET", "/apps/demo/builds").json()


def assert_agree(daemon: Daemon) -> None:
    succeeded = [b for b in builds(daemon) if b["status"] == "succeeded"]
    assert succeeded, "no build succeeded"
    assert repo_main(daemon) == current_commit(daemon) == succeeded[-1]["source_blob"]["version"]


def serves(daemon: Daemon, text: str) -> None:
    wait_for(lambda: (r := daemon.get("demo.localhost")).status_code == 200 and r.text == text,
             timeout=60, message=f"the app to answer {text!r}")


def test_concurrent_force_pushes_leave_ref_build_and_release_in_agreement(daemon: Daemon, tmp_path: Path):
    assert daemon.cli("apps:create", "demo").returncode == 0
    base = make_app(tmp_path / "base", "v0")
    assert push(daemon, base).returncode == 0
    clones = []
    for i in range(5):
        clone = tmp_path / f"clone{i}"
        shutil.copytree(base, clone)
        commit(clone, f"from clone {i}")
        clones.append(clone)

    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def run(i: int) -> None:
        results[i] = push(daemon, clones[i], "-f")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(5)), "a push thread died without a result (see its exception above)"

    released: dict[int, str] = {}
    for i, result in results.items():
        if result.returncode == 0:
            match = re.search(r"remote:\s+Released v(\d+)", result.stderr)
            assert match, result.stderr
            released[int(match[1])] = git("rev-parse", "HEAD", cwd=clones[i]).stdout.strip()
        else:
            assert MOVED.search(result.stderr), result.stderr
            assert "Released v" not in result.stderr
            assert "! [remote rejected] main -> main" in result.stderr
    assert released, "no push went through"
    # Each push that said `Released vN` released its own commit as vN, and main followed them in order.
    assert {r["version"]: r["commit"] for r in deploys(daemon) if r["version"] in released} == released
    assert repo_main(daemon) == released[max(released)]
    assert_agree(daemon)
    # A refused push built nothing.
    assert len(builds(daemon)) == 1 + len(released)


def leftovers(daemon: Daemon) -> list[str]:
    """Files a build left behind: anything under builds/, slug files no release of the app uses."""
    left = [str(p) for p in (daemon.home / "builds").iterdir()]
    app_id = daemon.api("GET", "/apps/demo").json()["id"]
    used = {f"{r['slug']['id']}.tar.gz" for r in daemon.api("GET", "/apps/demo/releases").json() if r["slug"]}
    left += [str(p) for p in (daemon.home / "slugs" / app_id).iterdir() if p.name not in used]
    return left


def build_containers(daemon: Daemon) -> list[str]:
    """Build containers of this daemon's home (Docker runtime): one a killed build left would be here."""
    if daemon.runtime != "docker":
        return []
    import docker

    return [c.id for c in docker.from_env().containers.list(all=True, filters={"label": [
        f"{HOME_LABEL}={daemon.home.resolve()}", "herokusim.role=build"]})]


# (what the pushing client has printed when the daemon is killed, the Procfile of the killed push)
KILL_POINTS = {
    "compile": ("-----> Python app detected", "web: python app.py\n"),
    "compress": ("-----> Compressing...", "web: python app.py\n"),
    "release-phase": ("Running release command...", "web: python app.py\nrelease: sleep 600\n"),
}


@pytest.mark.both_runtimes
@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_during_a_push(tmp_path: Path, point: str):
    seen, procfile = KILL_POINTS[point]
    home = tmp_path / "home"
    scratch = tmp_path / "tmp"  # the daemon's TMPDIR: a build must leave nothing there either
    scratch.mkdir()
    daemon = start_daemon(home, TMPDIR=str(scratch))
    try:
        assert daemon.cli("apps:create", "demo").returncode == 0
        repo = make_app(tmp_path / "app", "one")
        first = push(daemon, repo)
        assert first.returncode == 0, first.stderr
        serves(daemon, "one")
        # Incompressible files, so that compressing the slug takes a while and leaves a partial slug.
        for i in range(4):
            (repo / f"blob{i}.bin").write_bytes(os.urandom(8 * 2**20))
        (repo / "Procfile").write_text(procfile)
        commit(repo, "two")

        client = subprocess.Popen(push_argv(daemon), cwd=repo, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        assert client.stderr is not None
        printed = []
        for line in client.stderr:
            printed.append(line)
            if seen in line:
                daemon.proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail("the push ended before the kill point:\n" + "".join(printed))
        daemon.proc.wait()
        # The client notices the cut reply: it fails, it does not wait for good.
        try:
            client.wait(timeout=60)
        except subprocess.TimeoutExpired:
            client.kill()
            pytest.fail("git push still waits a minute after the daemon was killed")
        client.stderr.read()
        assert client.returncode != 0
    finally:
        stop_daemon(daemon)

    daemon = start_daemon(home, TMPDIR=str(scratch))
    try:
        interrupted = builds(daemon)[-1]
        assert interrupted["status"] == "failed"
        output = daemon.api("GET", f"/apps/demo/builds/{interrupted['id']}/result").text
        assert "The herokusim daemon stopped during this build" in output
        assert leftovers(daemon) == []
        assert list(scratch.iterdir()) == []
        wait_for(lambda: build_containers(daemon) == [], message="the killed build's container to go")
        assert_agree(daemon)
        serves(daemon, "one")

        (repo / "Procfile").write_text("web: python app.py\n")
        commit(repo, "three")
        again = push(daemon, repo)
        assert again.returncode == 0, again.stderr
        assert re.search(r"remote:\s+Released v\d+", again.stderr)
        serves(daemon, "three")
        assert_agree(daemon)
        assert leftovers(daemon) == []
    finally:
        stop_daemon(daemon)


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_a_large_push_streams_to_disk_instead_of_growing_the_daemon(daemon: Daemon, tmp_path: Path):
    assert daemon.cli("apps:create", "demo").returncode == 0
    repo = make_app(tmp_path / "app", "big")
    size = 96 * 2**20
    # One incompressible object: the case where holding objects whole costs the most.
    (repo / "blob.bin").write_bytes(os.urandom(size))
    commit(repo, "big")
    before = peak_rss_kb(daemon.proc.pid)
    result = push(daemon, repo)
    assert result.returncode == 0, result.stderr
    serves(daemon, "big")
    growth = (peak_rss_kb(daemon.proc.pid) - before) * 1024
    assert growth < size / 4, f"the daemon's peak RSS grew by {growth / 2**20:.0f} MB for a 96 MB push"


@pytest.mark.parametrize("point", ["compile", "release-phase"])
def test_apps_destroy_during_a_push_rejects_it_clearly(daemon: Daemon, tmp_path: Path, point: str):
    """apps:destroy does not wait for a build of the app (it would hold the app's lock for minutes): the push
    fails with a line that says why, not an internal error, and leaves nothing of the app behind."""
    seen, procfile = KILL_POINTS[point]
    assert daemon.cli("apps:create", "demo").returncode == 0
    app_id = daemon.api("GET", "/apps/demo").json()["id"]
    repo = make_app(tmp_path / "app", "one", procfile=procfile)
    for i in range(4):  # incompressible files: the build is still at work when the destroy lands
        (repo / f"blob{i}.bin").write_bytes(os.urandom(8 * 2**20))
    commit(repo, "two")
    client = subprocess.Popen(push_argv(daemon), cwd=repo, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    assert client.stderr is not None
    printed = []
    for line in client.stderr:
        printed.append(line)
        if seen in line:
            destroyed = daemon.cli("apps:destroy", "demo", "--confirm", "demo")
            assert destroyed.returncode == 0, destroyed.stderr
            break
    printed += client.stderr.readlines()
    assert client.wait(timeout=120) != 0
    output = "".join(printed)
    assert "remote:  !     demo was destroyed during this push" in output, output
    assert "Internal error" not in output
    assert "Traceback" not in daemon.output()
    left = [p for p in daemon.home.rglob("*") if app_id in p.name or p.name == "demo.git"]
    assert left == [] and list((daemon.home / "builds").iterdir()) == []
