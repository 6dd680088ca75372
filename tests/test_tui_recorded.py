"""The TUI driven by Textual's pilot against recorded API answers: what the screens show, not how they look."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from tui_recorded import ANSWERS, APP, RecordedApi

from tui.app import HerokusimTui
from tui.panes import RouterPane
from tui.screens import AppScreen


def run(answers: dict[str, Any], body: Callable[[HerokusimTui, Pilot[None]], Coroutine[Any, Any, None]],
        app: str | None = "demo", size: tuple[int, int] = (160, 48)) -> None:
    async def main() -> None:
        tui = HerokusimTui(RecordedApi(answers), app)
        async with tui.run_test(size=size) as pilot:
            await body(tui, pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], predicate: Callable[[], object], message: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        await pilot.pause(0.05)


async def shown(pilot: Pilot[None], table_id: str) -> DataTable[Any]:
    table = pilot.app.screen.query_one(f"#{table_id}", DataTable)
    await until(pilot, lambda: table.row_count, f"rows in #{table_id}")
    await pilot.pause()
    return table


def row_of(table: DataTable[Any], key: str) -> dict[str, str]:
    """One row as {column label: cell text}."""
    labels = [str(column.label) for column in table.ordered_columns]
    return dict(zip(labels, (str(cell) for cell in table.get_row(key)), strict=True))


def shifted(value: str | None, by: timedelta) -> str | None:
    if value is None:
        return None
    return (datetime.fromisoformat(value) + by).isoformat().replace("+00:00", "Z")


def warped(by: timedelta) -> dict[str, Any]:
    """The recorded app as a daemon whose clock was warped `by` ahead: every time it gives is simulated."""
    answers = copy.deepcopy(ANSWERS)
    for dyno in answers["GET /apps/demo/dynos"]:
        for field in ("state_since", "created_at", "updated_at", "restart_at", "cycle_at"):
            dyno[field] = shifted(dyno[field], by)
    for release in answers["GET /apps/demo/releases"]:
        release["created_at"] = release["updated_at"] = shifted(release["created_at"], by)
    answers["GET /clock"] = {**answers["GET /clock"], "now": shifted(answers["GET /clock"]["now"], by)}
    return answers


def test_ages_follow_the_simulated_clock_after_a_warp() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        formation = await shown(pilot, "formation-table")
        assert row_of(formation, "dyno:web.1")["age"] == "4m"  # up since 17:25:04 (simulated) at 17:30
        assert row_of(formation, "dyno:worker.1")["cool-off"] == "19m"
        releases = await shown(pilot, "releases-table")
        assert [row_of(releases, r["id"])["age"] for r in ANSWERS["GET /apps/demo/releases"][:2]] == ["5m", "20m"]

    run(warped(timedelta(days=3, hours=5)), body)  # the wall clock (RecordedApi.now) stays at NOW


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_cycle_column_is_whole_at_80_and_160_columns(size: tuple[int, int]) -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "formation-table")
        assert row_of(table, "dyno:web.1")["cycle"] == "1d2h"
        # every column it shows is whole: nothing runs past the pane's edge
        assert table.virtual_size.width <= table.scrollable_content_region.width
        if size[0] >= 160:
            assert {"in-flight", "cool-off", "memory"} <= set(row_of(table, "dyno:web.1"))

    run(ANSWERS, body, size=size)


def test_formation_columns_refit_when_the_window_grows() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "formation-table")
        assert "memory" not in row_of(table, "dyno:web.1")
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: "memory" in row_of(table, "dyno:web.1"), "the memory column")
        assert row_of(table, "dyno:web.1")["memory"] == "142/512MB"
        assert table.virtual_size.width <= table.scrollable_content_region.width

    run(ANSWERS, body, size=(80, 24))


def test_router_pane_drops_a_dyno_scaled_away() -> None:
    answers = copy.deepcopy(ANSWERS)
    metrics = answers["GET /apps/demo/router-metrics"]
    metrics["dynos"].append({"name": "web.3", "inflight": 0, "requests": 12, "requests_per_second": 0.2})
    # web.3 served requests inside the metrics window, then `ps:scale web=2` took it away

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "formation-table")
        router = tui.screen.query_one(RouterPane)
        assert "web.1" in router.text and "web.2" in router.text
        assert "web.3" not in router.text

    run(answers, body)


def test_q_quits_on_the_app_screen_too() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "formation-table")
        assert isinstance(tui.screen, AppScreen)
        await pilot.press("q")
        await until(pilot, lambda: tui.return_code is not None, "the app to exit")
        assert tui.return_code == 0, "q should quit, as it does on the apps screen"

    run(ANSWERS, body)


def test_apps_are_sorted_by_name() -> None:
    answers = copy.deepcopy(ANSWERS)
    answers["GET /apps"] = [{**APP, "id": "z", "name": "zebra"}, *answers["GET /apps"],
                            {**APP, "id": "a", "name": "alpha"}]

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "apps-table")
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["alpha", "demo", "staging", "zebra"]

    run(answers, body, app=None)

