"""`herokusim local`: the Procfile's processes on this machine, without the daemon, as `heroku local` runs them —
driven as a user runs it, from an app's directory, and watched through its output and the ports it serves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port, wait_for

WEB = """\
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ['GREETING']}|{os.environ['QUOTED']}|{os.environ['PORT']}|VERSION".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
print("web listening on", os.environ["PORT"], flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""
WORKER = """\
import os, sys, time
print("worker PORT", os.environ["PORT"], "greeting", os.environ["GREETING"], flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
print("worker done", flush=True)
raise SystemExit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""
LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>[\w.]+) +\| (?P<text>.*)$")


class Local:
    """A running `herokusim local`, its output collected line by line."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "herokusim", "local", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, name: str, text: str) -> list[str]:
        return [m["text"] for line in self.lines if (m := LINE.match(line)) and m["name"] == name
                and text in m["text"]]

    def wait_said(self, name: str, text: str, count: int = 1, timeout: float = 30) -> None:
        wait_for(lambda: len(self.said(name, text)) >= count, timeout=timeout,
                 message=f"{name} to say {text!r} {count}x; output:\n" + "\n".join(self.lines))

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def started_pids(local: Local) -> dict[str, int]:
    return {m["p"]: int(m["pid"]) for text in local.said("system", "started with pid")
            if (m := re.match(r"(?P<p>[\w.]+) started with pid (?P<pid>\d+)", text))}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "web.py").write_text(WEB)
    (root / "worker.py").write_text(WORKER)
    (root / "Procfile").write_text(f"web: {sys.executable} web.py\nworker: {sys.executable} worker.py\n"
                                   "release: echo the release phase must not run locally\n")
    (root / ".env").write_text('# settings for local runs\nexport GREETING=hello\nQUOTED="two words" # note\n')
    return root


@pytest.fixture
def base_port() -> int:
    return free_port()


@pytest.fixture
def running() -> Iterator[list[Local]]:
    started: list[Local] = []
    yield started
    for local in started:
        local.stop()


def test_runs_web_and_worker_with_env_and_ports_and_stops_all_on_sigint(app: Path, base_port: int,
                                                                       running: list[Local]) -> None:
    local = Local(app, "-p", str(base_port))
    running.append(local)
    local.wait_said("web.1", "web listening on")
    local.wait_said("worker.1", "worker PORT")
    # the .env values reach both processes; web gets the base port, the next type +100, as node-foreman
    assert local.said("worker.1", "worker PORT")[0] == f"worker PORT {base_port + 100} greeting hello"
    answer = httpx.get(f"http://127.0.0.1:{base_port}/", timeout=10)
    assert answer.text == f"hello|two words|{base_port}|VERSION"
    # prefixed as heroku local prints, padded to the longest name; the release type is not run
    assert any(re.match(r"^\d\d:\d\d:\d\d web\.1    \| web listening on", line) for line in local.lines)
    assert not local.said("release.1", "") and "release" not in " ".join(local.said("system", "started"))
    pids = started_pids(local)
    assert set(pids) == {"web.1", "worker.1"} and all(pid_alive(p) for p in pids.values())

    local.proc.send_signal(signal.SIGINT)
    assert local.wait() == 0
    assert local.said("system", "SIGINT received")
    assert not any(pid_alive(p) for p in pids.values()), "every process stopped with herokusim local"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{base_port}/", timeout=5)


def test_one_process_exiting_stops_the_rest_with_its_status(app: Path, base_port: int,
                                                            running: list[Local]) -> None:
    (app / "Procfile").write_text(f"web: {sys.executable} web.py\nworker: {sys.executable} worker.py 1 3\n")
    local = Local(app, "-p", str(base_port))
    running.append(local)
    assert local.wait(60) == 3, "\n".join(local.lines)
    assert local.said("worker.1", "worker done")
    assert local.said("system", "worker.1 exited with code 3")
    assert local.said("system", "sending SIGTERM to web.1")
    web_pid = started_pids(local)["web.1"]
    assert not pid_alive(web_pid)


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(app: Path, base_port: int,
                                                              running: list[Local]) -> None:
    (app / "Procfile").write_text("stubborn: trap '' TERM; echo ready; while :; do sleep 0.1; done\n")
    local = Local(app, "-t", "1", "-p", str(base_port))
    running.append(local)
    local.wait_said("stubborn.1", "ready")
    started = time.monotonic()
    local.proc.send_signal(signal.SIGTERM)
    assert local.wait() == 0
    assert time.monotonic() - started < 10
    assert local.said("system", "sending SIGKILL to stubborn.1")
    assert not pid_alive(started_pids(local)["stubborn.1"])


