"""What the benchmark scripts share: a daemon in a throwaway HEROKUSIM_HOME, deploying a fixture, the
machine description, and writing a script's own section of bench/results.md."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
CLI = [sys.executable, "-m", "herokusim"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure ends the benchmark with its output."""
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.split()[-1]
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, git {git}")


def write_section(name: str, lines: list[str]) -> None:
    """Replace this script's section of bench/results.md (between its markers), leaving the others."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = "\n".join([begin, *lines, end])
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Benchmark results\n\nFigures measured on this project's machines; each script rewrites its own section.\n")
    if begin in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


@dataclass
class Daemon:
    work: Path
    env: dict[str, str]
    router_port: int
    proc: subprocess.Popen[bytes]

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run([*CLI, *args], self.env, cwd or self.work)

    def api(self, method: str, path: str, body: object = None) -> Any:
        token = (self.work / "home" / "token").read_text().strip()
        response = httpx.request(method, f"http://127.0.0.1:{self.env['HEROKUSIM_API_PORT']}{path}", json=body,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=60)
        response.raise_for_status()
        return response.json()

    def router(self, app: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.router_port}", headers={"Host": f"{app}.localhost"},
                            timeout=5)

    def deploy(self, fixture: str, app: str) -> Path:
        """A fresh checkout of a fixture, pushed to a new app."""
        repo = self.checkout(fixture, app)
        self.cli("apps:create", app)
        self.cli("git:remote", "-a", app, cwd=repo)
        run(["git", "push", "-q", "herokusim", "main"], self.env, repo)
        return repo

    def checkout(self, fixture: str, name: str) -> Path:
        repo = self.work / name
        shutil.copytree(ROOT / "fixtures" / fixture, repo)
        run(["git", "init", "-q", "-b", "main"], self.env, repo)
        run(["git", "add", "-A"], self.env, repo)
        run(["git", "commit", "-q", "-m", "bench"], self.env, repo)
        return repo

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(120)
        shutil.rmtree(self.work, ignore_errors=True)


def start_daemon(**settings: str) -> Daemon:
    """`herokusim up` in a throwaway HEROKUSIM_HOME on free loopback ports (process runtime unless told)."""
    work = Path(tempfile.mkdtemp(prefix="herokusim-bench-"))
    ports = {name: free_port() for name in ("router", "api", "git")}
    env = {**os.environ, "HEROKUSIM_HOME": str(work / "home"), "HEROKUSIM_ROUTER_PORT": str(ports["router"]),
           "HEROKUSIM_API_PORT": str(ports["api"]), "HEROKUSIM_GIT_PORT": str(ports["git"]),
           "HEROKUSIM_RUNTIME": "process", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com", **settings}
    env.pop("HEROKUSIM_API_KEY", None)
    log = open(work / "daemon.log", "w")  # noqa: SIM115 - for the daemon's whole life
    proc = subprocess.Popen([*CLI, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    daemon = Daemon(work, env, ports["router"], proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"daemon did not start:\n{(work / 'daemon.log').read_text()}")
        if (work / "home" / "token").exists() and subprocess.run(
                [*CLI, "apps"], env=env, capture_output=True, check=False).returncode == 0:
            return daemon
        time.sleep(0.2)
