"""TUI room: the panes of the app screen — each one renders what the API said and nothing more."""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Log, Static

from tui.format import (
    LogEntry,
    LogFilter,
    LogHighlighter,
    age,
    bar,
    dyno_order,
    memory,
    sparkline,
    state_text,
    until,
)
from tui.loadgen import LoadGenerator

LOG_RING = 1500  # lines kept for re-filtering, as many as logplex keeps
LOG_FLUSH_SECONDS = 0.075  # batch window: one widget update per window, never one per line

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]
# what fill_table last put in each table: (key, cell texts) per row; a closed screen's tables drop out
SHOWN: weakref.WeakKeyDictionary[DataTable[Cell], list[tuple[str, tuple[str, ...]]]] = weakref.WeakKeyDictionary()


def fill_table(table: DataTable[Cell], rows: list[Row]) -> None:
    """Show these rows, keeping the cursor on the same key. Unchanged rows are left alone; when only some
    cells changed (ages tick every second) those cells are updated in place rather than the table rebuilt."""
    signature = [(key, tuple(str(c) for c in cells)) for key, cells in rows]
    before = SHOWN.get(table)
    if before == signature:
        return
    SHOWN[table] = signature
    if before is not None and [key for key, _ in before] == [key for key, _ in signature]:
        for row, ((_, old), (_, new), (_, cells)) in enumerate(zip(before, signature, rows, strict=True)):
            for column, (was, now) in enumerate(zip(old, new, strict=True)):
                if was != now:
                    table.update_cell_at(Coordinate(row, column), cells[column], update_width=True)
        return
    selected = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [key for key, _ in rows]
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable[Cell]) -> str | None:
    if not table.row_count or not 0 <= table.cursor_row < table.row_count:
        return None
    return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value


