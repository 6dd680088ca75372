"""The TUI driven by Textual's pilot against a real daemon with python-hello deployed."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log

from herokusim.client import parse_time
from tui.app import HerokusimTui
from tui.client import Api, Target
from tui.modals import ConfirmScreen, PromptScreen, TextScreen
from tui.panes import LogsPane, RouterPane
from tui.screens import AppScreen, AppsScreen

SIZE = (160, 48)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon for the module with `demo` deployed and answering (a deploy costs seconds)."""
    tmp = tmp_path_factory.mktemp("tui")
    daemon = start_daemon(tmp / "home")
    try:
        repo = checkout_of("python-hello", tmp / "python-hello")
        assert daemon.cli("apps:create", "demo", cwd=repo).returncode == 0
        assert daemon.cli("git:remote", "-a", "demo", cwd=repo).returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        wait_for(lambda: daemon.get("demo.localhost").status_code == 200, message="demo to answer")
        yield daemon
    finally:
        stop_daemon(daemon)


def tui_for(daemon: Daemon, app: str | None = "demo") -> HerokusimTui:
    return HerokusimTui(Api(Target(f"http://127.0.0.1:{daemon.api_port}", daemon.router_port, daemon.token)), app)


def run(daemon: Daemon, body: Callable[[HerokusimTui, Pilot[None]], Coroutine[Any, Any, None]],
        app: str | None = "demo") -> None:
    async def main() -> None:
        tui = tui_for(daemon, app)
        async with tui.run_test(size=SIZE) as pilot:
            await body(tui, pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], predicate: Callable[[], object], message: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def rows(tui: HerokusimTui, table_id: str) -> list[str]:
    table = tui.screen.query_one(f"#{table_id}", DataTable)
    return [" ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]


def version_of(row: str) -> int:
    match = re.search(r"\bv(\d+)\b", row)
    return int(match.group(1)) if match else -1


async def answer(tui: HerokusimTui, pilot: Pilot[None], text: str) -> None:
    """Fill the prompt that just opened and press enter (typing key by key is slow under the pilot)."""
    await until(pilot, lambda: isinstance(tui.screen, PromptScreen), "the prompt")
    tui.screen.query_one(Input).value = text
    await pilot.press("enter")


def formation_of(daemon: Daemon) -> dict[str, int]:
    return {f["type"]: f["quantity"] for f in daemon.api("GET", "/apps/demo/formation").json()}


def notifications(tui: HerokusimTui) -> list[str]:
    return [n.message for n in tui._notifications]


def test_dyno_up_and_scale_key_adds_a_dyno(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        assert isinstance(tui.screen, AppScreen)
        await until(pilot, lambda: any("web.1 up" in r for r in rows(tui, "formation-table")), "web.1 up")
        await pilot.press("plus")  # the cursor starts on the `web` row
        await until(pilot, lambda: formation_of(deployed)["web"] == 2, "the API formation to say web=2")
        await until(pilot, lambda: any("web.2 up" in r for r in rows(tui, "formation-table")), "web.2 up")
        assert any("web ×2" in r for r in rows(tui, "formation-table"))
        await pilot.press("minus")
        await until(pilot, lambda: formation_of(deployed)["web"] == 1, "scaled back to 1")

    run(deployed, body)


def test_request_shows_in_logs_and_router(deployed: Daemon) -> None:
    metrics = deployed.api("GET", "/apps/demo/router-metrics")
    assert metrics.status_code == 200, f"the daemon offers router metrics: {metrics.text}"

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        logs = tui.screen.query_one(LogsPane)
        router = tui.screen.query_one(RouterPane)
        await until(pilot, lambda: logs.received > 0, "the log history")
        marker = f"/config/TUI_{time.monotonic_ns()}"
        assert (await asyncio.to_thread(deployed.get, "demo.localhost", marker)).status_code == 404
        await until(pilot, lambda: any(e.process == "router" and marker in e.message for e in logs.ring),
                    "the router line in the logs pane")
        log_text = "\n".join(logs.query_one("#log", Log).lines)
        assert marker in log_text, "the line reached the screen, not only the buffer"
        await until(pilot, lambda: router.metrics is not None and router.metrics["status"]["4xx"] >= 1,
                    "the router's 4xx count")
        await until(pilot, lambda: "4xx" in router.text and "web.1" in router.text, "the router pane")
        assert "not offered" not in str(router.query_one(".reason").render())

    run(deployed, body)


def test_config_set_and_rollback_from_releases_pane(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        before = deployed.api("GET", "/apps/demo/releases").json()[-1]["version"]
        await pilot.press("c")
        await answer(tui, pilot, "TUI_GREETING=hello")
        await until(pilot, lambda: deployed.api("GET", "/apps/demo/config-vars").json().get("TUI_GREETING")
                    == "hello", "the config var")
        await until(pilot, lambda: any("TUI_GREETING" in r for r in rows(tui, "config-table")),
                    "the config pane to show it")
        await until(pilot, lambda: version_of(rows(tui, "releases-table")[0]) == before + 1,
                    "the new release on top")
        # the new release's details: the config diff against the release before
        table = tui.screen.query_one("#releases-table", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(tui.screen, TextScreen), "the release details")
        details = tui.screen.text  # type: ignore[attr-defined]
        assert "+ TUI_GREETING=hello" in details and "Set TUI_GREETING config vars" in details, details
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(tui.screen, AppScreen), "back to the app screen")
        # roll back to the release before the config change
        table.move_cursor(row=[version_of(r) for r in rows(tui, "releases-table")].index(before))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(tui.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: deployed.api("GET", "/apps/demo/releases").json()[-1]["description"]
                    == f"Rollback to v{before}", "the rollback release")
        await until(pilot, lambda: version_of(rows(tui, "releases-table")[0]) == before + 2,
                    "the rollback release on screen")
        assert "TUI_GREETING" not in deployed.api("GET", "/apps/demo/config-vars").json()

    run(deployed, body)


def test_maintenance_toggle_and_api_errors_are_notifications(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: "maintenance off" in str(tui.screen.query_one("#status").render()),
                    "the status line")
        await pilot.press("m")
        await until(pilot, lambda: deployed.api("GET", "/apps/demo").json()["maintenance"], "maintenance on")
        await until(pilot, lambda: "maintenance ON" in str(tui.screen.query_one("#status").render()),
                    "the status line to say ON")
        await pilot.press("m")
        await until(pilot, lambda: not deployed.api("GET", "/apps/demo").json()["maintenance"], "maintenance off")
        # an invalid config var name: the API's own message, not a traceback
        await pilot.press("c")
        await answer(tui, pilot, "1BAD=x")
        await until(pilot, lambda: any("Invalid config var name '1BAD'" in n for n in notifications(tui)),
                    "the API's message")
        assert not any("Traceback" in n for n in notifications(tui))
        # input the TUI cannot send: it says why, without asking the API
        await pilot.press("c")
        await answer(tui, pilot, "=novalue")
        await until(pilot, lambda: any("is not KEY=value" in n for n in notifications(tui)), "the input error")

    run(deployed, body)


def test_restart_stop_and_warp_keys(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        screen = tui.screen
        logs = screen.query_one(LogsPane)
        await until(pilot, lambda: any("web.1 up" in r for r in rows(tui, "formation-table")), "web.1 up")
        table = screen.query_one("#formation-table", DataTable)
        table.move_cursor(row=[r.split()[0] for r in rows(tui, "formation-table")].index("web.1"))
        seen = logs.received
        await pilot.press("r")
        await until(pilot, lambda: any(e.process == "web.1" and "Restarting" in e.message
                                       for e in list(logs.ring)[-(logs.received - seen):]), "web.1 restarting")
        await until(pilot, lambda: any("web.1 up" in r for r in rows(tui, "formation-table")), "web.1 up again")
        seen = logs.received
        await pilot.press("x")
        await until(pilot, lambda: any(e.process == "web.1" and "SIGTERM" in e.message
                                       for e in list(logs.ring)[-(logs.received - seen):]), "web.1 stopping")
        before = parse_time(deployed.api("GET", "/clock").json()["now"])
        await pilot.press("w")
        await until(pilot, lambda: (parse_time(deployed.api("GET", "/clock").json()["now"]) - before)
                    .total_seconds() >= 3600, "the clock to move an hour")
        await until(pilot, lambda: screen.clock is not None and parse_time(screen.clock["now"]) is not None
                    and (parse_time(screen.clock["now"]) - before).total_seconds() >= 3600,  # type: ignore[operator]
                    "the status line's clock")
        assert not any("Traceback" in n for n in notifications(tui))
        await until(pilot, lambda: any("web.1 up" in r for r in rows(tui, "formation-table")),
                    "the formation to replace the stopped dyno", timeout=60)

    run(deployed, body)


def test_apps_screen_create_open_destroy(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        assert isinstance(tui.screen, AppsScreen)
        await until(pilot, lambda: any(r.startswith("demo process v") and "web 1/1" in r
                                       for r in rows(tui, "apps-table")), "the demo row")
        await pilot.press("n")
        await answer(tui, pilot, "tui-made")
        await until(pilot, lambda: any(r.startswith("tui-made") for r in rows(tui, "apps-table")), "tui-made")
        table = tui.screen.query_one("#apps-table", DataTable)
        table.move_cursor(row=[r.split()[0] for r in rows(tui, "apps-table")].index("tui-made"))
        await pilot.press("d")
        await answer(tui, pilot, "wrong")
        await until(pilot, lambda: any("Confirmation did not match tui-made" in n for n in notifications(tui)),
                    "the refusal of a wrong name")
        assert deployed.api("GET", "/apps/tui-made").status_code == 200, "a wrong name destroys nothing"
        await pilot.press("d")
        await answer(tui, pilot, "tui-made")
        await until(pilot, lambda: deployed.api("GET", "/apps/tui-made").status_code == 404, "tui-made gone")
        table.move_cursor(row=[r.split()[0] for r in rows(tui, "apps-table")].index("demo"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(tui.screen, AppScreen), "the app screen")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(tui.screen, AppsScreen), "back to the apps screen")

    run(deployed, body, app=None)


def test_load_generator_from_the_app_screen(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        screen = tui.screen
        assert isinstance(screen, AppScreen)
        await until(pilot, lambda: any("web.1 up" in r for r in rows(tui, "formation-table")), "web.1 up")
        await pilot.press("l")
        await answer(tui, pilot, "rate=20 concurrency=4 path=/dyno duration=1")
        await until(pilot, lambda: screen.load is not None, "the load generator to start")
        assert screen.load is not None
        await until(pilot, lambda: not screen.load.running, "the load run to stop by itself", timeout=90)  # type: ignore[union-attr]
        stats = screen.load.stats
        # every request due in the second was sent or skipped (a busy machine skips, at the concurrency limit),
        # and every one sent got the app's answer
        assert stats.sent + stats.skipped >= 19 and stats.sent >= 1, stats
        assert stats.statuses == {200: stats.sent} and stats.failed == 0, stats
        assert screen.load.url.startswith("http://127.0.0.1:")

    run(deployed, body)


def test_command_palette_lists_every_action(deployed: Daemon) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        titles = [c.title for c in tui.get_system_commands(tui.screen)]
        for title in ("Scale +1", "Restart", "Restart all dynos", "Rollback", "Config set", "Maintenance", "Warp 24h", "Load",
                      "Search logs"):
            assert title in titles
        await pilot.press("question_mark")
        await until(pilot, lambda: "keys" in str(tui.screen.query_one(".title").render()), "the help screen")
        await pilot.press("escape")

    run(deployed, body)


def test_push_shows_build_output_in_logs(deployed: Daemon) -> None:
    repo = deployed.home.parent / "python-hello"

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        screen = tui.screen
        assert isinstance(screen, AppScreen)
        logs = screen.query_one(LogsPane)
        await until(pilot, lambda: screen.builds_seen is not None, "the first look at the builds")
        (repo / "NOTES.txt").write_text("a second deploy\n")
        git("add", "NOTES.txt", cwd=repo)
        assert git("commit", "-q", "-m", "second", cwd=repo).returncode == 0
        push = await asyncio.to_thread(git, "push", "herokusim", "main", cwd=repo, env=deployed.env)
        assert push.returncode == 0, push.stderr
        await until(pilot, lambda: any(e.process == "build" and "Python app detected" in e.message
                                       for e in logs.ring), "the build output in the logs pane")
        await until(pilot, lambda: any("Build succeeded" in n for n in notifications(tui)),
                    "the notification that the build succeeded")

    run(deployed, body)


def test_tui_command_is_registered() -> None:
    from click.testing import CliRunner

    from herokusim.cli.main import main

    result = CliRunner().invoke(main, ["tui", "--help"])
    assert result.exit_code == 0 and "terminal UI" in result.output


def _run_tui_in_pty(env: dict[str, str], *args: str, steps: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
    """`herokusim tui ARGS` in a real pseudo-terminal; each step waits for its text, then sends its keys."""
    import pty
    import select
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execvpe(sys.executable, [sys.executable, "-m", "herokusim", "tui", *args],
                   {**env, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"})
    output, seen, deadline = b"", 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        if steps and steps[0][0] in output[seen:]:
            seen = len(output)
            time.sleep(0.3)
            os.write(fd, steps.pop(0)[1])
        readable, _, _ = select.select([fd], [], [], 0.2)
        if readable:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal: it exited
                break
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return output, status


def test_tui_command_starts_a_daemon_and_stops_it_on_exit(tmp_path: Path) -> None:
    from conftest import free_port

    env = {**os.environ, "HEROKUSIM_HOME": str(tmp_path / "home"), "HEROKUSIM_API_PORT": str(free_port()),
           "HEROKUSIM_ROUTER_PORT": str(free_port()), "HEROKUSIM_GIT_PORT": str(free_port()),
           "HEROKUSIM_RUNTIME": "process", "HEROKUSIM_STOP_GRACE": "3"}
    env.pop("HEROKUSIM_API_KEY", None)
    output, status = _run_tui_in_pty(env, steps=[(b"no apps yet", b"q")])
    assert status == 0, output[-2000:]
    assert b"starting one for this session" in output and b"Stopping the daemon" in output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{env['HEROKUSIM_API_PORT']}/account", timeout=5)


def test_tui_command_attaches_to_a_running_daemon(deployed: Daemon) -> None:
    output, status = _run_tui_in_pty(deployed.env, "-a", "demo", steps=[(b"formation", b"\x1b"),
                                                                       (b"Create app", b"q")])
    assert status == 0, output[-2000:]
    assert b"starting one" not in output
    assert deployed.api("GET", "/account").status_code == 200, "the daemon we attached to keeps running"
