"""Benchmark (not a test): the Docker runtime — stack image build, push to first 200, scale to 10, dyno start.

    python3 bench/docker.py [--runs 5] [--starts 10] [--skip-stack-build]

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
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# this file is bench/docker.py: its folder must not stand in for the `docker` package herokusim imports
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from herokusim import stack
from herokusim.dynos.runtime import DynoSpec
from herokusim.dynos.runtime.docker import DockerRuntime

RESULTS = ROOT / "bench" / "results.md"
BEGIN, END = "<!-- docker:begin -->", "<!-- docker:end -->"
BENCH_LABEL = "herokusim.bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def machine(client: object) -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    info = client.info()  # type: ignore[attr-defined]
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Docker {info.get('ServerVersion')} ({info.get('Driver')}, cgroup "
            f"v{info.get('CgroupVersion')}), Python {platform.python_version()}")


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
    stack._build(client, mirror, tag, lambda line: print(line, flush=True))
    elapsed = time.perf_counter() - started
    client.images.remove(tag)  # type: ignore[attr-defined]
    return elapsed


def platform_figures(runs: int, work: Path) -> tuple[list[float], float, float]:
    ports = {name: free_port() for name in ("router", "api", "git")}
    env = {**os.environ, "HEROKUSIM_HOME": str(work / "home"), "HEROKUSIM_ROUTER_PORT": str(ports["router"]),
           "HEROKUSIM_API_PORT": str(ports["api"]), "HEROKUSIM_GIT_PORT": str(ports["git"]),
           "HEROKUSIM_RUNTIME": "docker", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    env.pop("HEROKUSIM_API_KEY", None)
    cli = [sys.executable, "-m", "herokusim"]
    log = open(work / "daemon.log", "w")  # noqa: SIM115 - for the daemon's whole life
    daemon = subprocess.Popen([*cli, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    router = ports["router"]
    try:
        deadline = time.monotonic() + 300
        while not (work / "home" / "token").exists() or subprocess.run(
                [*cli, "apps"], env=env, capture_output=True, check=False).returncode:
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit(f"daemon did not start:\n{(work / 'daemon.log').read_text()}")
            time.sleep(0.2)
        timings = []
        for i in range(runs):
            app = f"bench-{i + 1}"
            repo = work / app
            shutil.copytree(ROOT / "fixtures" / "python-hello", repo)
            run(["git", "init", "-q", "-b", "main"], env, repo)
            run(["git", "add", "-A"], env, repo)
            run(["git", "commit", "-q", "-m", "bench"], env, repo)
            run([*cli, "apps:create", app], env, repo)
            run([*cli, "git:remote", "-a", app], env, repo)
            start = time.perf_counter()
            run(["git", "push", "-q", "herokusim", "main"], env, repo)
            while answers(router, f"{app}.localhost") is None:
                time.sleep(0.01)
            timings.append(time.perf_counter() - start)
            print(f"{app}: push to first 200 in {timings[-1]:.2f} s", flush=True)
            if i + 1 < runs:
                run([*cli, "apps:destroy", app, "--confirm", app], env)

        app = f"bench-{runs}"
        start = time.perf_counter()
        run([*cli, "ps:scale", "web=10", "-a", app], env)
        all_up = all_answered = 0.0
        seen: set[str] = set()
        while not (all_up and all_answered):
            if time.perf_counter() - start > 300:
                sys.exit("ps:scale web=10 did not come up in 300 s")
            if not all_up:
                ps = subprocess.run([*cli, "ps", "-a", app], env=env, capture_output=True, text=True,
                                    check=False).stdout
                if sum(f"web.{n}: up" in ps for n in range(1, 11)) == 10:
                    all_up = time.perf_counter() - start
            dyno = answers(router, f"{app}.localhost", "/dyno")
            if dyno:
                seen.add(dyno.strip())
            if len(seen) == 10 and not all_answered:
                all_answered = time.perf_counter() - start
        print(f"ps:scale web=10: all up in ps after {all_up:.2f} s, all answered after {all_answered:.2f} s",
              flush=True)
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(120)
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
    deadline = time.monotonic() + 60
    while answers(port) is None:
        if time.monotonic() > deadline:
            sys.exit(f"nothing answered on 127.0.0.1:{port} in 60 s")
        time.sleep(0.005)


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
        pushes, all_up, all_answered = platform_figures(args.runs, work)
        ours, bare = start_figures(client, image, args.starts, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    label = "| stack image from nothing (debootstrap + import), once |"
    build_row = f"{label} {build_seconds:.0f} s | |" if build_seconds is not None else f"{label} not measured | |"
    if build_seconds is None and BEGIN in text:  # keep the figure of the last run that measured it
        build_row = next((line for line in text[text.index(BEGIN):text.index(END)].splitlines()
                          if line.startswith(label)), build_row)
    ratio = statistics.median(ours) / statistics.median(bare)
    section = "\n".join([
        BEGIN,
        "## Docker runtime: stack image, push to first 200, scale to 10, dyno start",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/docker.py --runs {args.runs} --starts "
         f"{args.starts}{' --skip-stack-build' if build_seconds is None else ''}` on {machine(client)}. "
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
        END,
    ])
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"push median {statistics.median(pushes):.2f} s, scale to 10 {all_answered:.2f} s, start ratio "
          f"{ratio:.2f} -> {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
