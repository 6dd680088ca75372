"""bench/router.py: requests/s and latency through herokusim's router, next to nginx, in one run.

    python3 bench/router.py [--duration 10] [--connections 50] [--rounds 3] [--no-write]
    python3 bench/router.py --baseline /path/to/other/checkout [--rounds 6]

Starts fixtures/fast-dyno (a minimal keep-alive HTTP server answering 12 bytes), then measures with wrk at
50 keep-alive connections for 10 s each: the dyno directly, herokusim's router in front of it, and nginx
(one worker, upstream keep-alive, the same request headers added) in front of it. The router and nginx are
pinned to the same core; wrk and the dyno share the other one. The router is the real one (herokusim's
Router, routing table, logplex ring with a router line per request, metrics), run on uvloop like the
daemon. Installs wrk and nginx with apt-get when they are missing. Writes its section of bench/results.md
(between the router markers), including the line `router/nginx: 0.NN`.

With `--baseline`, the router of another checkout (say, the commit before a change) runs too, under the
same load in the same rounds, alternating with this checkout's (A/B in one round, B/A in the next, so a
busy spell on the machine hits both alike); the section then states both CPU-per-request figures and
their difference, and the routers' Python work per request is compared too, in-process without sockets
(`--python-side`: a deterministic figure, free of the kernel's share and of the machine's other load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import ROOT, free_port, listening, machine, wait_until, write_section

HOST = "demo.localhost"
PYTHON_SIDE_RUNS = 7
PYTHON_SIDE_REQUESTS = 200_000
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


def wait_listening(port: int, timeout: float = 15) -> None:
    wait_until(lambda: listening(port), timeout=timeout, poll=0.05, what=f"a listener on 127.0.0.1:{port}")


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


def serve_router(dyno_port: int, port: int, code: str) -> None:
    """The router process: the Router of the checkout at `code`, app `demo` routed to the fast dyno, on
    uvloop."""
    sys.path.insert(0, code)  # before anything imports herokusim
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
        print(f"router from {Router.__module__} in {sys.modules['herokusim'].__file__}: "
              f"{metrics.get('requests', 0)} requests, dyno connections kept alive: {backend.keep_alive}; "
              f"last line: {lines[-1].message if lines else ''}", flush=True)
        await router.stop()

    import uvloop

    uvloop.run(main())


class _NullTransport:
    """A transport that drops what is written: the router's Python side alone, no sockets."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000)

    def pause_reading(self) -> None:
        pass

    resume_reading = close = abort = write_eof = pause_reading


def python_side(code: str, requests: int) -> None:
    """Print the CPU µs per request of the Router's Python side of the checkout at `code`: a keep-alive
    client's GET parsed, routed, sent on a parked dyno connection, the response parsed and passed on, the
    router line and metrics recorded, the connection parked again; transports that drop what they get."""
    sys.path.insert(0, code)  # before anything imports herokusim
    import types

    from herokusim.clock import Clock
    from herokusim.config import Settings
    from herokusim.logplex import Logplex
    from herokusim.router.server import Router
    from herokusim.router.table import Backend, RoutingTable

    try:
        from herokusim.router.client import Client  # type: ignore[attr-defined]
        from herokusim.router.upstream import Upstream  # type: ignore[attr-defined]
    except ImportError:  # before the split of router/server.py
        from herokusim.router.server import _Client as Client  # type: ignore[attr-defined, no-redef]
        from herokusim.router.server import _Upstream as Upstream  # type: ignore[attr-defined, no-redef]

    table = RoutingTable()
    route = table.add_app("bench-app-id", "demo")
    table.update(route.app_id, released=True, web_quantity=1)
    backend = Backend("web.1", "127.0.0.1", 1)
    table.set_backends(route.app_id, [backend], crashed=False)
    router = Router(table, Logplex(Clock()), Settings(home=Path(tempfile.gettempdir())))
    router.loop = asyncio.new_event_loop()  # for its clock only: nothing here awaits
    router.port_header = b"X-Forwarded-Port: 80\r\n"
    upstream = Upstream(types.SimpleNamespace(router=router), backend)
    upstream.transport, upstream.exchange, upstream.reused = _NullTransport(), None, True
    backend.idle.append(upstream)
    client = Client(router)
    client.connection_made(_NullTransport())
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"
    for n in (1000, requests):  # a warm-up, then the measured run
        start = time.process_time()
        for _ in range(n):
            client.data_received(request)
            upstream.data_received(response)
        elapsed = time.process_time() - start
    if route.metrics.requests != 1000 + requests or backend.idle != [upstream]:
        sys.exit(f"the in-process router did not serve every request ({route.metrics.requests})")
    print(f"{elapsed / requests * 1e6:.3f}")


