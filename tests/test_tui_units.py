"""The TUI's pure parts: formatting, log filters, config diffs, load plans and the client's error mapping."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from rich.text import Text

from herokusim.client import ApiError, Unavailable, error_of
from tui.client import Api, Target
from tui.format import (
    LogEntry,
    LogFilter,
    LogHighlighter,
    age,
    bar,
    config_diff,
    dynos_summary,
    sparkline,
    until,
)
from tui.loadgen import MAX_CONCURRENCY, MAX_DURATION, MAX_RATE, LoadError, LoadGenerator, LoadPlan

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
ROUTER_LINE = ('2026-11-26T11:59:59.123456+00:00 heroku[router]: at=error code=H12 desc="Request timeout" '
               'method=GET path="/slow" dyno=web.1 status=503')


def test_ages_and_countdowns() -> None:
    assert age("2026-11-26T11:59:18Z", NOW) == "42s"
    assert age("2026-11-26T11:55:00Z", NOW) == "5m"
    assert age("2026-11-26T09:30:00Z", NOW) == "2h30m"
    assert age("2026-11-24T10:00:00Z", NOW) == "2d2h"
    assert age(None, NOW) == "—"
    assert until("2026-11-26T12:20:00Z", NOW) == "20m"
    assert until("2026-11-26T11:00:00Z", NOW) == "now"
    assert until(None, NOW) == "—"


def test_bars_and_sparklines() -> None:
    assert bar(0, 10, 5) == "·····"
    assert bar(5, 10, 4) == "██··"
    assert bar(50, 10, 3) == "███"  # clamped at full
    assert sparkline([0, 0, 0], 5) == "▁▁▁"
    assert sparkline([1, 2, 4, 8], 3) == "▃▅█"  # the last `width` samples, scaled to their maximum


def test_log_entries_parse_and_filter() -> None:
    entry = LogEntry.parse(ROUTER_LINE)
    assert (entry.source, entry.process) == ("heroku", "router")
    assert entry.message.startswith("at=error code=H12")
    assert entry.line(wide=False).startswith("11:59:59 heroku[router]: at=error")
    assert entry.line(wide=True).startswith("11:59:59.123 heroku[router]:")
    shown = Text(entry.line(wide=False))
    LogHighlighter().highlight(shown)
    assert {span.style for span in shown.spans} == {"dim", "magenta", "bold red"}
    web = LogEntry.parse("2026-11-26T11:59:59.000000+00:00 app[web.2]: GET / 200")
    assert LogFilter("heroku").matches(entry) and not LogFilter("heroku").matches(web)
    assert LogFilter("web").matches(web) and LogFilter("web.2").matches(web)
    assert not LogFilter("web.1").matches(web)
    assert LogFilter("router").matches(entry)
    assert LogFilter(search="h12").matches(entry) and not LogFilter(search="h12").matches(web)
    assert LogEntry.parse("not a log line").message == "not a log line"


def test_config_diff_and_dyno_summary() -> None:
    lines = [t.plain for t in config_diff({"A": "1", "B": "2"}, {"A": "1", "B": "3", "C": "4"})]
    assert lines == ["~ B: 2 → 3", "+ C=4"]
    assert [t.plain for t in config_diff({"A": "1"}, {})] == ["- A"]
    assert [t.plain for t in config_diff({}, {})] == ["(no config changes)"]
    dynos = [{"type": "web", "state": "up"}, {"type": "web", "state": "starting"}, {"type": "worker",
                                                                                   "state": "crashed"}]
    assert dynos_summary(dynos) == "web 1/2 worker 0/1"
    assert dynos_summary([]) == "—"


def test_load_plans_are_bounded() -> None:
    plan = LoadPlan.parse("demo", "rate=50 concurrency=5 path=/slow duration=10")
    assert (plan.rate, plan.concurrency, plan.path, plan.duration) == (50, 5, "/slow", 10)
    assert LoadPlan.parse("demo", "") == LoadPlan("demo")
    for bad in (f"rate={MAX_RATE + 1}", "rate=0", f"concurrency={MAX_CONCURRENCY + 1}",
                f"duration={MAX_DURATION + 1}", "path=http://example.com/", "path=relative", "rate=fast",
                "target=10.0.0.1"):
        with pytest.raises(LoadError):
            LoadPlan.parse("demo", bad)


def test_load_generator_targets_loopback_and_stops_by_itself() -> None:
    """Against a closed port: every request fails fast, and the run still ends on time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> LoadGenerator:
        generator = LoadGenerator(port, LoadPlan("demo", rate=40, concurrency=2, duration=0.5))
        assert generator.url == f"http://127.0.0.1:{port}/" and generator.host == "demo.localhost"
        generator.start()
        await asyncio.wait_for(generator.wait(), 10)
        return generator

    generator = asyncio.run(main())
    assert not generator.running
    assert generator.stats.failed == generator.stats.sent > 0


