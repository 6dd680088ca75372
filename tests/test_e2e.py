"""The quick start of the README, end to end: real daemon, real `git push`, real HTTP through the router."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

from conftest import Daemon, checkout_of, free_port, git, wait_for


def body_of(daemon: Daemon, host: str, path: str = "/") -> str:
    response = daemon.get(host, path)
    return response.text.strip() if response.status_code == 200 else f"<{response.status_code}>"


def test_quick_start(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "python-hello")
    sha = git("rev-parse", "HEAD", cwd=repo).stdout.strip()

    created = daemon.cli("apps:create", "demo", cwd=repo)
    assert created.returncode == 0, created.stderr
    assert "Creating ⬢ demo... done" in created.stdout

    remote = daemon.cli("git:remote", "-a", "demo", cwd=repo)
    assert remote.returncode == 0, remote.stderr
    assert git("remote", "get-url", "herokusim", cwd=repo).stdout.strip() == \
        f"http://127.0.0.1:{daemon.git_port}/demo.git"
    assert daemon.token not in (repo / ".git" / "config").read_text(), "the token must not be in .git/config"

    # before the first deploy the router answers H81
    blank = daemon.get("demo.localhost")
    assert blank.status_code == 502

    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert "remote: -----> Building on the Heroku-24 stack" in push.stderr
    assert "remote: -----> Python app detected" in push.stderr
    assert "Procfile declares types -> web" in push.stderr
    assert re.search(r"remote:\s+Released v3", push.stderr)  # v1 and v2 came with the app

    response = wait_for(lambda: daemon.get("demo.localhost").status_code == 200 and daemon.get("demo.localhost"),
                        message="the app to answer through the router")
    assert "Hello from herokusim!" in response.text
    assert "GREETING" not in response.text

    setting = daemon.cli("config:set", "GREETING=hi", "-a", "demo")
    assert setting.returncode == 0, setting.stderr
    assert "Setting GREETING and restarting ⬢ demo... done, v4" in setting.stdout
    wait_for(lambda: "GREETING=hi" in body_of(daemon, "demo.localhost"), message="the dyno to see GREETING")
    assert body_of(daemon, "demo.localhost", "/config/GREETING") == "hi"

    # setting a var to its current value makes no release
    again = daemon.cli("config:set", "GREETING=hi", "-a", "demo")
    assert again.returncode == 0, again.stderr

    releases = daemon.cli("releases", "-a", "demo")
    assert releases.returncode == 0, releases.stderr
    lines = [line for line in releases.stdout.splitlines() if re.match(r"\s*v\d+\s", line)]
    assert [line.split()[0] for line in lines] == ["v4", "v3", "v2", "v1"]
    assert "Set GREETING config vars" in lines[0]
    assert f"Deploy {sha[:8]}" in lines[1]
    assert "Enable Logplex" in lines[2]
    assert "Initial release" in lines[3]

    rollback = daemon.cli("rollback", "v3", "-a", "demo")
    assert rollback.returncode == 0, rollback.stderr
    assert "Rolling back ⬢ demo to v3... done, v5" in rollback.stdout
    assert "Warning: Rollback affects code and config vars; it doesn't add or remove addons." in rollback.stderr
    wait_for(lambda: (b := body_of(daemon, "demo.localhost")).startswith("Hello") and "GREETING" not in b,
             message="the rolled-back dyno (no GREETING) to answer")
    config = daemon.api("GET", "/apps/demo/config-vars").json()
    assert config == {}
    v5 = daemon.api("GET", "/apps/demo/releases/5").json()
    v3 = daemon.api("GET", "/apps/demo/releases/3").json()
    assert v5["description"] == "Rollback to v3" and v5["slug"] == v3["slug"] and v5["current"]

    logs = daemon.cli("logs", "-a", "demo", "-n", "1500")
    assert logs.returncode == 0, logs.stderr
    assert re.search(r"heroku\[router\]: at=info method=GET path=\"/\" host=demo.localhost request_id=\S+ "
                     r"fwd=\"127.0.0.1\" dyno=web.1 connect=\d+ms service=\d+ms status=200 bytes=\d+ "
                     r"protocol=http", logs.stdout)
    assert re.search(r"app\[web\.1\]: ", logs.stdout)
    assert f"app[api]: Deploy {sha[:8]} by user dev@herokusim.local" in logs.stdout
    assert logs.stdout.count("app[api]: Scaled to web@1:Standard-1X by user dev@herokusim.local") == 1, \
        "the first deploy scales web to 1, later releases do not"
    assert "app[api]: Enable Logplex by user dev@herokusim.local" in logs.stdout
    assert "app[api]: Release v2 created by user dev@herokusim.local" in logs.stdout
    assert "heroku[web.1]: State changed from starting to up" in logs.stdout
    assert "heroku[web.1]: Starting process with command `python app.py`" in logs.stdout
    assert "heroku[web.1]: Stopping all processes with SIGTERM" in logs.stdout
    assert "heroku[web.1]: Process exited with status 143" in logs.stdout
    only_router = daemon.cli("logs", "-a", "demo", "--source", "heroku", "--dyno", "router")
    assert only_router.stdout.strip() and all("heroku[router]:" in line for line in only_router.stdout.splitlines())

    scale = daemon.cli("ps:scale", "web=2", "-a", "demo")
    assert scale.returncode == 0, scale.stderr
    assert "now running web at 2:Standard-1X" in scale.stdout

    def both_up() -> str | None:
        out = daemon.cli("ps", "-a", "demo").stdout
        return out if "web.1: up" in out and "web.2: up" in out else None

    ps = wait_for(both_up, message="web.1 and web.2 to be up")
    assert "=== web (Standard-1X): python app.py (2)" in ps
    dynos_seen = {body_of(daemon, "demo.localhost", "/dyno") for _ in range(30)}
    assert dynos_seen == {"web.1", "web.2"}, "the router spreads requests over both dynos"


def test_logs_tail_streams_new_lines(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "app")
    assert daemon.cli("apps:create", "tailed", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "tailed", cwd=repo).returncode == 0
    assert git("push", "herokusim", "main", cwd=repo, env=daemon.env).returncode == 0
    tail = subprocess.Popen([sys.executable, "-m", "herokusim", "logs", "--tail", "-a", "tailed", "-s", "heroku",
                             "-n", "0"], env=daemon.env, stdout=subprocess.PIPE, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in tail.stdout], daemon=True).start()  # type: ignore[union-attr]

        def marker_line() -> str | None:
            daemon.get("tailed.localhost", "/tail-marker")
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                return None
            return line if "/tail-marker" in line else None

        line = wait_for(marker_line, message="a new router line to reach `logs --tail`")
        assert "heroku[router]:" in line and 'path="/tail-marker"' in line and "status=404" in line
    finally:
        tail.terminate()
        tail.wait(10)


def test_failed_build_rejects_push_and_changes_nothing(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "app")
    assert daemon.cli("apps:create", "broken", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "broken", cwd=repo).returncode == 0
    assert git("push", "herokusim", "main", cwd=repo, env=daemon.env).returncode == 0
    (repo / "Procfile").write_text("web: python app.py\nthis line is not a process type\n")
    git("commit", "-qam", "bad Procfile", cwd=repo)
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode != 0
    assert "Procfile line 2" in push.stderr
    assert "[remote rejected] main -> main" in push.stderr
    releases = daemon.api("GET", "/apps/broken/releases").json()
    assert [r["version"] for r in releases] == [1, 2, 3], "a failed build makes no release"
    assert daemon.get("broken.localhost").status_code == 200, "the old release keeps serving"
    builds = daemon.api("GET", "/apps/broken/builds").json()
    assert [b["status"] for b in builds] == ["succeeded", "failed"]

    # a branch other than main is stored, not deployed
    git("checkout", "-qb", "feature", cwd=repo)
    side = git("push", "herokusim", "feature", cwd=repo, env=daemon.env)
    assert side.returncode == 0, side.stderr
    assert "Building on" not in side.stderr
    assert len(daemon.api("GET", "/apps/broken/releases").json()) == 3


def test_app_without_buildpack_is_rejected(daemon: Daemon, tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    (repo / "README.md").write_text("nothing to run\n")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "docs", cwd=repo)
    assert daemon.cli("apps:create", "plain", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "plain", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode != 0
    assert "App not compatible with buildpack" in push.stderr


def test_bad_input_gets_one_line_and_changes_nothing(daemon: Daemon, tmp_path: Path) -> None:
    def fails(*args: str, expect: str, **kwargs: object) -> None:
        result = daemon.cli(*args, **kwargs)  # type: ignore[arg-type]
        assert result.returncode != 0, result.stdout
        assert expect in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr

    fails("apps:create", "Bad_Name", expect="invalid")
    assert daemon.cli("apps:create", "valid-app").returncode == 0
    fails("apps:create", "valid-app", expect="already taken")
    fails("apps:info", "-a", "nope", expect="Couldn't find that app")
    fails("config:set", "FOO", "-a", "valid-app", expect="FOO is invalid")
    fails("config:set", "1FOO=bar", "-a", "valid-app", expect="1FOO")
    fails("ps:scale", "worker=1", "-a", "valid-app", expect="process type")
    fails("rollback", "v99", "-a", "valid-app", expect="Couldn't find that release")
    fails("apps", env={"HEROKUSIM_API_KEY": "wrong"}, expect="Invalid credentials")
    releases = daemon.api("GET", "/apps/valid-app/releases").json()
    assert [r["version"] for r in releases] == [1, 2]
    fails("apps", env={"HEROKUSIM_API_PORT": str(free_port())}, expect="herokusim up")
