"""The TUI's labs against recorded API answers and a recorded labs backend: the labs screen (`L` on the apps
screen) lists each lab with its state, starts and checks the selected one with the runner's lines streaming
into it; a lab app's screen shows the task and the last check, and `k` streams a check into that pane. The
existing screens (and their SVG snapshots) are unchanged: the binding is hidden, the pane shows on lab apps
only. Plus `herokusim tui --web`: textual-serve answering HTTP on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, free_port
from test_tui_recorded import row_of, shown, until
from textual.pilot import Pilot
from textual.widgets import Log, Static
from tui_recorded import ANSWERS, RecordedApi

from herokusim.labs.catalogue import lab
from herokusim.labs.lab import CheckResult, Lab
from tui.app import HerokusimTui
from tui.labs import LabPane
from tui.screens import AppScreen

LAB6_APP = "lab6-port-ab12"
STARTED = {"number": 6, "state": "started", "apps": {"app": LAB6_APP}, "checkout": "/tmp/lab06-port-r10",
           "last_check": {"passed": False, "observation": "heroku[web.1]: Error R10 (Boot timeout)",
                          "hint": "Which port does app.py bind?", "at": "2026-11-26T17:20:00Z"},
           "started_at": "2026-11-26T17:00:00Z", "updated_at": "2026-11-26T17:20:00Z"}
LAB6_ANSWERS = {**ANSWERS, "GET /labs": [STARTED],
                **{key.replace("/apps/demo", f"/apps/{LAB6_APP}"): value for key, value in ANSWERS.items()
                   if key.startswith("GET /apps/demo")}}


class RecordedLabs:
    """A labs backend that says what a check says and answers what was recorded."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result
        self.calls: list[tuple[str, int]] = []

    def start(self, lab: Lab, say: Callable[[str], None]) -> str:
        self.calls.append(("start", lab.number))
        say(f"Creating lab{lab.number}-port-ab12...")
        return f"Lab {lab.number} started"

    def check(self, lab: Lab, say: Callable[[str], None]) -> CheckResult:
        self.calls.append(("check", lab.number))
        say("Waiting for web.1 to boot (Heroku gives a web dyno 60 s to bind $PORT)...")
        say("web.1 is up; sending a request through the router...")
        return self.result


def run(answers: dict[str, Any], labs: RecordedLabs | None,
        body: Callable[[HerokusimTui, Pilot[None]], Coroutine[Any, Any, None]], app: str | None = None) -> None:
    async def main() -> None:
        tui = HerokusimTui(RecordedApi(answers), app, labs=labs)  # type: ignore[arg-type]
        async with tui.run_test(size=(160, 48)) as pilot:
            await body(tui, pilot)

    asyncio.run(main())


def log_text(widget: Log) -> str:
    return "\n".join(widget.lines)


def test_the_labs_screen_lists_starts_and_checks() -> None:
    labs = RecordedLabs(CheckResult.ok("web.1 bound $PORT and is up; GET / answered 200."))

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "apps-table")
        await pilot.press("L")
        table = await shown(pilot, "labs-table")
        assert tui.screen.title == "labs"
        assert row_of(table, "6") == {"#": "6", "lab": "$PORT and R10", "state": "started",
                                      "last check": "FAIL: heroku[web.1]: Error R10 (Boot timeout)"}
        table.move_cursor(row=table.get_row_index("6"))
        await pilot.press("c")
        log = tui.screen.query_one(Log)
        await until(pilot, lambda: "PASS: web.1 bound $PORT" in log_text(log), "the check's result")
        text = log_text(log)
        assert text.index("Checking lab 6") < text.index("Waiting for web.1") < text.index("PASS:")
        await pilot.press("s")
        await until(pilot, lambda: "Lab 6 started" in log_text(log), "the start's result")
        assert "Creating lab6-port-ab12..." in log_text(log)
        assert labs.calls == [("check", 6), ("start", 6)]
        await pilot.press("escape")
        assert tui.screen.title == "apps"

    run({**ANSWERS, "GET /labs": [STARTED]}, labs, body)


def test_a_lab_not_started_is_listed_and_a_daemon_without_labs_still_lists() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "apps-table")
        await pilot.press("L")
        table = await shown(pilot, "labs-table")
        assert row_of(table, "6")["state"] == "not started"
        await until(pilot, lambda: "Progress unavailable" in log_text(tui.screen.query_one(Log)), "the reason")

    run(ANSWERS, None, body)  # no GET /labs recorded: an older daemon


def test_a_lab_apps_screen_shows_the_task_and_streams_a_check() -> None:
    labs = RecordedLabs(CheckResult.fail("heroku[web.1]: Error R10 (Boot timeout)", "Which port does app.py bind?"))

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        assert isinstance(tui.screen, AppScreen)
        pane = tui.screen.query_one(LabPane)
        await until(pilot, lambda: pane.display, "the lab pane")
        port_lab = lab(6)
        assert port_lab is not None and pane.border_title == "lab 6: $PORT and R10"
        assert "Make the app listen" in str(pane.query_one("#lab-task", Static).render())
        result = pane.query_one("#lab-result", Static)
        assert "Last check: FAIL: heroku[web.1]: Error R10" in str(result.render())
        await pilot.press("k")
        await until(pilot, lambda: "web.1 is up" in log_text(pane.query_one(Log)), "the check's lines")
        await until(pilot, lambda: "Hint: Which port" in str(result.render()), "the new result")

    run(LAB6_ANSWERS, labs, body, app=LAB6_APP)


def test_an_app_of_no_lab_has_no_lab_pane() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "formation-table")
        await until(pilot, lambda: "GET /labs" in tui.api.calls, "the lab lookup")  # type: ignore[attr-defined]
        await pilot.pause(0.2)
        assert not tui.screen.query_one(LabPane).display

    run({**ANSWERS, "GET /labs": [STARTED]}, None, body, app="demo")


def test_tui_web_answers_http_on_loopback_only(tmp_path: Path) -> None:
    """`herokusim tui --web` (against a daemon of its own home: none answers, so it starts one) serves the page
    on 127.0.0.1 and not on the machine's other addresses."""
    port = free_port()
    env = {"HEROKUSIM_HOME": str(tmp_path / "home"), "HEROKUSIM_API_PORT": str(free_port()),
           "HEROKUSIM_ROUTER_PORT": str(free_port()), "HEROKUSIM_GIT_PORT": str(free_port()),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "herokusim", "tui", "--web", "--port", str(port)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "tui --web did not answer"
                time.sleep(0.5)
        assert page.status_code == 200 and "herokusim" in page.text
        outside = socket.gethostbyname(socket.gethostname())
        if not outside.startswith("127."):
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((outside, port)) != 0, f"tui --web answers on {outside}"
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