def python_side_us(checkout: Path, requests: int, core: int) -> float:
    out = subprocess.run([*pin(core), sys.executable, __file__, "--python-side", str(checkout), str(requests)],
                         capture_output=True, text=True, check=True, cwd=checkout).stdout
    return float(out.strip().splitlines()[-1])


def revision(checkout: Path) -> str:
    """The checkout's commit, short, marked when its tracked files have uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                              check=False).stdout.strip()  # fmt: skip

    rev = git("rev-parse", "--short", "HEAD") or "?"
    return rev + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run the router of this checkout, alternating with this one's, and compare")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results.md alone")
    parser.add_argument("--note", default="", help="a paragraph to add to the results section")
    parser.add_argument("--serve-router", nargs=3, metavar=("DYNO_PORT", "PORT", "CHECKOUT"), help=argparse.SUPPRESS)
    parser.add_argument("--python-side", nargs=2, metavar=("CHECKOUT", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_router:
        dyno, port, code = args.serve_router
        serve_router(int(dyno), int(port), code)
        return
    if args.python_side:
        python_side(args.python_side[0], int(args.python_side[1]))
        return
    baseline: Path | None = args.baseline.resolve() if args.baseline else None
    if baseline is not None and not (baseline / "herokusim" / "router").is_dir():
        sys.exit(f"{baseline} is not a herokusim checkout")

    ensure_tools()
    router_core, load_core = 0, 1
    routers = {"router": ROOT, **({"baseline": baseline} if baseline else {})}
    ports = {name: free_port() for name in ("dyno", "nginx", *routers)}
    load_before = os.getloadavg()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="herokusim-bench-"))
    try:
        procs["dyno"] = subprocess.Popen([*pin(load_core), sys.executable, str(ROOT / "fixtures/fast-dyno/app.py")],
                                         env={**os.environ, "PORT": str(ports["dyno"])}, stdout=subprocess.DEVNULL)
        wait_listening(ports["dyno"])
        for name, checkout in routers.items():
            with open(workdir / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen(
                    [*pin(router_core), sys.executable, __file__, "--serve-router", str(ports["dyno"]),
                     str(ports[name]), str(checkout)], stdout=log, stderr=subprocess.STDOUT, cwd=checkout)
        (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, dyno_port=ports["dyno"],
                                                              port=ports["nginx"]))
        procs["nginx"] = subprocess.Popen([*pin(router_core), nginx_binary(), "-c", str(workdir / "nginx.conf"),
                                           "-p", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports.values():
            wait_listening(port)
        names = ["dyno", *routers, "nginx"]
        for name in names:
            wrk(ports[name], 2, args.connections, load_core)  # warm up: connections, pools, caches
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}

        def ours() -> float:  # CPU seconds of this script, wrk (reaped children) and the servers
            return sum(os.times()[:4]) + sum(cpu_seconds(proc.pid) for proc in procs.values())

        busy0, ours0, t0 = machine_busy(), ours(), time.monotonic()
        for round_ in range(1, args.rounds + 1):  # interleaved, so a busy spell on the machine hits all
            order = list(routers) if round_ % 2 else list(reversed(routers))  # A/B, then B/A
            for name in ["dyno", *order, "nginx"]:
                pid = procs[name].pid
                cpu = cpu_seconds(pid)
                r = wrk(ports[name], args.duration, args.connections, load_core)
                # CPU time of the process serving (the dyno, a router, nginx's worker) per request answered
                r["cpu_us"] = (cpu_seconds(pid) - cpu) / max(1.0, r["rps"] * args.duration) * 1e6
                runs[name].append(r)
                print(f"round {round_} {name:8} {r['rps']:>10.0f} req/s   p50 {r['p50']:.2f} ms   "
                      f"p99 {r['p99']:.2f} ms   {r['cpu_us']:.1f} µs CPU/request"
                      + (f"   non-2xx {r['non2xx']:.0f}" if r["non2xx"] else ""), flush=True)
        # CPU the rest of the machine used meanwhile, as a share of both cores over the rounds
        other = ((machine_busy() - busy0) - (ours() - ours0)) / ((time.monotonic() - t0) * (os.cpu_count() or 1))
        results = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
        ratios = [r["rps"] / n["rps"] for r, n in zip(runs["router"], runs["nginx"], strict=True)]
    finally:
        for proc in reversed(procs.values()):
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    load_after = os.getloadavg()
    ratio = results["router"]["rps"] / results["nginx"]["rps"]
    print(f"router/nginx: {ratio:.2f} (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    for name in routers:
        log_lines = (workdir / f"{name}.log").read_text().strip().splitlines()
        print(f"{name}: {log_lines[-1] if log_lines else '(no output)'}")
    comparison = ""
    if baseline is not None:
        new, old = results["router"]["cpu_us"], results["baseline"]["cpu_us"]
        per_round = [n["cpu_us"] / o["cpu_us"] - 1 for n, o in zip(runs["router"], runs["baseline"], strict=True)]
        comparison = (
            f"Router CPU per request, this checkout ({revision(ROOT)}) against the baseline "
            f"({revision(baseline)}), medians of the {args.rounds} rounds: {new:.1f} µs against {old:.1f} µs, "
            f"{(new / old - 1) * 100:+.1f} % (per round, alternating which ran first: "
            f"{', '.join(f'{x * 100:+.1f} %' for x in per_round)}; their median {statistics.median(per_round) * 100:+.1f} %)."
        )
        print(comparison, flush=True)
        # The Python side alone, in-process: alternating runs, as the kernel and the other load are left out
        python: dict[str, list[float]] = {"router": [], "baseline": []}
        for turn in range(PYTHON_SIDE_RUNS):
            for name in (list(routers) if turn % 2 == 0 else list(reversed(routers))):
                python[name].append(python_side_us(routers[name], PYTHON_SIDE_REQUESTS, router_core))
        new_py, old_py = statistics.median(python["router"]), statistics.median(python["baseline"])
        comparison += (
            f" The routers' Python side per request, in-process without sockets (`--python-side`, "
            f"{PYTHON_SIDE_RUNS} alternating runs of {PYTHON_SIDE_REQUESTS:,} keep-alive GETs each, medians): "
            f"{new_py:.2f} µs against {old_py:.2f} µs, {(new_py / old_py - 1) * 100:+.1f} % (runs: "
            f"{', '.join(f'{x:.2f}' for x in python['router'])} against "
            f"{', '.join(f'{x:.2f}' for x in python['baseline'])}). Acceptance: within 3 %.")
        print(comparison)
    shutil.rmtree(workdir, ignore_errors=True)
    if args.no_write:
        return
    busy = other > 0.05
    labels = {"dyno": "fast-dyno directly", "router": f"herokusim router ({revision(ROOT)}) → dyno",
              "baseline": f"herokusim router, baseline ({revision(baseline) if baseline else ''}) → dyno",
              "nginx": "nginx (1 worker, upstream keep-alive) → dyno"}
    rows = [f"| {labels[k]} | {results[k]['rps']:,.0f} | {results[k]['p50']:.2f} ms | {results[k]['p99']:.2f} ms "
            f"| {results[k]['cpu_us']:.1f} µs |" for k in names]
    command = " ".join(["python3 bench/router.py", *(f"--rounds {args.rounds}",) * (args.rounds != 3),
                        *(f"--duration {args.duration}",) * (args.duration != 10),
                        *(f"--connections {args.connections}",) * (args.connections != 50),
                        *(f"--baseline {baseline}",) * (baseline is not None), *("--note …",) * bool(args.note)])
    section = f"""## Router: requests/s through herokusim's router next to nginx

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on {machine()}.
wrk, {args.connections} keep-alive connections, {args.duration} s per target (after a 2 s warm-up), `Host: {HOST}`,
{args.rounds} interleaved rounds ({", ".join(["dyno", *routers, "nginx"])}, …{"; the two routers alternate which runs first" if baseline else ""}),
medians below; router/nginx per round: {", ".join(f"{x:.2f}" for x in ratios)}.
12-byte responses from fixtures/fast-dyno. Routers and nginx pinned to core {router_core}; wrk and the dyno
share core {load_core}. The router runs with its router line per request, headers, keep-alive dyno pool and
metrics, on uvloop. "CPU per request" is the user + system CPU time of the serving process (the dyno,
the router, nginx's worker) during a run divided by the requests it answered: less swayed by other load
on the machine than req/s. Other work on the machine during the rounds: {max(0.0, other):.0%} of its CPU
time{" — the machine was not quiet (other engineers' work), so absolute figures are low and noisy, and p99"
" reflects that load more than the proxies" if busy else ""}. Load average (1 min) before/after (the bench
itself keeps about 2 busy): {load_before[0]:.2f} / {load_after[0]:.2f}.

| target | req/s | p50 | p99 | CPU per request (the serving process) |
|---|---|---|---|---|
{chr(10).join(rows)}

router/nginx: {ratio:.2f}
{chr(10) + comparison + chr(10) if comparison else ""}
Targets: router/nginx ≥ 0.5, router p99 < 2 ms at {args.connections} connections.
{chr(10) + args.note if args.note else ""}
"""
    write_section("router", section.rstrip().splitlines())
    print("wrote bench/results.md")


if __name__ == "__main__":
    main()
