"""Benchmark (not a test): the dyno manager on the process runtime.

    python3 bench/dynos.py [--runs 3] [--starts 10]

1. `ps:scale web=20` until all 20 are `up` (from 0, median of --runs).
2. A warp of 24 h + 216 min (every dyno's daily cycle falls due) with 20 web dynos, until every one has
   cycled back to `up`.
3. Dyno start overhead: the runtime starting fixtures/python-hello from its slug until it accepts on $PORT,
   against starting the same command by hand in an unpacked copy (median of --starts each, alternating).

Writes bench/results.md (its `dynos` section).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from benchlib import free_port, listening, machine, start_daemon, wait_until, write_section

from herokusim.dynos.runtime import DynoSpec, boot_command
from herokusim.dynos.runtime.process import ProcessRuntime

POLL = 0.002


def dynos(daemon, app: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return daemon.api("GET", f"/apps/{app}/dynos")


def formation_figures(runs: int) -> tuple[list[float], float]:
    daemon = start_daemon()
    try:
        daemon.deploy("python-hello", "scaled")
        wait_until(lambda: [d["state"] for d in dynos(daemon, "scaled")] == ["up"])
        scale_times = []
        for _ in range(runs):
            daemon.cli("ps:scale", "web=0", "-a", "scaled")
            wait_until(lambda: not dynos(daemon, "scaled"))
            start = time.perf_counter()
            daemon.cli("ps:scale", "web=20", "-a", "scaled")
            wait_until(lambda: (d := dynos(daemon, "scaled")) and len(d) == 20 and all(x["state"] == "up" for x in d))
            scale_times.append(time.perf_counter() - start)
            print(f"ps:scale web=20 -> all up in {scale_times[-1]:.2f} s", flush=True)
        before = {d["name"]: d["id"] for d in dynos(daemon, "scaled")}
        start = time.perf_counter()
        daemon.cli("clock:warp", "1d3h36m")

        def all_cycled() -> bool:
            now = {d["name"]: (d["id"], d["state"]) for d in dynos(daemon, "scaled")}
            return len(now) == 20 and all(now[n][0] != before[n] and now[n][1] == "up" for n in before)

        wait_until(all_cycled)
        warp = time.perf_counter() - start
        print(f"warp 24h+216m with 20 dynos -> all cycled and up in {warp:.2f} s", flush=True)
        return scale_times, warp
    finally:
        daemon.stop()


def build_slug(work: Path) -> Path:
    """The python-hello slug, as a push would make it (compiled by herokusim's own build)."""
    daemon = start_daemon()
    try:
        daemon.deploy("python-hello", "slugged")
        slugs = list((Path(daemon.env["HEROKUSIM_HOME"]) / "slugs").rglob("*.tar.gz"))
        target = work / "slug.tar.gz"
        shutil.copy(slugs[0], target)
        return target
    finally:
        daemon.stop()


async def runtime_start(runtime: ProcessRuntime, slug: Path, n: int) -> float:
    port = free_port()
    spec = DynoSpec(f"bench{n}", "app", "bench", "web.1", "python app.py", {"PORT": str(port), "DYNO": "web.1"},
                    slug, port)
    start = time.perf_counter()
    dyno = await runtime.start(spec)
    while not listening(port):
        await asyncio.sleep(POLL)
    elapsed = time.perf_counter() - start
    dyno.terminate()
    await dyno.wait()
    await dyno.cleanup()
    return elapsed


def by_hand(unpacked: Path) -> float:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(boot_command("python app.py"), cwd=unpacked,
                            env={"PATH": os.environ["PATH"], "HOME": str(unpacked), "PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while not listening(port):
        if proc.poll() is not None:
            raise SystemExit(f"the command started by hand exited with {proc.returncode}")
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait()
    return elapsed


def start_figures(starts: int) -> tuple[list[float], list[float]]:
    work = Path(tempfile.mkdtemp(prefix="herokusim-bench-start-"))
    try:
        slug = build_slug(work)
        unpacked = work / "unpacked"
        with tarfile.open(slug) as tar:
            tar.extractall(unpacked, filter="tar")
        runtime = ProcessRuntime(work / "dynos")
        ours, hand = [], []
        for i in range(starts):
            ours.append(asyncio.run(runtime_start(runtime, slug, i)))
            hand.append(by_hand(unpacked))
        return ours, hand
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    scale_times, warp = formation_figures(args.runs)
    ours, hand = start_figures(args.starts)
    overhead = (statistics.median(ours) - statistics.median(hand)) * 1000
    print(f"start: runtime {statistics.median(ours) * 1000:.0f} ms, by hand {statistics.median(hand) * 1000:.0f} ms,"
          f" overhead {overhead:.0f} ms", flush=True)
    write_section("dynos", [
        "## Dyno manager (process runtime)",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/dynos.py --runs {args.runs} --starts {args.starts}`"
        f" on {machine()}."),
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        (f"| `ps:scale web=20` (from 0) until all 20 are `up`, median of {args.runs} | "
        f"{statistics.median(scale_times):.2f} s | ≤ 3 s |"),
        (f"| `clock:warp 1d3h36m` (24 h + 216 min: every daily cycle due) with 20 web dynos, until all have "
        f"cycled back to `up` | {warp:.2f} s | ≤ 5 s |"),
        (f"| one dyno start (slug unpacked, `.profile.d`, bash, python) until it accepts on `$PORT`, median of "
        f"{args.starts} | {statistics.median(ours) * 1000:.0f} ms | |"),
        (f"| the same command started by hand in an unpacked copy, median of {args.starts} | "
        f"{statistics.median(hand) * 1000:.0f} ms | |"),
        f"| dyno start overhead | {overhead:.0f} ms | ≤ 100 ms |",
    ])


if __name__ == "__main__":
    main()
