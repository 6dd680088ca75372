"""Benchmark (not a test): `git push` start to the first 200 through the router, and the daemon's RSS.

For fixtures/python-hello on the process runtime. Each of the runs pushes to a new app (a first deploy:
build, release, boot), then polls the router until the app answers 200. After the runs, with every app's
web dyno running, the daemon's resident memory (its own process, not the dynos) is read from /proc.

    python3 bench/push_to_200.py [--runs 5]

Writes the figures to bench/results.md (its `push-to-200` section) with the machine description.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchlib import machine, start_daemon, write_section


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    daemon = start_daemon()  # the process runtime; bench/docker_runtime.py measures Docker
    try:
        rss_idle = rss_kib(daemon.proc.pid)
        timings = []
        for i in range(args.runs):
            app = f"bench-{i + 1}"
            repo = daemon.checkout("python-hello", app)
            daemon.create_app(app, repo)
            with daemon.router(app) as client:
                start = time.perf_counter()
                daemon.push(repo)
                while client.get("/").status_code != 200:
                    time.sleep(0.01)
                timings.append(time.perf_counter() - start)
            print(f"{app}: push to first 200 in {timings[-1]:.2f} s", flush=True)
        time.sleep(1)
        rss_running = rss_kib(daemon.proc.pid)
    finally:
        daemon.stop()

    median = statistics.median(timings)
    write_section("push-to-200", [
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
    ])
    print(f"median {median:.2f} s; RSS idle {rss_idle / 1024:.0f} MB, running {rss_running / 1024:.0f} MB "
          "-> bench/results.md")


if __name__ == "__main__":
    main()
