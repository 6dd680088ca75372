"""Benchmark (not a test): `git push` start to the first 200 through the router, and the daemon's RSS.

For fixtures/python-hello on the process runtime. Each of the runs pushes to a new app (a first deploy:
build, release, boot), then polls the router until the app answers 200. After the runs, with every app's
web dyno running, the daemon's resident memory (its own process, not the dynos) is read from /proc.

    python3 bench/push_to_200.py [--runs 5]

Writes the figures to bench/results.md (the section between its `push-to-200` markers) with the machine
description.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
BEGIN, END = "<!-- push-to-200:begin -->", "<!-- push-to-200:end -->"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"git {subprocess.run(['git', '--version'], capture_output=True, text=True, check=False).stdout.split()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="herokusim-bench-"))
    ports = {name: free_port() for name in ("router", "api", "git")}
    env = {**os.environ, "HEROKUSIM_HOME": str(work / "home"), "HEROKUSIM_ROUTER_PORT": str(ports["router"]),
           "HEROKUSIM_API_PORT": str(ports["api"]), "HEROKUSIM_GIT_PORT": str(ports["git"]),
           "GIT_TERMINAL_PROMPT": "0", "HEROKUSIM_RUNTIME": "process",  # bench/docker.py measures Docker
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    env.pop("HEROKUSIM_API_KEY", None)
    cli = [sys.executable, "-m", "herokusim"]
    log = open(work / "daemon.log", "w")  # noqa: SIM115 - for the daemon's whole life
    daemon = subprocess.Popen([*cli, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (work / "home" / "token").exists() or run([*cli, "apps"], env).returncode:
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit(f"daemon did not start:\n{(work / 'daemon.log').read_text()}")
            time.sleep(0.2)
        rss_idle = rss_kib(daemon.pid)

        timings = []
        for i in range(args.runs):
            app = f"bench-{i + 1}"
            repo = work / app
            shutil.copytree(ROOT / "fixtures" / "python-hello", repo)
            run(["git", "init", "-q", "-b", "main"], env, repo)
            run(["git", "add", "-A"], env, repo)
            run(["git", "commit", "-q", "-m", "bench"], env, repo)
            run([*cli, "apps:create", app], env, repo)
            run([*cli, "git:remote", "-a", app], env, repo)
            with httpx.Client(base_url=f"http://127.0.0.1:{ports['router']}", headers={"Host": f"{app}.localhost"},
                              timeout=5) as client:
                start = time.perf_counter()
                run(["git", "push", "-q", "herokusim", "main"], env, repo)
                while client.get("/").status_code != 200:
                    time.sleep(0.01)
                timings.append(time.perf_counter() - start)
            print(f"{app}: push to first 200 in {timings[-1]:.2f} s", flush=True)
        time.sleep(1)
        rss_running = rss_kib(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(60)
        shutil.rmtree(work, ignore_errors=True)

    median = statistics.median(timings)
    section = "\n".join([
        BEGIN,
        "## Walking skeleton: push to first 200, daemon RSS",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/push_to_200.py --runs {args.runs}` on {machine()}.",
        "fixtures/python-hello on the process runtime; each run is a first deploy to a new app.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| `git push` start to first 200 through the router, median of {args.runs} | {median:.2f} s | ≤ 3 s |",
        f"| same, slowest / fastest | {max(timings):.2f} s / {min(timings):.2f} s | |",
        f"| daemon RSS, idle after start | {rss_idle / 1024:.0f} MB | |",
        f"| daemon RSS with {args.runs} apps' web dynos running | {rss_running / 1024:.0f} MB | ≤ 120 MB |",
        END,
    ])
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nFigures measured on this project's machines; each script rewrites its own section.\n"
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"median {median:.2f} s; RSS idle {rss_idle / 1024:.0f} MB, running {rss_running / 1024:.0f} MB "
          f"-> {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
