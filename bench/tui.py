"""Benchmark (not a test): the TUI under load — log lag to the screen, key press to screen, TUI CPU.

A generated app whose every dyno prints 50 timestamped lines a second is deployed and scaled to 20 web
dynos (1,000 lines/s), a separate process sends 200 requests/s through the router (one more router line
each), and the TUI runs headless on the app screen for 30 s:

- log lag: for each `tick <emitted>` line, the time from the dyno printing it to the end of the first
  screen refresh after the logs pane wrote it (same machine clock);
- key press to screen: `p` (pause/resume the logs, a local action) from the key event to the refresh that
  shows it; and `m` (maintenance, a round trip through the API and the next poll) to the status line;
- CPU: the TUI process's user+system time over the run (the daemon, dynos and load are other processes).

    python3 bench/tui.py [--seconds 30] [--dynos 20] [--lines-per-dyno 50] [--rate 200]

Writes the figures to bench/results.md, between its `tui` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from benchlib import ROOT, commit_all, machine, start_daemon, wait_until, write_section

sys.path.insert(0, str(ROOT / "tests"))  # the recorded API answers of the snapshot tests

from textual import events
from tui_recorded import ANSWERS, RecordedApi

from tui.app import HerokusimTui
from tui.client import Api, Target
from tui.format import LogEntry
from tui.panes import LogsPane
from tui.screens import AppScreen

LOGGER_APP = '''\
import os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RATE = int(os.environ.get("LINES_PER_SECOND", "50"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def ticker():
    n, start = 0, time.monotonic()
    while True:
        n += 1
        print(f"tick {time.time():.6f} {n}", flush=True)
        time.sleep(max(0.0, start + n / RATE - time.monotonic()))


threading.Thread(target=ticker, daemon=True).start()
server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
server.serve_forever()
'''

LOAD_SCRIPT = '''\
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from tui.loadgen import LoadGenerator, LoadPlan
gen = LoadGenerator(int(sys.argv[2]), LoadPlan(sys.argv[3], rate=float(sys.argv[4]), concurrency=50,
                                               duration=float(sys.argv[5])))
async def main():
    gen.start()
    await gen.wait()
asyncio.run(main())
print(gen.stats.describe(gen.stats.ends))
'''


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def refreshed(tui: HerokusimTui) -> float:
    """The wall-clock time at the end of the next screen refresh."""
    done = asyncio.get_running_loop().create_future()
    tui.call_after_refresh(lambda: done.done() or done.set_result(time.time()))
    return await done


async def press(tui: HerokusimTui, key: str) -> None:
    """A key event straight into the app, as the terminal driver sends it (no waiting for idle)."""
    assert tui._driver is not None
    tui._driver.send_message(events.Key(key, key))


class FloodApi(RecordedApi):
    """The TUI alone: recorded answers with `dynos` web dynos, and a log stream of `rate` lines/s made here."""

    def __init__(self, dynos: int, rate: float) -> None:
        web = ANSWERS["GET /apps/demo/dynos"][0]
        answers = {**ANSWERS,
                   "GET /apps/demo/formation": [{**ANSWERS["GET /apps/demo/formation"][0], "quantity": dynos}],
                   "GET /apps/demo/dynos": [{**web, "name": f"web.{n}"} for n in range(1, dynos + 1)]}
        super().__init__(answers)
        self.dyno_count, self.rate = dynos, rate

    def now(self) -> datetime:
        return datetime.now(UTC)  # ages change every second, so the tables redraw as they do for real

    async def log_lines(self, app: str, lines: int = 200) -> AsyncIterator[list[str]]:
        n, start = 0, time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            batch = []
            while n < int((time.monotonic() - start) * self.rate):
                n += 1
                stamp = datetime.now(UTC).isoformat(timespec="microseconds")
                batch.append(f"{stamp} app[web.{n % self.dyno_count + 1}]: tick {time.time():.6f} {n}")
            yield batch


async def measure(api: Api, app: str, seconds: float, api_keys_too: bool) -> dict[str, Any]:
    tui = HerokusimTui(api, app)
    lags: list[float] = []
    tui_lags: list[float] = []  # from the line arriving in the TUI process to the screen
    local_keys: list[float] = []
    api_keys: list[float] = []
    pending: list[tuple[float, float]] = []
    shown = 0

    async with tui.run_test(size=(160, 48)) as pilot:
        screen = tui.screen
        assert isinstance(screen, AppScreen)
        logs = screen.query_one(LogsPane)
        while logs.received == 0:
            await pilot.pause(0.1)
        await asyncio.sleep(2)  # the history and the first polls settle

        arrived: dict[int, float] = {}  # id(entry) -> when the TUI read it off the stream
        plain_add = logs.add

        def add(lines: Iterable[str]) -> None:
            before = len(logs.pending)
            plain_add(lines)
            now = time.time()
            for entry in logs.pending[before:]:
                arrived[id(entry)] = now

        def written(entries: list[LogEntry]) -> None:
            nonlocal shown
            shown += len(entries)
            ticks = [(float(e.message.split()[1]), arrived.pop(id(e), time.time())) for e in entries
                     if e.message.startswith("tick ")]
            arrived.clear()
            if ticks:
                pending.extend(ticks)
                tui.call_after_refresh(on_screen)

        def on_screen() -> None:
            now = time.time()
            lags.extend(now - emitted for emitted, _ in pending)
            tui_lags.extend(now - read for _, read in pending)
            pending.clear()

        logs.add = add  # type: ignore[method-assign]
        logs.on_written = written
        cpu_start, wall_start = cpu_seconds(), time.monotonic()
        received_start = logs.received
        next_key = time.monotonic() + 1.0
        toggles = 0
        while time.monotonic() - wall_start < seconds:
            await asyncio.sleep(0.05)
            if time.monotonic() < next_key:
                continue
            next_key = time.monotonic() + 1.5
            toggles += 1
            if toggles % 3 or not api_keys_too:  # local: pause/resume the logs pane
                was = logs.paused
                began = time.time()
                await press(tui, "p")
                while logs.paused == was:
                    await asyncio.sleep(0.001)
                local_keys.append(await refreshed(tui) - began)
            else:  # through the API: maintenance on/off, shown in the status line after the next poll
                was = bool(screen.info.get("maintenance"))
                began = time.time()
                await press(tui, "m")
                deadline = time.monotonic() + 10
                while bool(screen.info.get("maintenance")) == was and time.monotonic() < deadline:
                    await asyncio.sleep(0.002)
                api_keys.append(await refreshed(tui) - began)
        if logs.paused:
            await press(tui, "p")
        wall = time.monotonic() - wall_start
        cpu = cpu_seconds() - cpu_start
        received = logs.received - received_start
    return {"lags": lags, "tui_lags": tui_lags, "local_keys": local_keys, "api_keys": api_keys, "cpu": cpu, "wall": wall,
            "received": received, "shown": shown}


def figures(result: dict[str, Any]) -> dict[str, str]:
    """The measurements as table cells."""
    def ms(values: list[float], *points: float) -> str:
        if not values:
            return "—"
        cells = [f"{pct(values, p) * 1000:.0f}" for p in points] + [f"{max(values) * 1000:.0f}"]
        return f"{' / '.join(cells)} ms ({len(values)})"

    wall = result["wall"]
    return {"lag": ms(result["lags"], 50, 95), "tui_lag": ms(result["tui_lags"], 50, 95),
            "rate": f"{result['received'] / wall:.0f} lines/s", "local": ms(result["local_keys"], 50),
            "api": ms(result["api_keys"], 50), "cpu": f"{result['cpu'] / wall * 100:.0f} % of a core"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--dynos", type=int, default=20)
    parser.add_argument("--lines-per-dyno", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()

    offered = args.dynos * args.lines_per_dyno + args.rate
    print(f"TUI alone: {offered:g} lines/s from a synthetic stream for {args.seconds:g} s", flush=True)
    alone_load = os.getloadavg()[0]
    alone = asyncio.run(measure(FloodApi(args.dynos, offered), "demo", args.seconds, api_keys_too=False))
    alone_load = max(alone_load, os.getloadavg()[0])

    daemon = start_daemon(timeout=30)
    load = None
    try:
        repo = daemon.work / "logger"
        repo.mkdir()
        (repo / "app.py").write_text(LOGGER_APP)
        (repo / "Procfile").write_text("web: python app.py\n")
        (repo / "requirements.txt").write_text("# standard library only\n")
        commit_all(repo, daemon.env)
        daemon.create_app("logger", repo)
        daemon.cli("config:set", f"LINES_PER_SECOND={args.lines_per_dyno}", "-a", "logger")
        daemon.push(repo)
        daemon.cli("ps:scale", f"web={args.dynos}", "-a", "logger")
        wait_until(lambda: sum(d.get("state") == "up" for d in daemon.api("GET", "/apps/logger/dynos")) >= args.dynos,
                   timeout=120, poll=0.5, what="the dynos to come up")  # fmt: skip
        print(f"{args.dynos} dynos up; load {args.rate:g} req/s for {args.seconds + 5:g} s", flush=True)

        load = subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, str(ROOT), str(daemon.router_port), "logger",
                                 str(args.rate), str(args.seconds + 5)], stdout=subprocess.PIPE, text=True)
        load_avg = os.getloadavg()[0]
        real_api = Api(Target(daemon.api_url, daemon.router_port, daemon.token))
        result = asyncio.run(measure(real_api, "logger", args.seconds, api_keys_too=True))
        load_avg = max(load_avg, os.getloadavg()[0])
        load_summary = load.communicate(timeout=120)[0].strip()
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        daemon.stop()

    full, solo = figures(result), figures(alone)
    section = [
        "## TUI under load: log lag, key press to screen, CPU",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/tui.py --seconds {args.seconds:g} "
         f"--dynos {args.dynos} --lines-per-dyno {args.lines_per_dyno} --rate {args.rate:g}` on {machine()}."),
        "",
        (f"- **full platform**: {args.dynos} web dynos on the process runtime printing "
         f"{args.dynos * args.lines_per_dyno} lines/s in all, {args.rate:g} req/s through the router from another "
         f"process (`{load_summary}`; the `m` presses put the app in maintenance, hence 503s), the TUI headless "
         f"at 160×48 on the app screen; daemon, dynos, load and TUI share the machine "
         f"(load average up to {load_avg:.1f}). Lag is from the dyno's `print` to the screen."),
        (f"- **TUI alone**: the same screen with recorded API answers ({args.dynos} dynos) and a synthetic "
         f"stream of {offered:g} lines/s made in the TUI process (load average up to {alone_load:.1f}). "
         "Lag is from the line being made to the screen."),
        "",
        "| figure | full platform | TUI alone | target |",
        "|---|---|---|---|",
        f"| log line → on screen, p50 / p95 / max | {full['lag']} | {solo['lag']} | p95 ≤ 500 ms |",
        (f"| of which in the TUI (read off the stream → on screen), p50 / p95 / max | {full['tui_lag']} | "
        f"{solo['tui_lag']} | |"),
        f"| lines reaching the TUI | {full['rate']} | {solo['rate']} | {offered:g}/s offered |",
        (f"| key press → screen, local (`p`, pause logs), p50 / max | {full['local']} | {solo['local']} | "
        "≤ 100 ms |"),
        f"| key press → screen through the API (`m`, maintenance), p50 / max | {full['api']} | — | |",
        f"| TUI process CPU, user + system | {full['cpu']} | {solo['cpu']} | |",
    ]
    write_section("tui", section)
    print("\n".join(section))
    print("-> bench/results.md")


if __name__ == "__main__":
    main()