class Pane(Vertical):
    """A bordered pane with a title and a one-line reason when it has nothing to show."""

    DEFAULT_CSS = """
    Pane { border: round $primary 40%; height: 1fr; padding: 0 0; }
    Pane:focus-within { border: round $accent; }
    Pane > .reason { color: $text-muted; height: auto; }
    Pane > #router-body { height: 1fr; }
    Pane DataTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = title

    def compose_reason(self) -> Static:
        reason = Static("", classes="reason")
        reason.display = False
        return reason

    def say(self, reason: str) -> None:
        if getattr(self, "_reason", "") == reason:
            return  # unchanged: no layout pass
        self._reason = reason
        widget = self.query_one(".reason", Static)
        widget.update(reason)
        widget.display = bool(reason)


class FormationPane(Pane):
    COLUMNS = ("dyno", "state", "age", "in-flight", "cool-off", "memory", "cycle", "command")
    # A narrow pane leaves out whole columns, last of this list first, rather than cut one or scroll sideways.
    # In-flight counts also show in the router pane beside this one.
    KEEP = ("dyno", "state", "age", "cycle", "cool-off", "in-flight", "memory", "command")

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.rows: list[Row] = []
        self.columns: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        yield DataTable(cursor_type="row", zebra_stripes=False, id="formation-table")

    def on_resize(self) -> None:
        self.fit()

    def show(self, formation: list[dict[str, Any]], dynos: list[dict[str, Any]],
             inflight: dict[str, int], now: datetime) -> None:
        """Ages, cool-offs and cycling against `now`, the platform's simulated now (they all run on it)."""
        rows: list[Row] = []
        by_type: dict[str, list[dict[str, Any]]] = {}
        for dyno in dynos:
            by_type.setdefault(dyno.get("type", "?"), []).append(dyno)
        types = [f["type"] for f in sorted(formation, key=lambda f: f["type"])]
        types += sorted(t for t in by_type if t not in types)
        for item in formation:
            by_type.setdefault(item["type"], [])
        sizes = {f["type"]: f for f in formation}
        most = max(inflight.values(), default=0) or 1
        for kind in types:
            item = sizes.get(kind)
            if item is not None:
                rows.append((f"type:{kind}", (
                    Text(f"{kind} ×{item['quantity']}", style="bold"), "", "", "", "", "", "",
                    Text(f"{item.get('size') or ''}: {item.get('command') or ''}", style="dim"))))
            for dyno in sorted(by_type[kind], key=lambda d: dyno_order(d["name"])):
                count = inflight.get(dyno["name"])
                rows.append((f"dyno:{dyno['name']}", (
                    f" {dyno['name']}", state_text(dyno.get("state", "?")),
                    age(dyno.get("state_since") or dyno.get("updated_at"), now),
                    "—" if count is None else f"{bar(count, most, 4)} {count}",
                    until(dyno.get("restart_at"), now), memory(dyno), until(dyno.get("cycle_at"), now),
                    "")))
        self.say("" if rows else "no process types yet: push the app with git to deploy it")
        self.rows = rows
        self.fit()

    def fit(self) -> None:
        """Show the rows with as many whole columns as the pane's width holds."""
        table: DataTable[Cell] = self.query_one(DataTable)
        room = self.content_size.width - 1  # the vertical scrollbar, once the rows overflow
        widths = {label: max([cell_len(label), *(cell_len(str(cells[i])) for _, cells in self.rows)])
                  + 2 * table.cell_padding for i, label in enumerate(self.COLUMNS)}
        keep: set[str] = set()
        for label in self.KEEP:
            if sum(widths[k] for k in keep) + widths[label] > room and keep:
                break
            keep.add(label)
        columns = tuple(label for label in self.COLUMNS if label in keep)
        if columns != self.columns:
            self.columns = columns
            table.clear(columns=True)
            table.add_columns(*columns)
            SHOWN.pop(table, None)  # the rows are new to these columns
        shown = [i for i, label in enumerate(self.COLUMNS) if label in keep]
        fill_table(table, [(key, tuple(cells[i] for i in shown)) for key, cells in self.rows])

    def selection(self) -> tuple[str, str] | None:
        """("type", "web") or ("dyno", "web.1") for the row under the cursor."""
        key = selected_key(self.query_one(DataTable))
        if key is None:
            return None
        kind, _, name = key.partition(":")
        return kind, name


class ReleasesPane(Pane):
    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        table: DataTable[Cell] = DataTable(cursor_type="row", id="releases-table")
        table.add_columns(" ", "ver", "description", "user", "age")
        yield table

    def show(self, releases: list[dict[str, Any]], now: datetime) -> None:
        rows: list[Row] = []
        for release in releases:
            failed = release.get("status") == "failed"
            marker = Text("✗", style="bold red") if failed else Text("●" if release.get("current") else " ",
                                                                     style="green")
            description = release.get("description") or ""
            if failed:  # Heroku's words, as `releases:info` prints them
                description += " (release command failed)"
            elif release.get("status") == "pending":
                description += " (release command executing)"
            rows.append((release["id"], (
                marker, f"v{release['version']}", Text(description, style="red" if failed else ""),
                (release.get("user") or {}).get("email", "").split("@")[0], age(release.get("created_at"), now))))
        self.say("" if rows else "no releases")
        fill_table(self.query_one(DataTable), rows)

    def selection(self) -> str | None:
        return selected_key(self.query_one(DataTable))


class ConfigPane(Pane):
    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        table: DataTable[Cell] = DataTable(cursor_type="row", id="config-table")
        table.add_columns("key", "value")
        yield table

    def show(self, config: dict[str, str]) -> None:
        rows: list[Row] = [(key, (Text(key, style="bold"), value)) for key, value in sorted(config.items())]
        self.say("" if rows else "no config vars: press c to set one")
        fill_table(self.query_one(DataTable), rows)

    def selection(self) -> str | None:
        return selected_key(self.query_one(DataTable))


