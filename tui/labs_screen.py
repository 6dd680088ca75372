"""TUI room: the labs screen — every lab with its state and last check; `s` starts the selected lab, `c` checks
it, the runner's lines streaming into the log below (tui/labs.py's LabsMixin runs them in a thread worker).
Reached from the apps screen with `L`."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Log, Static

from herokusim.client import ApiError
from herokusim.labs import catalogue, progress
from herokusim.labs.lab import CheckResult, Lab
from tui.labs import LabsMixin, result_text
from tui.screens import BaseScreen


class LabsScreen(LabsMixin, BaseScreen):
    """Every lab: number, title, state (not started / started / passed / waits for X), last check."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start lab"),
        Binding("c,enter", "check", "Check lab"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("escape", "back", "Apps"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    LabsScreen #labs-title { height: 1; background: $primary 30%; padding: 0 1; }
    LabsScreen DataTable { height: 2fr; }
    LabsScreen Log { height: 1fr; border-top: solid $primary 40%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.title = "labs"
        self.records: dict[int, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text("⬢ herokusim  labs", style="bold"), id="labs-title")
        table: DataTable[str | Text] = DataTable(cursor_type="row", id="labs-table")
        table.add_columns("#", "lab", "state", "last check")
        yield table
        yield Log(id="labs-log")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_labs()

    @work(exclusive=True, group="labs-poll")
    async def refresh_labs(self) -> None:
        try:
            self.records = {r["number"]: r for r in await self.api.request("GET", "/labs")}
        except ApiError as exc:
            self.records = {}
            self.query_one(Log).write_line(f"Progress unavailable: {exc.message}")
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for lab in catalogue.labs():
            record = self.records.get(lab.number)
            state = progress.state_text(lab, record)
            last = result_text(record.get("last_check")).split("\n")[0] if record else ""
            style = "bold green" if state == "passed" else "dim" if not lab.playable else ""
            table.add_row(str(lab.number), lab.title, Text(state, style=style), last, key=str(lab.number))
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def selected_lab(self) -> Lab | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        lab = catalogue.lab(int(key)) if key else None
        if lab is not None and not lab.playable:
            self.notify(f"Lab {lab.number} waits for {lab.waits_for}.", severity="warning")
            return None
        return lab

    def action_start(self) -> None:
        lab = self.selected_lab()
        if lab is not None:
            log = self.query_one(Log)
            log.write_line(f"Starting lab {lab.number} ({lab.title})...")
            self.run_lab(lab, "start", log.write_line, self._finished)

    def action_check(self) -> None:
        lab = self.selected_lab()
        if lab is None:
            return
        if lab.number not in self.records:
            self.notify(f"Lab {lab.number} is not started: press s to start it.", severity="warning")
            return
        log = self.query_one(Log)
        log.write_line(f"Checking lab {lab.number} ({lab.title})...")
        self.run_lab(lab, "check", log.write_line, self._finished)

    def _finished(self, result: Any) -> None:
        log = self.query_one(Log)
        if isinstance(result, Exception):
            log.write_line(f"! {result}")
        else:
            for line in (result_text(result) if isinstance(result, CheckResult) else str(result)).split("\n"):
                log.write_line(line)
        self.refresh_labs()

    def action_back(self) -> None:
        self.app.pop_screen()
