"""Conformance: the same dyno behaviour on both runtimes, through a real daemon, `git push` and the router.

Marked `both_runtimes` (tests/conftest.py): each test runs once on the process runtime and once on the
Docker runtime (skipped, with the reason, only where no Docker engine answers), and every daemon it starts
runs on that runtime.
"""

from __future__ import annotations

import os
import re
import signal
import textwrap
import time
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, leftover_dynos, start_daemon, stop_daemon, wait_for

pytestmark = pytest.mark.both_runtimes

# An app with files: /write/NAME creates a file in the dyno's /app, /files lists them with the dyno's name.
FILES_APP = '''
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/write/"):
            name = self.path.removeprefix("/write/")
            with open(os.path.join(os.environ["HOME"], "uploads-" + name), "w") as f:
                f.write(name)
        files = sorted(f for f in os.listdir(os.environ["HOME"]) if f.startswith("uploads-"))
        body = (os.environ.get("DYNO", "") + " " + ",".join(files) + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


port = int(os.environ["PORT"])
print(f"Listening on 0.0.0.0:{port}", flush=True)
ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
'''


def deploy(daemon: Daemon, repo: Path, app: str) -> None:
    assert daemon.cli("apps:create", app, cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", app, cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr


def answers(daemon: Daemon, app: str, path: str = "/") -> str | None:
    response = daemon.get(f"{app}.localhost", path)
    return response.text if response.status_code == 200 else None


def logs(daemon: Daemon, app: str) -> str:
    return daemon.cli("logs", "-a", app, "-n", "1500").stdout


def logs_with(daemon: Daemon, app: str, needle: str, timeout: float = 30) -> str:
    """The app's log once `needle` is in it."""
    return wait_for(lambda: (text if needle in (text := logs(daemon, app)) else None), timeout=timeout,
                    message=f"{needle!r} in the log of {app}")


def files_app(tmp_path: Path) -> Path:
    repo = tmp_path / "files-app"
    repo.mkdir()
    (repo / "app.py").write_text(FILES_APP)
    (repo / "Procfile").write_text("web: python app.py\n")
    (repo / "requirements.txt").write_text("")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "files app", cwd=repo)
    return repo


def test_quick_start_answers_through_the_router_with_boot_lines(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "python-hello")
    deploy(daemon, repo, "demo")
    body = wait_for(lambda: answers(daemon, "demo"), timeout=60, message="the app to answer through the router")
    assert "Hello from herokusim!" in body
    assert answers(daemon, "demo", "/dyno") == "web.1\n"
    if daemon.runtime == "docker":
        assert answers(daemon, "demo", "/config/HOME") == "/app\n", "the slug is at /app in a container"
    out = logs_with(daemon, "demo", "app[web.1]: Listening on")
    assert "heroku[web.1]: State changed from down to starting" in out
    assert "heroku[web.1]: Starting process with command `python app.py`" in out
    assert "heroku[web.1]: State changed from starting to up" in out
    port = answers(daemon, "demo", "/config/PORT")
    assert port and f"app[web.1]: Listening on 0.0.0.0:{port.strip()}" in out
    info = daemon.cli("apps:info", "-a", "demo")
    assert re.search(rf"Runtime:\s+{daemon.runtime}", info.stdout), info.stdout

    # config vars reach a fresh dyno; the new release restarts it
    assert daemon.cli("config:set", "GREETING=hi", "-a", "demo").returncode == 0
    wait_for(lambda: "GREETING=hi" in (answers(daemon, "demo") or ""), timeout=60,
             message="the restarted dyno to see GREETING")


def test_stop_is_sigterm_and_exit_status_143(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, checkout_of("python-hello", tmp_path / "app"), "stopper")
    wait_for(lambda: answers(daemon, "stopper"), timeout=60, message="the app to answer")
    assert daemon.cli("ps:scale", "web=0", "-a", "stopper").returncode == 0
    out = logs_with(daemon, "stopper", "Process exited with status")
    assert "heroku[web.1]: Stopping all processes with SIGTERM" in out
    assert "heroku[web.1]: Process exited with status 143" in out
    wait_for(lambda: not leftover_dynos(daemon), message="the stopped dyno to be removed")


def test_files_are_private_per_dyno_and_gone_after_a_restart(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, files_app(tmp_path), "uploads")
    assert daemon.cli("ps:scale", "web=2", "-a", "uploads").returncode == 0

    def both_up() -> bool:
        return {(answers(daemon, "uploads") or " ").split(" ")[0] for _ in range(20)} == {"web.1", "web.2"}

    wait_for(both_up, timeout=60, message="web.1 and web.2 to answer")
    writer = (answers(daemon, "uploads", "/write/cat.png") or "").split(" ")[0]
    views: dict[str, str] = {}

    def a_view_from_each_dyno() -> bool:
        dyno, files = _view(daemon)
        views[dyno] = files
        return len(views) == 2

    wait_for(a_view_from_each_dyno, timeout=30, message="a view from each dyno")
    assert views[writer] == "uploads-cat.png", views
    other = ({"web.1", "web.2"} - {writer}).pop()
    assert views[other] == "", "a file one dyno wrote is not on another"

    # a restart (a new release) starts every dyno from a fresh slug: the file is gone
    assert daemon.cli("config:set", "RESTART=1", "-a", "uploads").returncode == 0
    wait_for(lambda: all(_view(daemon)[1] == "" for _ in range(10)), timeout=60,
             message="the restarted dynos to answer without the file")
    assert all(_view(daemon)[1] == "" for _ in range(10))


def _view(daemon: Daemon) -> tuple[str, str]:
    text = (answers(daemon, "uploads") or " ").rstrip("\n")
    dyno, _, files = text.partition(" ")
    return dyno, files


