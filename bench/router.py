"""bench/router.py: requests/s and latency through herokusim's router, next to nginx, in one run.

    python3 bench/router.py [--duration 10] [--connections 50] [--no-write]

Starts fixtures/fast-dyno (a minimal keep-alive HTTP server answering 12 bytes), then measures with wrk at
50 keep-alive connections for 10 s each: the dyno directly, herokusim's router in front of it, and nginx
(one worker, upstream keep-alive, the same request headers added) in front of it. The router and nginx are
pinned to the same core; wrk and the dyno share the other one. The router is the real one (herokusim's
Router, routing table, logplex ring with a router line per request, metrics), run on uvloop like the
daemon. Installs wrk and nginx with apt-get when they are missing. Writes its section of bench/results.md
(between the router markers), including the line `router/nginx: 0.NN`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host_platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
BEGIN, END = "<!-- router:begin -->", "<!-- router:end -->"
HOST = "demo.localhost"
NGINX_CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream dyno {{ server 127.0.0.1:{dyno_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://dyno;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Request-Start $msec;
      proxy_set_header Via "1.1 nginx";
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def ensure_tools() -> None:
    missing = [] if shutil.which("wrk") else ["wrk"]
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        missing.append("nginx-light")
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *missing], check=True, stdout=subprocess.DEVNULL)


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > core else []


def wrk(port: int, duration: int, connections: int, core: int) -> dict[str, float]:
    out = subprocess.run([*pin(core), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-H", f"Host: {HOST}", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"),
            "non2xx": float(errors.group(1)) if errors else 0.0}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its live children (nginx's worker)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    total = 0
    for p in (pid, *children):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, user to steal) since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve_router(dyno_port: int, port: int) -> None:
    """The router process: herokusim's Router with app `demo` routed to the fast dyno, on uvloop."""
    from herokusim.clock import Clock
    from herokusim.config import Settings
    from herokusim.logplex import Logplex
    from herokusim.router.server import Router
    from herokusim.router.table import Backend, RoutingTable

    async def main() -> None:
        table = RoutingTable()
        logplex = Logplex(Clock())
        route = table.add_app("bench-app-id", "demo")
        table.update(route.app_id, released=True, web_quantity=1)
        table.set_backends(route.app_id, [Backend("web.1", "127.0.0.1", dyno_port)], crashed=False)
        router = Router(table, logplex, Settings(home=Path(tempfile.gettempdir())))
        await router.start("127.0.0.1", port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        lines = logplex.history(route.app_id, 1)
        metrics = router.metrics(route.app_id) or {}
        backend = route.backends[0]
        print(f"router: {metrics.get('requests', 0)} requests, dyno connections kept alive: {backend.keep_alive}; "
              f"last line: {lines[-1].message if lines else ''}", flush=True)
        await router.stop()

    import uvloop

    uvloop.run(main())


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Linux {host_platform.release()}, Python {host_platform.python_version()}"


def write_results(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results.md alone")
    parser.add_argument("--note", default="", help="a paragraph to add to the results section")
    parser.add_argument("--serve-router", nargs=2, type=int, metavar=("DYNO_PORT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_router:
        serve_router(*args.serve_router)
        return

    ensure_tools()
    router_core, load_core = 0, 1
    dyno_port, router_port, nginx_port = free_port(), free_port(), free_port()
    load_before = os.getloadavg()
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="herokusim-bench-"))
    try:
        procs.append(subprocess.Popen([*pin(load_core), sys.executable, str(ROOT / "fixtures/fast-dyno/app.py")],
                                      env={**os.environ, "PORT": str(dyno_port)}, stdout=subprocess.DEVNULL))
        wait_listening(dyno_port)
        router_log = workdir / "router.log"
        with open(router_log, "wb") as log:
            procs.append(subprocess.Popen([*pin(router_core), sys.executable, __file__, "--serve-router",
                                           str(dyno_port), str(router_port)], stdout=log, stderr=subprocess.STDOUT,
                                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}))
        (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, dyno_port=dyno_port, port=nginx_port))
        procs.append(subprocess.Popen([*pin(router_core), nginx_binary(), "-c", str(workdir / "nginx.conf"),
                                       "-p", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(router_port)
        wait_listening(nginx_port)
        targets = (("dyno", dyno_port), ("router", router_port), ("nginx", nginx_port))
        pids = {"dyno": procs[0].pid, "router": procs[1].pid, "nginx": procs[2].pid}
        for _, port in targets:
            wrk(port, 2, args.connections, load_core)  # warm up: connections, pools, caches
        runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in targets}

        def ours() -> float:  # CPU seconds of this script, wrk (reaped children) and the three servers
            return sum(os.times()[:4]) + sum(cpu_seconds(pid) for pid in pids.values())

        busy0, ours0, t0 = machine_busy(), ours(), time.monotonic()
        for round_ in range(1, args.rounds + 1):  # interleaved, so a busy spell on the machine hits all three
            for name, port in targets:
                cpu = cpu_seconds(pids[name])
                r = wrk(port, args.duration, args.connections, load_core)
                # CPU time of the process serving (the dyno, the router, nginx's worker) per request answered
                r["cpu_us"] = (cpu_seconds(pids[name]) - cpu) / max(1.0, r["rps"] * args.duration) * 1e6
                runs[name].append(r)
                print(f"round {round_} {name:7} {r['rps']:>10.0f} req/s   p50 {r['p50']:.2f} ms   "
                      f"p99 {r['p99']:.2f} ms   {r['cpu_us']:.0f} µs CPU/request"
                      + (f"   non-2xx {r['non2xx']:.0f}" if r["non2xx"] else ""), flush=True)
        # CPU the rest of the machine used meanwhile, as a share of both cores over the rounds
        other = ((machine_busy() - busy0) - (ours() - ours0)) / ((time.monotonic() - t0) * (os.cpu_count() or 1))
        results = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
        ratios = [r["rps"] / n["rps"] for r, n in zip(runs["router"], runs["nginx"], strict=True)]
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    load_after = os.getloadavg()
    ratio = results["router"]["rps"] / results["nginx"]["rps"]
    print(f"router/nginx: {ratio:.2f} (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(Path(router_log).read_text().strip().splitlines()[-1] if router_log.exists() else "")
    if args.no_write:
        return
    busy = other > 0.05
    rows = "\n".join(
        f"| {label} | {results[k]['rps']:,.0f} | {results[k]['p50']:.2f} ms | {results[k]['p99']:.2f} ms "
        f"| {results[k]['cpu_us']:.0f} µs |"
        for k, label in (("dyno", "fast-dyno directly"), ("router", "herokusim router → dyno"),
                         ("nginx", "nginx (1 worker, upstream keep-alive) → dyno")))
    section = f"""## Router: requests/s through herokusim's router next to nginx

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python3 bench/router.py` on {machine()}.
wrk, {args.connections} keep-alive connections, {args.duration} s per target (after a 2 s warm-up), `Host: {HOST}`,
{args.rounds} interleaved rounds (dyno, router, nginx, …), medians below; router/nginx per round:
{", ".join(f"{x:.2f}" for x in ratios)}.
12-byte responses from fixtures/fast-dyno. Router and nginx pinned to core {router_core}; wrk and the dyno
share core {load_core}. The router runs with its router line per request, headers, keep-alive dyno pool and
metrics, on uvloop. "CPU per request" is the user + system CPU time of the serving process (the dyno,
the router, nginx's worker) during a run divided by the requests it answered: less swayed by other load
on the machine than req/s. Other work on the machine during the rounds: {max(0.0, other):.0%} of its CPU
time{" — the machine was not quiet (other engineers' work), so absolute figures are low and noisy, and p99"
" reflects that load more than the proxies" if busy else ""}. Load average (1 min) before/after (the bench
itself keeps about 2 busy): {load_before[0]:.2f} / {load_after[0]:.2f}.

| target | req/s | p50 | p99 | CPU per request (the serving process) |
|---|---|---|---|---|
{rows}

router/nginx: {ratio:.2f}

Targets: router/nginx ≥ 0.5, router p99 < 2 ms at {args.connections} connections.
{chr(10) + args.note if args.note else ""}
"""
    write_results(section)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
