"""Snapshot tests of the TUI with recorded API answers and a frozen clock, small and large terminals.

Update after an intended change with `python3 -m pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from tui_recorded import ANSWERS, RATES, RecordedApi

from tui.app import HerokusimTui
from tui.panes import LogsPane, RouterPane

SIZES = [(80, 24), (160, 48)]


async def until(pilot: Pilot[None], predicate: Callable[[], object], message: str) -> None:
    """Wait for what the snapshot shows (a deadline for a busy machine, not a fixed pause)."""
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        await pilot.pause(0.05)


async def app_screen_ready(pilot: Pilot[None]) -> None:
    screen = pilot.app.screen
    await until(pilot, lambda: screen.query_one("#formation-table", DataTable).row_count
                and screen.query_one(LogsPane).received, "the formation and the logs")
    router = screen.query_one(RouterPane)
    router.rates = deque(RATES, maxlen=router.HISTORY)  # a minute of history, as a class would have seen
    router.render_body()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_app_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(HerokusimTui(RecordedApi(), "demo"), terminal_size=size, run_before=app_screen_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_app_screen_without_router_and_clock(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A daemon from before issues 3 and 4: the panes say why they are empty."""
    answers = {k: v for k, v in ANSWERS.items() if "router-metrics" not in k and k != "GET /clock"}
    assert snap_compare(HerokusimTui(RecordedApi(answers), "demo"), terminal_size=size,
                        run_before=app_screen_ready)


async def apps_ready(pilot: Pilot[None]) -> None:
    await until(pilot, lambda: pilot.app.screen.query_one("#apps-table", DataTable).row_count, "the apps")
    await pilot.pause()


def test_apps_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(HerokusimTui(RecordedApi()), terminal_size=(80, 24), run_before=apps_ready)


async def release_details(pilot: Pilot[None]) -> None:
    await app_screen_ready(pilot)
    pilot.app.screen.query_one("#releases-table", DataTable).move_cursor(row=0)
    await pilot.press("i")
    await until(pilot, lambda: pilot.app.screen.query(".title"), "the release details")
    await pilot.pause()


def test_release_details_with_config_diff(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(HerokusimTui(RecordedApi(), "demo"), terminal_size=(80, 24), run_before=release_details)
