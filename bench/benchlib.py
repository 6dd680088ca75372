"""What the benchmark scripts share: a daemon in a throwaway HEROKUSIM_HOME, deploying a fixture, waiting
with a deadline, the machine description, and writing a script's own section of bench/results.md.

Importing this module puts the checkout it is in first on sys.path, so a script measures the herokusim
beside it rather than whichever one is installed (every script imports benchlib before herokusim).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
CLI = [sys.executable, "-m", "herokusim"]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], object], timeout: float = 120, poll: float = 0.02,
               what: str = "the condition") -> float:  # fmt: skip
    """Poll until `condition()` is true; returns the seconds it took. Past `timeout` the benchmark ends."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            sys.exit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)
    return time.perf_counter() - start


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure ends the benchmark with its output."""
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def machine(extra: str = "") -> str:
    """The machine in one line: cores, CPU, RAM, OS, Python, git (and `extra`, e.g. the Docker engine)."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.split()[-1]
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, {extra + ', ' if extra else ''}"
            f"Python {platform.python_version()}, git {git}")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def read_section(name: str) -> str:
    """This script's section of bench/results.md as the last run wrote it ("" if none)."""
    begin, end = _markers(name)
    text = RESULTS.read_text() if RESULTS.exists() else ""
    return text[text.index(begin) + len(begin):text.index(end)] if begin in text and end in text else ""


def write_section(name: str, lines: list[str]) -> None:
    """Replace this script's section of bench/results.md (between its markers), leaving the others."""
    begin, end = _markers(name)
    section = "\n".join([begin, *lines, end])
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Benchmark results\n\nFigures measured on this project's machines; each script rewrites its own section.\n")
    if begin in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def commit_all(repo: Path, env: dict[str, str]) -> None:
    """`git init` (if need be), add everything and commit, as a user's first commit."""
    if not (repo / ".git").exists():
        run(["git", "init", "-q", "-b", "main"], env, repo)
    run(["git", "add", "-A"], env, repo)
    run(["git", "commit", "-q", "-m", "bench"], env, repo)


@dataclass
class Daemon:
    work: Path
    env: dict[str, str]
    router_port: int
    proc: subprocess.Popen[bytes]

    @property
    def token(self) -> str:
        return (self.work / "home" / "token").read_text().strip()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HEROKUSIM_API_PORT']}"

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run([*CLI, *args], self.env, cwd or self.work)

    def api(self, method: str, path: str, body: object = None) -> Any:
        response = httpx.request(method, f"{self.api_url}{path}", json=body,
                                 headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        response.raise_for_status()
        return response.json()

    def router(self, app: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.router_port}", headers={"Host": f"{app}.localhost"},
                            timeout=5)

    def answers(self, app: str, path: str = "/") -> str | None:
        """The body of a 200 from the app through the router; None for anything else or no answer yet."""
        try:
            response = httpx.get(f"http://127.0.0.1:{self.router_port}{path}", headers={"Host": f"{app}.localhost"},
                                 timeout=5)
        except httpx.TransportError:
            return None
        return response.text if response.status_code == 200 else None

    def deploy(self, fixture: str, app: str) -> Path:
        """A fresh checkout of a fixture, pushed to a new app."""
        repo = self.checkout(fixture, app)
        self.create_app(app, repo)
        self.push(repo)
        return repo

    def checkout(self, fixture: str, name: str) -> Path:
        """A copy of fixtures/<fixture>, committed as a new git repository."""
        repo = self.work / name
        shutil.copytree(ROOT / "fixtures" / fixture, repo)
        commit_all(repo, self.env)
        return repo

    def create_app(self, app: str, repo: Path) -> None:
        """`apps:create` and the `herokusim` git remote in `repo`."""
        self.cli("apps:create", app)
        self.cli("git:remote", "-a", app, cwd=repo)

    def push(self, repo: Path) -> None:
        run(["git", "push", "-q", "herokusim", "main"], self.env, repo)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.work, ignore_errors=True)


def start_daemon(timeout: float = 60, **settings: str) -> Daemon:
    """`herokusim up` in a throwaway HEROKUSIM_HOME on free loopback ports; `settings` are more environment
    variables (the process runtime unless HEROKUSIM_RUNTIME says otherwise)."""
    work = Path(tempfile.mkdtemp(prefix="herokusim-bench-"))
    ports = {name: free_port() for name in ("router", "api", "git")}
    env = {**os.environ, "HEROKUSIM_HOME": str(work / "home"), "HEROKUSIM_ROUTER_PORT": str(ports["router"]),
           "HEROKUSIM_API_PORT": str(ports["api"]), "HEROKUSIM_GIT_PORT": str(ports["git"]),
           "HEROKUSIM_RUNTIME": "process", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           # the daemon (`python -m herokusim`) runs this checkout's code too
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **settings}
    env.pop("HEROKUSIM_API_KEY", None)
    log = open(work / "daemon.log", "w")  # noqa: SIM115 - for the daemon's whole life
    proc = subprocess.Popen([*CLI, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    daemon = Daemon(work, env, ports["router"], proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"daemon did not start:\n{(work / 'daemon.log').read_text()}")
        if (work / "home" / "token").exists() and subprocess.run(
                [*CLI, "apps"], env=env, capture_output=True, check=False).returncode == 0:
            return daemon
        time.sleep(0.2)