def test_a_subset_another_procfile_and_env_file(app: Path, base_port: int, running: list[Local]) -> None:
    (app / "Procfile.dev").write_text(f"worker: {sys.executable} worker.py\nweb: {sys.executable} web.py\n")
    (app / ".env.test").write_text(f"GREETING='from env.test'\nPORT={base_port}\n")
    local = Local(app, "-f", "Procfile.dev", "-e", ".env.test", "worker=2")
    running.append(local)
    local.wait_said("worker.1", "worker PORT")
    local.wait_said("worker.2", "worker PORT")
    local.proc.send_signal(signal.SIGINT)
    assert local.wait() == 0
    said = sorted(local.said("worker.1", "worker PORT") + local.said("worker.2", "worker PORT"))
    # PORT from the env file is the base; a second instance of a type gets +1
    assert said == [f"worker PORT {port} greeting from env.test" for port in (base_port, base_port + 1)]
    assert not local.said("web.1", "")


@pytest.mark.parametrize(("files", "args", "error"), [
    ({}, [], "no Procfile at"),
    ({"Procfile": "web: true\n"}, ["worker"], "no 'worker' process type in the Procfile (it has web)"),
    ({"Procfile": "web: true\n", ".env": "GOOD=1\nthis is not an assignment\n"}, [],
     ".env line 2 is not KEY=value: 'this is not an assignment'"),
    ({"Procfile": "web: true\n"}, ["-e", ".env.nope"], ".env.nope not found"),
    ({"Procfile": "just words\n"}, [], 'Procfile line 1 is not "type: command"'),
])
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, files: dict[str, str], args: list[str],
                                          error: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "herokusim", "local", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert error in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_watch_restarts_processes_when_a_file_changes(app: Path, base_port: int, running: list[Local]) -> None:
    (app / "node_modules").mkdir()
    (app / ".git").mkdir()
    local = Local(app, "--watch", "-p", str(base_port), "web")
    running.append(local)
    local.wait_said("web.1", "web listening on")
    assert httpx.get(f"http://127.0.0.1:{base_port}/", timeout=10).text.endswith("|VERSION")
    first = started_pids(local)["web.1"]

    (app / "node_modules" / "dep.js").write_text("ignored\n")
    (app / ".git" / "index").write_text("ignored\n")
    (app / "web.py").write_text(WEB.replace("VERSION", "CHANGED"))

    def serves_new_code() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{base_port}/", timeout=5).text.endswith("|CHANGED")
        except httpx.TransportError:
            return False

    wait_for(serves_new_code, timeout=30, message="the restarted web to serve the changed file")
    restarts = local.said("system", "change detected in")
    assert restarts and "web.py" in restarts[0]
    assert not any("node_modules" in r or ".git" in r for r in restarts), restarts
    assert not pid_alive(first), "the old web process was stopped"

    # a crash stops everything and waits for a fix; the fix starts it again
    (app / "web.py").write_text("raise SystemExit(5)\n")
    local.wait_said("system", "web.1 exited with code 5")
    local.wait_said("system", "waiting for a file to change")
    (app / "web.py").write_text(WEB.replace("VERSION", "FIXED"))
    wait_for(lambda: serves_fixed(base_port), timeout=30, message="the fixed web to serve")
    local.proc.send_signal(signal.SIGINT)
    assert local.wait() == 0


def serves_fixed(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text.endswith("|FIXED")
    except httpx.TransportError:
        return False