class AddonsPane(Pane):
    """The app's add-ons (`GET /apps/{app}/addons`) and the names they are attached as here, with each one's
    connections and size where its service tells them (`show_usage`). Hidden while the app has none (or the
    daemon has no add-ons), so the panes beside it keep their room."""

    NO_USAGE = "–"  # a service that does not report connections or size
    PENDING = "…"  # asked, not answered yet

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.addons: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] | None = None
        self.usage: dict[str, tuple[str, str]] = {}  # add-on id -> (connections, size)

    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        table: DataTable[Cell] = DataTable(cursor_type="row", id="addons-table")
        table.add_columns("add-on", "plan", "state", "connections", "size", "as")
        yield table

    def show(self, addons: list[dict[str, Any]], attachments: list[dict[str, Any]] | None) -> None:
        """`attachments`: the app's (`GET /apps/{app}/addon-attachments`); None to name each add-on's config
        vars instead, when the daemon did not answer them."""
        self.addons, self.attachments = addons, attachments
        present = {addon["id"] for addon in addons}
        self.usage = {key: value for key, value in self.usage.items() if key in present}
        self.render_rows()

    def show_usage(self, addon_id: str, connections: str, size: str) -> None:
        self.usage[addon_id] = (connections, size)
        self.render_rows()

    def render_rows(self) -> None:
        names: dict[str, list[str]] = {}
        for attachment in self.attachments or []:
            names.setdefault(attachment["addon"]["id"], []).append(attachment["name"])
        rows: list[Row] = []
        for addon in sorted(self.addons, key=lambda a: (a["addon_service"]["name"], a["name"])):
            attached = names.get(addon["id"]) if self.attachments is not None else addon.get("config_vars")
            connections, size = self.usage.get(addon["id"], (self.NO_USAGE, self.NO_USAGE))
            rows.append((addon["id"], (Text(addon["name"], style="bold"), addon["plan"]["name"],
                                       state_text(addon.get("state") or ""), connections, size,
                                       ", ".join(attached or []))))
        self.display = bool(rows)
        fill_table(self.query_one(DataTable), rows)

    def hide(self) -> None:
        self.display = False

    def selection(self) -> str | None:
        return selected_key(self.query_one(DataTable))


class RouterPane(Pane):
    """Requests per second, service times, the per-dyno queue as bars, H-codes and the load generator."""

    HISTORY = 120

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.rates: deque[float] = deque(maxlen=self.HISTORY)
        self.metrics: dict[str, Any] | None = None
        self.dynos: set[str] | None = None
        self.load_line = ""
        self.text = ""  # what the pane shows, as plain text

    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        yield Static("", id="router-body")

    def show(self, metrics: dict[str, Any] | None, reason: str = "", dynos: set[str] | None = None) -> None:
        """Coalesced: the newest sample wins; one render per refresh however many arrived. `dynos`: the
        app's dynos now; the metrics' window still counts dynos scaled away, which are not shown."""
        if metrics is not None and metrics is not self.metrics:
            self.rates.append(float(metrics.get("requests_per_second") or 0.0))
        self.metrics = metrics
        self.dynos = dynos
        self.say(reason)
        self.render_body()

    def show_load(self, generator: LoadGenerator | None) -> None:
        if generator is None:
            self.load_line = ""
        else:
            state = "load" if generator.running else "load done"
            self.load_line = (f"{state}: {generator.plan.describe()} · "
                              f"{generator.stats.describe(time.monotonic())}")
        self.render_body()

    def render_body(self) -> None:
        width = max(10, self.content_size.width or 40)
        lines: list[Text] = []
        metrics = self.metrics
        if metrics is not None:
            rps = float(metrics.get("requests_per_second") or 0.0)
            service = metrics.get("service_ms") or {}
            head = Text(f"{rps:.1f} req/s ", style="bold")
            head.append(sparkline(list(self.rates), max(0, width - len(head))), style="cyan")
            lines.append(head)
            lines.append(Text(f"p50 {service.get('p50', 0):.0f}ms  p95 {service.get('p95', 0):.0f}ms  "
                              f"in-flight {metrics.get('inflight', 0)}"))
            status = metrics.get("status") or {}
            line = Text()
            for klass in ("2xx", "3xx", "4xx", "5xx"):
                if status.get(klass) or klass == "2xx":
                    line.append(f"{klass} {status.get(klass, 0)}  ", style="red" if klass == "5xx" else "")
            for code, count in sorted((metrics.get("codes") or {}).items()):
                line.append(f"{code} {count}  ", style="bold red")
            lines.append(line)
            dynos = sorted((d for d in metrics.get("dynos") or [] if self.dynos is None or d["name"] in self.dynos),
                           key=lambda d: dyno_order(d["name"]))
            most = max((d.get("inflight", 0) for d in dynos), default=0) or 1
            for dyno in dynos:
                count = dyno.get("inflight", 0)
                row = Text(f"{dyno['name']:<8} ")
                row.append(bar(count, max(most, 5), max(4, width - 23)), style="yellow" if count else "dim")
                row.append(f" {count:>3} {float(dyno.get('requests_per_second') or 0):5.1f}/s")
                lines.append(row)
        if self.load_line:
            lines.append(Text(self.load_line, style="italic cyan"))
        self.text = "\n".join(line.plain for line in lines)
        self.query_one("#router-body", Static).update(Group(*lines), layout=False)  # its size is fixed