def test_api_errors_carry_the_api_message() -> None:
    missing = error_of(httpx.Response(404, json={"id": "not_found",
                                                 "message": "The requested API endpoint /clock was not found."}))
    assert isinstance(missing, Unavailable)
    no_app = error_of(httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that app."}))
    assert not isinstance(no_app, Unavailable) and no_app.message == "Couldn't find that app."
    assert error_of(httpx.Response(500, text="boom")).message == "500 Internal Server Error"


def test_daemon_not_running_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> str:
        api = Api(Target(f"http://127.0.0.1:{port}", 1, "token"))
        try:
            await api.apps()
        except ApiError as exc:
            return exc.message
        finally:
            await api.aclose()
        return ""

    message = asyncio.run(main())
    assert "not answering" in message and "\n" not in message


def test_logs_pane_filter_search_and_pause_with_recorded_answers() -> None:
    """The logs pane's keys, on recorded answers (no daemon): f filters, / searches, p pauses."""
    from textual.widgets import Input, Log
    from tui_recorded import LOG_LINES, RecordedApi

    from tui.app import HerokusimTui
    from tui.modals import PromptScreen
    from tui.panes import LogsPane

    async def main() -> None:
        tui = HerokusimTui(RecordedApi(), "demo")
        async with tui.run_test(size=(120, 40)) as pilot:
            async def wait(predicate: Callable[[], object], message: str) -> None:
                deadline = time.monotonic() + 30
                while not predicate():
                    assert time.monotonic() < deadline, f"timed out waiting for {message}"
                    await pilot.pause(0.05)

            logs = tui.screen.query_one(LogsPane)
            await wait(lambda: logs.received == len(LOG_LINES), "the recorded log lines")

            async def answer(key: str, text: str, applied: Callable[[], object]) -> None:
                await pilot.press(key)
                await wait(lambda: isinstance(tui.screen, PromptScreen), "the prompt")
                tui.screen.query_one(Input).value = text
                await pilot.press("enter")
                await wait(applied, f"{text!r} to apply")

            shown = lambda: logs.query_one(Log).lines
            await answer("f", "router", lambda: logs.filter.where == "router")
            assert shown() and all("heroku[router]" in line for line in shown())
            await answer("slash", "h12", lambda: logs.filter.search == "h12")
            assert len(shown()) == 1 and "code=H12" in shown()[0]
            await answer("f", "", lambda: logs.filter.where == "")
            await answer("slash", "", lambda: logs.filter.search == "")
            assert len(shown()) == len(LOG_LINES)
            await pilot.press("p")
            await wait(lambda: logs.paused, "the pane to pause")
            logs.add(["2026-11-26T17:30:01.000000+00:00 app[web.2]: GET /late 200"])
            await wait(lambda: logs.received == len(LOG_LINES) + 1, "the late line to be taken in")
            assert not any("/late" in line for line in shown()), "paused: nothing new on screen"
            await pilot.press("p")
            await wait(lambda: not logs.paused, "the pane to resume")
            assert "/late" in shown()[-1], "resumed: what arrived meanwhile is appended"

    asyncio.run(main())
