"""Benchmark (not a test): the Docker runtime — stack image build, push to first 200, scale to 10, dyno start.

    python3 bench/docker_runtime.py [--runs 5] [--starts 10] [--skip-stack-build]

1. The stack image built from nothing (debootstrap + import) under a throwaway tag, once; removed after.
2. `git push` start to the first 200 through the router on `--runtime docker` with the stack image warm,
   fixtures/python-hello, a new app per run (build in a build container, release, a dyno container).
3. `ps:scale web=10` until all ten are `up` in `ps`, and until the router has had an answer from each.
4. One dyno start against a bare `docker run` of the same image and command: from the call to the first
   HTTP answer on the published loopback port, alternating, median of `--starts` each.

All traffic goes to 127.0.0.1. Writes bench/results.md between its `docker` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import free_port, machine, read_section, start_daemon, wait_until, write_section

from herokusim import stack
from herokusim.dynos.runtime import DynoSpec
from herokusim.dynos.runtime.docker import DockerRuntime

BENCH_LABEL = "herokusim.bench"


def docker_engine(client: object) -> str:
    info = client.info()  # type: ignore[attr-defined]
    return (f"Docker {info.get('ServerVersion')} ({info.get('Driver')}, cgroup "
            f"v{info.get('CgroupVersion')})")


def answers(port: int, host: str | None = None, path: str = "/") -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host} if host else {}, timeout=5)
    except httpx.TransportError:
        return None
    return response.text if response.status_code == 200 else None


def stack_build(client: object) -> float:
    mirror = stack.read_mirror()
    tag = f"{stack.IMAGE_REPOSITORY}:bench-{int(time.time())}"
    started = time.perf_counter()
    stack.build_image(client, mirror, tag, lambda line: print(line, flush=True))
    elapsed = time.perf_counter() - started
    client.images.remove(tag)  # type: ignore[attr-defined]
    return elapsed


def platform_figures(runs: int) -> tuple[list[float], float, float]:
    daemon = start_daemon(timeout=300, HEROKUSIM_RUNTIME="docker")
    try:
        timings = []
        for i in range(runs):
            app = f"bench-{i + 1}"
            repo = daemon.checkout("python-hello", app)
            daemon.create_app(app, repo)
            start = time.perf_counter()
            daemon.push(repo)
            wait_until(lambda app=app: daemon.answers(app) is not None, timeout=300, poll=0.01,
                       what=f"{app} to answer")  # fmt: skip
            timings.append(time.perf_counter() - start)
            print(f"{app}: push to first 200 in {timings[-1]:.2f} s", flush=True)
            if i + 1 < runs:
                daemon.cli("apps:destroy", app, "--confirm", app)

        app = f"bench-{runs}"
        start = time.perf_counter()
        daemon.cli("ps:scale", "web=10", "-a", app)
        all_up = all_answered = 0.0
        seen: set[str] = set()
        while not (all_up and all_answered):
            if time.perf_counter() - start > 300:
                sys.exit("ps:scale web=10 did not come up in 300 s")
            if not all_up:
                ps = daemon.cli("ps", "-a", app).stdout
                if sum(f"web.{n}: up" in ps for n in range(1, 11)) == 10:
                    all_up = time.perf_counter() - start
            dyno = daemon.answers(app, "/dyno")
            if dyno:
                seen.add(dyno.strip())
            if len(seen) == 10 and not all_answered:
                all_answered = time.perf_counter() - start
        print(f"ps:scale web=10: all up in ps after {all_up:.2f} s, all answered after {all_answered:.2f} s",
              flush=True)
    finally:
        daemon.stop()
    return timings, all_up, all_answered


def slug(work: Path) -> Path:
    path = work / "slug.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"web: python3 -m http.server $PORT\n"
        info = tarfile.TarInfo("Procfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def wait_http(port: int) -> None:
    wait_until(lambda: answers(port) is not None, timeout=60, poll=0.005, what=f"an answer on 127.0.0.1:{port}")


async def herokusim_start(runtime: DockerRuntime, slug_path: Path, n: int) -> float:
    port = free_port()
    spec = DynoSpec(f"bench-start-{n}", "bench-start", "bench-start", "web.1", "python3 -m http.server $PORT",
                    {"PORT": str(port), "DYNO": "web.1"}, slug_path, port, memory_limit_mb=1024)
    started = time.perf_counter()
    dyno = await runtime.start(spec)
    await asyncio.to_thread(wait_http, port)
    elapsed = time.perf_counter() - started
    dyno.kill()
    await dyno.wait()
    await dyno.cleanup()
    return elapsed


def bare_start(image: str, n: int) -> float:
    port = free_port()
    name = f"herokusim-bench-bare-{n}-{os.getpid()}"
    started = time.perf_counter()
    subprocess.run(["docker", "run", "-d", "--init", "--name", name, "--label", f"{BENCH_LABEL}=1",
                    "-p", f"127.0.0.1:{port}:{port}", "-e", f"PORT={port}", image,
                    "bash", "-c", "python3 -m http.server $PORT"], capture_output=True, check=True)
    wait_http(port)
    elapsed = time.perf_counter() - started
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return elapsed


def start_figures(client: object, image: str, starts: int, work: Path) -> tuple[list[float], list[float]]:
    runtime = DockerRuntime(client, stack.StackImage.built(client, image), work / "start-home")
    slug_path = slug(work)
    ours: list[float] = []
    bare: list[float] = []

    async def main() -> None:
        for n in range(starts):
            ours.append(await herokusim_start(runtime, slug_path, n))
            bare.append(await asyncio.to_thread(bare_start, image, n))
            print(f"start {n + 1}: herokusim {ours[-1]:.3f} s, docker run {bare[-1]:.3f} s", flush=True)

    try:
        asyncio.run(main())
    finally:
        asyncio.run(runtime.reap_strays())
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--skip-stack-build", action="store_true",
                        help="keep the stack build figure already in results.md")
    args = parser.parse_args()
    client = stack.connect()
    if client is None:
        sys.exit("no Docker engine answers: this benchmark is for the Docker runtime")
    image = stack.ensure_image(client, lambda line: print(line, flush=True))
    build_seconds = None if args.skip_stack_build else stack_build(client)
    work = Path(tempfile.mkdtemp(prefix="herokusim-bench-docker-"))
    try:
        pushes, all_up, all_answered = platform_figures(args.runs)
        ours, bare = start_figures(client, image, args.starts, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    label = "| stack image from nothing (debootstrap + import), once |"
    build_row = f"{label} {build_seconds:.0f} s | |" if build_seconds is not None else f"{label} not measured | |"
    if build_seconds is None:  # keep the figure of the last run that measured it
        build_row = next((line for line in read_section("docker").splitlines() if line.startswith(label)),
                         build_row)
    ratio = statistics.median(ours) / statistics.median(bare)
    write_section("docker", [
        "## Docker runtime: stack image, push to first 200, scale to 10, dyno start",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/docker_runtime.py --runs {args.runs} --starts "
         f"{args.starts}{' --skip-stack-build' if build_seconds is None else ''}` on {machine(docker_engine(client))}. "
         "Other engineers' test runs shared the machine."
         + (" The stack image figure is from the last run that built it." if build_seconds is None else "")),
        "fixtures/python-hello; each push is a first deploy to a new app (build in a build container).",
        ("Dyno start = from the call to the first HTTP answer on the dyno's 127.0.0.1 port, `python3 -m "
        "http.server $PORT` in both; herokusim's includes its network, labels and the slug put at /app."),
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        build_row,
        (f"| `git push` to first 200 through the router, warm stack image, median of {args.runs} | "
        f"{statistics.median(pushes):.2f} s | ≤ 10 s |"),
        f"| same, slowest / fastest | {max(pushes):.2f} s / {min(pushes):.2f} s | |",
        f"| `ps:scale web=10`: all 10 `up` in `ps` | {all_up:.2f} s | |",
        f"| `ps:scale web=10`: an answer from each of the 10 through the router | {all_answered:.2f} s | |",
        f"| one dyno start (DockerRuntime.start), median of {args.starts} | {statistics.median(ours):.3f} s | |",
        (f"| bare `docker run` of the same image and command, median of {args.starts} | "
        f"{statistics.median(bare):.3f} s | |"),
        f"| ratio herokusim / bare | {ratio:.2f} | ≤ 1.3 |",
    ])
    print(f"push median {statistics.median(pushes):.2f} s, scale to 10 {all_answered:.2f} s, start ratio "
          f"{ratio:.2f} -> bench/results.md")


if __name__ == "__main__":
    main()