class LogsPane(Pane):
    """The merged stream: lines arrive into a buffer and reach the screen in batches."""

    DEFAULT_CSS = """
    LogsPane > #log-status { height: 1; color: $text-muted; }
    LogsPane > Log { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.ring: deque[LogEntry] = deque(maxlen=LOG_RING)
        self.pending: list[LogEntry] = []
        self.filter = LogFilter()
        self.paused = False
        self.paused_at = 0  # `received` when the pane was paused
        self.wide = False
        self.received = 0
        # A benchmark hook: called with each batch as it is written (None in normal use).
        self.on_written: Callable[[list[LogEntry]], None] | None = None

    def compose(self) -> ComposeResult:
        yield self.compose_reason()
        yield Static("", id="log-status")
        log = Log(max_lines=LOG_RING, highlight=True, auto_scroll=True, id="log")
        log.highlighter = LogHighlighter()
        yield log

    def on_mount(self) -> None:
        self.set_interval(LOG_FLUSH_SECONDS, self.flush)
        self.render_status()

    def add(self, lines: Iterable[str]) -> None:
        """Called by the stream reader for each line; cheap, no widget work."""
        self.pending.extend(LogEntry.parse(line) for line in lines)

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.ring.extend(batch)
        self.received += len(batch)
        if not self.paused:
            shown = [entry for entry in batch if self.filter.matches(entry)]
            self.query_one(Log).write_lines(entry.line(self.wide) for entry in shown[-LOG_RING:])
            if self.on_written is not None:
                self.on_written(shown)
        self.render_status()

    def redraw(self) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines(entry.line(self.wide) for entry in self.ring if self.filter.matches(entry))
        self.render_status()

    def set_filter(self, where: str | None = None, search: str | None = None) -> None:
        self.filter = LogFilter(self.filter.where if where is None else where.strip(),
                                self.filter.search if search is None else search.strip())
        self.redraw()

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self.paused_at = self.received
        else:  # catch up with what arrived meanwhile (the filter did not change: no full redraw)
            missed = list(self.ring)[-min(self.received - self.paused_at, LOG_RING):] \
                if self.received > self.paused_at else []
            self.query_one(Log).write_lines(e.line(self.wide) for e in missed if self.filter.matches(e))
        self.render_status()

    def render_status(self) -> None:
        state = Text("⏸ paused  ", style="bold yellow") if self.paused else Text("● live  ", style="green")
        state.append(f"{self.filter.describe()}  ", style="cyan")
        state.append(f"{self.received} lines", style="dim")
        self.query_one("#log-status", Static).update(state, layout=False)  # one line, fixed