def test_reconcile_after_the_daemon_is_killed_leaks_no_dyno(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_daemon(home)
    try:
        deploy(first, checkout_of("python-hello", tmp_path / "app"), "survivor")
        wait_for(lambda: answers(first, "survivor"), timeout=60, message="the app to answer")
        assert len(leftover_dynos(first)) == 1
        os.kill(first.proc.pid, signal.SIGKILL)  # a daemon crash: its dyno outlives it
        first.proc.wait()
        assert len(leftover_dynos(first)) == 1
    finally:
        stop_daemon(first)
    second = start_daemon(home)
    try:
        wait_for(lambda: answers(second, "survivor"), timeout=60, message="the app to answer again")
        wait_for(lambda: len(leftover_dynos(second)) == 1, timeout=30,
                 message="the orphan of the killed daemon to be removed")
        assert second.cli("apps:destroy", "survivor", "--confirm", "survivor").returncode == 0
        wait_for(lambda: not leftover_dynos(second), timeout=30, message="apps:destroy to remove its dyno")
    finally:
        stop_daemon(second)
    assert not leftover_dynos(second), "nothing of this home is left after the daemon stops"
    if second.runtime == "docker":
        import docker

        networks = docker.from_env().networks.list(filters={"label": f"herokusim.home={home.resolve()}"})
        # the add-ons network stays, so add-on servers keep the address they listen on from start to start
        assert [n.attrs["Labels"]["herokusim.role"] for n in networks] == ["addons"], \
            "the apps' networks go with the daemon"


def test_a_slug_that_does_not_run_in_the_stack_crashes_with_the_real_error(daemon: Daemon,
                                                                          tmp_path: Path) -> None:
    repo = tmp_path / "wrong-stack"
    repo.mkdir()
    # built by the Python buildpack, but the command needs an interpreter the stack does not have
    (repo / "requirements.txt").write_text("")
    (repo / "Procfile").write_text("web: herokusim-missing-interpreter server.rb\n")
    (repo / "server.rb").write_text(textwrap.dedent("""\
        puts "never runs"
    """))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "wrong stack", cwd=repo)
    deploy(daemon, repo, "wrong-stack")
    out = logs_with(daemon, "wrong-stack", "to crashed", timeout=60)
    assert re.search(r"app\[web\.1\]: bash: line \d+: herokusim-missing-interpreter: command not found", out)
    assert "heroku[web.1]: Process exited with status 127" in out
    assert re.search(r"heroku\[web\.1\]: State changed from \w+ to crashed", out)
    # the router learns of the crash from the dyno manager, a moment after the log line
    wait_for(lambda: daemon.get("wrong-stack.localhost").status_code == 503, message="the router's 503")
    assert 'code=H10 desc="App crashed"' in logs_with(daemon, "wrong-stack", "code=H10")


def test_a_web_dyno_that_never_binds_port_gets_r10(runtime: str, tmp_path: Path) -> None:
    # On Docker the published port accepts as soon as the container starts (the proxy does), so this
    # passes there only because dynos/ asks the backend whether the dyno listens (RunningDyno.listening()).
    daemon = start_daemon(tmp_path / "home", HEROKUSIM_BOOT_TIMEOUT="3")
    try:
        repo = tmp_path / "no-bind"
        repo.mkdir()
        (repo / "requirements.txt").write_text("")
        (repo / "Procfile").write_text("web: python -c 'import time; print(\"ignoring PORT\", flush=True); "
                                       "time.sleep(600)'\n")
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "no bind", cwd=repo)
        deploy(daemon, repo, "no-bind")
        out = logs_with(daemon, "no-bind", "to crashed", timeout=60)
        assert "heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 3 seconds " \
               "of launch" in out
        assert "heroku[web.1]: Stopping process with SIGKILL" in out
        assert "heroku[web.1]: Process exited with status 137" in out
        assert "heroku[web.1]: State changed from starting to crashed" in out
    finally:
        stop_daemon(daemon)


def test_listening_is_true_only_once_the_dyno_binds_its_port(runtime: str, tmp_path: Path,
                                                            request: pytest.FixtureRequest) -> None:
    """The backend's answer to `is the web dyno up?`, asked of both backends directly."""
    import asyncio
    import io
    import tarfile

    from conftest import free_port

    from herokusim.dynos.runtime import DynoSpec
    from herokusim.dynos.runtime.process import ProcessRuntime

    slug = tmp_path / "slug.tar.gz"
    with tarfile.open(slug, "w:gz") as tar:
        info = tarfile.TarInfo("Procfile")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"web:"))
    if runtime == "docker":
        import docker

        from herokusim.dynos.runtime.docker import DockerRuntime
        from herokusim.stack import StackImage

        client = docker.from_env()
        backend: object = DockerRuntime(client, StackImage.built(client, request.getfixturevalue("docker_stack")),
                                        tmp_path / "home")
    else:
        backend = ProcessRuntime(tmp_path / "dynos")
    port = free_port()
    spec = DynoSpec("d-listen", "a-listen", "listen", "web.1", "sleep 2; exec python3 -m http.server $PORT",
                    {"PORT": str(port), "DYNO": "web.1"}, slug, port)

    async def main() -> None:
        dyno = await backend.start(spec)  # type: ignore[attr-defined]
        try:
            assert not await dyno.listening()
            deadline = time.monotonic() + 30
            while not await dyno.listening():
                assert time.monotonic() < deadline, "never listening"
                await asyncio.sleep(0.1)
        finally:
            dyno.kill()
            await dyno.wait()
            await dyno.cleanup()

    try:
        asyncio.run(main())
    finally:
        if runtime == "docker":  # its app network, and the add-ons network a dyno start makes
            from conftest import remove_docker_leftovers

            remove_docker_leftovers(tmp_path / "home")
