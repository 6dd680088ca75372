"""TUI room: the two screens — every app, and one app with its panes side by side."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from herokusim.cli.output import restart_message, stop_message
from herokusim.client import ApiError, Unavailable, parse_time
from tui.client import Api
from tui.format import UNAVAILABLE, config_diff, dynos_summary, pg_usage
from tui.labs import LabPane, LabsMixin, lab_of_app
from tui.loadgen import LoadError, LoadGenerator, LoadPlan
from tui.modals import ConfirmScreen, PromptScreen, TextScreen
from tui.panes import (
    AddonsPane,
    ConfigPane,
    FormationPane,
    LogsPane,
    ReleasesPane,
    RouterPane,
    fill_table,
    selected_key,
)

if TYPE_CHECKING:
    from tui.app import HerokusimTui

POLL_SECONDS = 1.0
APPS_POLL_SECONDS = 2.0
# pg-info runs SQL on the add-on's server: each add-on's connections and size are asked at most this often
ADDON_USAGE_SECONDS = 5.0
POSTGRES = "heroku-postgresql"  # the service whose connections and size the add-ons pane shows


def usage_clock() -> float:
    """The clock ADDON_USAGE_SECONDS is measured on (tests stand it still)."""
    return time.monotonic()
ROLLOUT_PATIENCE = 120.0  # seconds a rollback's progress waits for the new dynos before it gives up showing
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class BaseScreen(Screen[None]):
    """Shared by both screens: error notifications, progress in the status line, help."""

    @property
    def tui(self) -> HerokusimTui:
        return self.app  # type: ignore[return-value]

    @property
    def api(self) -> Api:
        return self.tui.api

    async def attempt(self, call: Awaitable[Any], done: str | None = None) -> Any:
        """Run one API call; its error becomes a notification with the API's message, never a traceback."""
        try:
            result = await call
        except ApiError as exc:
            self.notify(exc.message, title="herokusim", severity="error", timeout=6)
            return None
        if done:
            self.notify(done, timeout=3)
        return result if result is not None else True

    def action_help(self) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan")
        table.add_column()
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                table.add_row(binding.key_display or binding.key.replace("question_mark", "?"),
                              binding.description)
        table.add_row("ctrl+p", "Command palette: every action by name")
        self.app.push_screen(TextScreen(f"{self.title or 'herokusim'}: keys", table))


class AppsScreen(BaseScreen):
    """Every app: name, runtime, current release, dynos up per type, web URL, maintenance."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,o", "open", "Open"),
        Binding("n", "create", "Create app"),
        Binding("d", "destroy", "Destroy app"),
        Binding("L", "labs", "Labs", show=False),  # the classroom labs (tui/labs_screen.py)
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    AppsScreen #apps-title { height: 1; background: $primary 30%; padding: 0 1; }
    AppsScreen #apps-reason { color: $text-muted; padding: 0 1; height: auto; }
    AppsScreen DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.title = "apps"

    def compose(self) -> ComposeResult:
        yield Static(Text("⬢ herokusim  apps", style="bold"), id="apps-title")
        yield Static("", id="apps-reason")
        table: DataTable[str | Text] = DataTable(cursor_type="row", id="apps-table")
        table.add_columns("name", "runtime", "release", "dynos up/total", "web url", "maintenance")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(APPS_POLL_SECONDS, self.refresh_apps)

    def on_screen_resume(self) -> None:
        self.refresh_apps()

    @work(exclusive=True, group="apps-poll")
    async def refresh_apps(self) -> None:
        if self.app.screen is not self and not isinstance(self.app.screen, ModalScreen):
            return  # an app screen is on top: it polls what it shows
        reason = self.query_one("#apps-reason", Static)
        try:
            apps = sorted(await self.api.apps(), key=lambda a: a["name"])  # by name, as `herokusim apps`
            details = await asyncio.gather(*(self._details(a["name"]) for a in apps))
        except ApiError as exc:
            reason.update(exc.message)
            return
        rows = []
        for app, (release, dynos) in zip(apps, details, strict=True):
            rows.append((app["name"], (
                Text(app["name"], style="bold"), app.get("runtime") or "—",
                f"v{release['version']}" if release else "—", dynos_summary(dynos),
                app.get("web_url") or "", Text("on", style="bold yellow") if app.get("maintenance") else "off")))
        reason.update("" if rows else "no apps yet: press n to create one")
        fill_table(self.query_one(DataTable), rows)  # type: ignore[arg-type]

    async def _details(self, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        try:
            return await asyncio.gather(self.api.latest_release(name), self.api.dynos(name))
        except ApiError:  # an app destroyed between the two calls
            return None, []

    def selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))  # type: ignore[arg-type]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        name = self.selected()
        if name:
            self.app.push_screen(AppScreen(name))

    def action_labs(self) -> None:
        from tui.labs_screen import LabsScreen  # it builds on this module's BaseScreen

        self.app.push_screen(LabsScreen())

    @work
    async def action_create(self) -> None:
        name = await self.app.push_screen_wait(
            PromptScreen("Create an app", "empty for a generated name", placeholder="app name"))
        if name is None:
            return
        created = await self.attempt(self.api.create_app(name.strip() or None))
        if created:
            self.notify(f"Created ⬢ {created['name']}: git remote {created.get('git_url', '')}", timeout=6)
            self.refresh_apps()

    @work
    async def action_destroy(self) -> None:
        name = self.selected()
        if not name:
            return
        typed = await self.app.push_screen_wait(
            PromptScreen(f"WARNING: This will delete ⬢ {name} including all add-ons.",
                         f"To proceed, type {name}", placeholder=name))
        if typed is None:
            return
        if typed.strip() != name:  # the CLI's words for a wrong answer at its prompt
            self.notify(f"Confirmation did not match {name}. Aborted.", severity="warning")
            return
        done = f"Destroying ⬢ {name} (including all add-ons)... done"
        if await self.attempt(self.api.destroy_app(name), done):
            self.refresh_apps()


class AppScreen(LabsMixin, BaseScreen):
    """One app: formation, releases, router, logs and config together; every action a single key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "scale(1)", "Scale +1", key_display="+"),
        Binding("minus", "scale(-1)", "Scale −1", key_display="-"),
        Binding("r", "restart", "Restart"),
        Binding("R", "restart_all", "Restart all dynos", show=False),
        Binding("x", "stop", "Stop dyno", show=False),
        Binding("b", "rollback", "Rollback"),
        Binding("i", "release_info", "Release details", show=False),
        Binding("c", "config_set", "Config set"),
        Binding("u", "config_unset", "Config unset", show=False),
        Binding("m", "maintenance", "Maintenance"),
        Binding("w", "warp(3600)", "Warp 1h"),
        Binding("W", "warp(86400)", "Warp 24h", show=False),
        Binding("l", "load", "Load"),
        Binding("L", "load_stop", "Stop load", show=False),
        Binding("slash", "search", "Search logs", key_display="/"),
        Binding("f", "log_filter", "Filter logs", show=False),
        Binding("p", "pause", "Pause logs", show=False),
        Binding("k", "lab_check", "Check lab", show=False),  # a lab app's: its check streams into the lab pane
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("escape", "back", "Apps"),
        Binding("q", "app.quit", "Quit"),  # as on the apps screen
    ]
    DEFAULT_CSS = """
    AppScreen #status { height: 1; background: $primary 30%; padding: 0 1; }
    AppScreen #panes { grid-size: 2 3; grid-columns: 1fr 1fr; grid-rows: 3fr 2fr 2fr; height: 1fr; }
    AppScreen.-wide #panes { grid-columns: 9fr 11fr; grid-rows: 1fr 1fr 1fr; }
    AppScreen #logs { row-span: 2; }
    AppScreen #config-cell { height: 1fr; }
    """

    def __init__(self, app_name: str) -> None:
        super().__init__()
        self.app_name = app_name
        self.title = app_name
        self.info: dict[str, Any] = {}
        self.clock: dict[str, Any] | None = None
        self.clock_reason = ""
        self.formation: list[dict[str, Any]] = []
        self.dynos: list[dict[str, Any]] = []
        self.releases: list[dict[str, Any]] = []
        self.progress: str | None = None
        self.rollout: tuple[int, float] | None = None  # (release version, monotonic start)
        self.load: LoadGenerator | None = None
        self.builds_seen: dict[str, str | None] | None = None  # build id -> status, None before the first poll
        self.builds_followed: set[str] = set()  # builds whose output streamed live into the logs pane
        self._spin = itertools.cycle(SPINNER)
        self.usage_asked: dict[str, float] = {}  # add-on id -> usage_clock() when its pg-info was last asked
        self.usage_busy: set[str] = set()  # add-ons whose pg-info is on its way

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        with Grid(id="panes"):
            yield FormationPane("formation", id="formation")
            yield RouterPane("router", id="router")
            yield ReleasesPane("releases", id="releases")
            yield LogsPane("logs", id="logs")
            with Vertical(id="config-cell"):  # the add-ons share the config's cell, and only when there are some
                yield ConfigPane("config", id="config")
                addons = AddonsPane("add-ons", id="addons")
                addons.display = False
                yield addons
                lab = LabPane("lab", id="lab")  # a lab's app only: its task and its last check
                lab.display = False
                yield lab
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#formation-table").focus()
        self.poll()
        self.set_interval(POLL_SECONDS, self.poll)
        self.set_interval(0.25, self.render_status)
        self.stream_logs()
        self.find_lab()

    @work(group="lab-find")
    async def find_lab(self) -> None:
        found = await lab_of_app(self.api, self.app_name)
        if found is not None:
            self.query_one(LabPane).show(*found)

    def action_lab_check(self) -> None:
        pane = self.query_one(LabPane)
        if pane.lab is None:
            self.notify(f"{self.app_name} is not a lab's app.", severity="warning")
            return
        pane.line(f"Checking lab {pane.lab.number} ({pane.lab.title})...")
        self.run_lab(pane.lab, "check", pane.line, self._lab_checked)

    def _lab_checked(self, result: Any) -> None:
        pane = self.query_one(LabPane)
        if isinstance(result, Exception):
            pane.line(f"! {result}")
            return
        pane.show_result(result)

    def on_resize(self) -> None:
        wide = self.size.width >= 140
        self.set_class(wide, "-wide")
        logs = self.query_one(LogsPane)
        if logs.wide != wide:
            logs.wide = wide
            logs.redraw()

    async def on_unmount(self) -> None:
        if self.load is not None:
            await self.load.stop()

    # --- reading --------------------------------------------------------------------------------------

    @work(exclusive=True, group="poll")
    async def poll(self) -> None:
        api, name = self.api, self.app_name
        results = await asyncio.gather(api.app(name), api.formation(name), api.dynos(name), api.releases(name),
                                       api.config(name), api.router_metrics(name), api.clock(), api.builds(name),
                                       api.addons(name), api.addon_attachments(name), return_exceptions=True)
        try:
            await self.show_poll(results)
        except NoMatches:
            pass  # the screen was closed while the answers were on their way: nothing to show them in

    def now(self) -> datetime:
        """The platform's now: the simulated clock's last reading, which every timestamp the API gives is on
        (a warp moves it ahead of the wall clock); the wall clock for a daemon without /clock."""
        when = parse_time(self.clock.get("now")) if self.clock is not None else None
        return when or self.api.now()

    async def show_poll(self, results: list[Any]) -> None:
        info, formation, dynos, releases, config, metrics, clock, builds, addons, attachments = results
        if isinstance(info, ApiError):
            self.query_one(FormationPane).say(info.message)
            return
        if isinstance(info, BaseException):
            raise info
        self.info = info
        if isinstance(clock, BaseException):
            self.clock, self.clock_reason = None, ("clock: not offered by this daemon" if
                                                   isinstance(clock, Unavailable) else "clock: unknown")
        else:
            self.clock, self.clock_reason = clock, ""
        now = self.now()
        current = None if isinstance(dynos, BaseException) else {d["name"] for d in dynos}
        router = self.query_one(RouterPane)
        if isinstance(metrics, Unavailable):
            router.show(None, "router metrics: not offered by this daemon (no /router-metrics)")
            inflight: dict[str, int] = {}
        elif isinstance(metrics, BaseException):
            router.show(None, f"router metrics: {getattr(metrics, 'message', metrics)}")
            inflight = {}
        else:
            router.show(metrics, dynos=current)
            inflight = {d["name"]: int(d.get("inflight", 0)) for d in metrics.get("dynos") or []}
        router.show_load(self.load)
        if isinstance(formation, BaseException) or isinstance(dynos, BaseException):
            failed = formation if isinstance(formation, BaseException) else dynos
            self.query_one(FormationPane).say(f"formation: {getattr(failed, 'message', failed)}")
        else:
            self.formation, self.dynos = formation, dynos
            self.query_one(FormationPane).show(formation, dynos, inflight, now)
        if isinstance(releases, BaseException):
            self.query_one(ReleasesPane).say(f"releases: {getattr(releases, 'message', releases)}")
        else:
            self.releases = releases
            self.query_one(ReleasesPane).show(releases, now)
        if isinstance(config, BaseException):
            self.query_one(ConfigPane).say(getattr(config, "message", str(config)))
        else:
            self.query_one(ConfigPane).show(config)
        if isinstance(addons, BaseException):  # a daemon without add-ons, or a failed read: nothing to list
            self.query_one(AddonsPane).hide()
        else:
            self.query_one(AddonsPane).show(addons, None if isinstance(attachments, BaseException) else attachments)
            self.ask_addon_usage(addons)
        if not isinstance(builds, BaseException):
            await self.follow_builds(builds)
        self.check_rollout()
        self.render_status()

    def ask_addon_usage(self, addons: list[dict[str, Any]]) -> None:
        """Each Postgres add-on's connections and size, at most every ADDON_USAGE_SECONDS and one ask at a
        time per add-on; a new add-on is asked at once. Other services report neither (the pane shows –)."""
        now = usage_clock()
        due = [addon for addon in addons if addon["addon_service"]["name"] == POSTGRES
               and addon["id"] not in self.usage_busy
               and now - self.usage_asked.get(addon["id"], now - ADDON_USAGE_SECONDS) >= ADDON_USAGE_SECONDS]
        if not due:
            return
        pane = self.query_one(AddonsPane)
        for addon in due:
            self.usage_asked[addon["id"]] = now
            self.usage_busy.add(addon["id"])
            if addon["id"] not in pane.usage:
                pane.show_usage(addon["id"], pane.PENDING, pane.PENDING)
        self.read_addon_usage([addon["id"] for addon in due])

    @work(group="addon-usage")
    async def read_addon_usage(self, addon_ids: list[str]) -> None:
        """pg-info for these add-ons, off the UI: an add-on whose call fails shows `unavailable`, quietly
        (a database that is restarting or gone is the pane's news, not a notification's)."""
        try:
            results = await asyncio.gather(*(self.api.pg_info(self.app_name, addon_id) for addon_id in addon_ids),
                                           return_exceptions=True)
        finally:
            self.usage_busy.difference_update(addon_ids)
        try:
            pane = self.query_one(AddonsPane)
        except NoMatches:
            return  # the screen was closed meanwhile
        for addon_id, result in zip(addon_ids, results, strict=True):
            if any(addon["id"] == addon_id for addon in pane.addons):  # not destroyed meanwhile
                connections, size = (UNAVAILABLE, UNAVAILABLE) if isinstance(result, BaseException) \
                    else pg_usage(result)
                pane.show_usage(addon_id, connections, size)

    async def follow_builds(self, builds: list[dict[str, Any]]) -> None:
        """A push from another terminal: progress while it builds, then its output in the logs pane."""
        first_look = self.builds_seen is None
        seen = self.builds_seen if self.builds_seen is not None else {}
        building = [b for b in builds if b.get("status") == "pending"]
        for build in building:
            if build["id"] not in self.builds_followed:
                self.builds_followed.add(build["id"])
                self.follow_build_output(build["id"])
        for build in builds:
            status, before = build.get("status"), seen.get(build["id"])
            seen[build["id"]] = status
            if first_look or status == "pending" or before == status:
                continue
            if build["id"] in self.builds_followed:  # its output is in the logs pane already
                self.notify(f"Build {status}: {((build.get('source_blob') or {}).get('version') or '')[:8]}",
                            severity="error" if status == "failed" else "information", timeout=4)
                continue
            try:
                output = await self.api.build_output(self.app_name, build["id"])
            except ApiError:
                continue
            when = parse_time(build.get("updated_at"))
            stamp = when.isoformat(timespec="microseconds") if when else ""
            self.query_one(LogsPane).add(f"{stamp} app[build]: {line}" for line in output.splitlines())
            self.notify(f"Build {status}: {((build.get('source_blob') or {}).get('version') or '')[:8]}",
                        severity="error" if status == "failed" else "information", timeout=4)
        self.builds_seen = seen
        if building:
            self.progress = f"building {((building[0].get('source_blob') or {}).get('version') or '')[:8]}…"
        elif self.progress and self.progress.startswith("building"):
            self.progress = None

    @work(group="builds")
    async def follow_build_output(self, build_id: str) -> None:
        """A build's output, line by line into the logs pane as the build writes it."""
        pane = self.query_one(LogsPane)
        try:
            async for lines in self.api.build_output_lines(self.app_name, build_id):
                stamp = self.now().isoformat(timespec="microseconds")
                pane.add(f"{stamp} app[build]: {line}" for line in lines)
        except ApiError:
            self.builds_followed.discard(build_id)  # its whole output comes with the poll that sees it end

    @work(exclusive=True, group="logs")
    async def stream_logs(self) -> None:
        """Follow the merged stream for as long as the screen lives; reconnect if the daemon drops it."""
        pane = self.query_one(LogsPane)
        first = True
        while True:
            try:
                async for lines in self.api.log_lines(self.app_name, 200 if first else 0):
                    pane.add(lines)
                first = False
            except ApiError as exc:
                pane.say(f"logs: {exc.message}")
            await asyncio.sleep(1.0)

    def render_status(self) -> None:
        info = self.info
        current = next((r for r in self.releases if r.get("current")), None)
        text = Text(f"⬢ {self.app_name}", style="bold")
        text.append(f"  v{current['version']}" if current else "  —")
        if info.get("runtime"):
            text.append(f"  {info['runtime']}", style="dim")
        text.append("  maintenance ")
        text.append("ON" if info.get("maintenance") else "off",
                    style="bold black on yellow" if info.get("maintenance") else "dim")
        if self.clock is not None:
            when = parse_time(self.clock.get("now"))
            scale = float(self.clock.get("time_scale") or 1.0)
            text.append(f"  ◷ {when:%Y-%m-%d %H:%M:%S}" if when else "  ◷ ?", style="cyan")
            text.append(f" ×{scale:g}", style="dim")
        elif self.clock_reason:
            text.append(f"  {self.clock_reason}", style="dim")
        if self.progress:
            text.append(f"  {next(self._spin)} {self.progress}", style="bold yellow")
        self.query_one("#status", Static).update(text, layout=False)  # one line, fixed
        if self.load is not None:
            self.query_one(RouterPane).show_load(self.load)

    def check_rollout(self) -> None:
        """A rollback's progress: until every dyno runs the new release and is up."""
        if self.rollout is None:
            return
        version, started = self.rollout
        formation_total = sum(int(f.get("quantity", 0)) for f in self.formation)
        ready = [d for d in self.dynos if (d.get("release") or {}).get("version") == version
                 and d.get("state") == "up" and d.get("type") != "run"]
        others = [d for d in self.dynos if (d.get("release") or {}).get("version") != version
                  and d.get("type") != "run"]
        if (len(ready) >= formation_total and not others) or time.monotonic() - started > ROLLOUT_PATIENCE:
            self.rollout = None
            self.progress = None
            self.notify(f"v{version}: {len(ready)}/{formation_total} dynos up", timeout=4)
        else:
            self.progress = f"v{version}: waiting for dynos {len(ready)}/{formation_total} up"

    # --- acting ---------------------------------------------------------------------------------------

    async def act(self, call: Awaitable[Any], progress: str, done: str | None = None) -> Any:
        """An action with progress in the status line while it runs, then a fresh poll."""
        self.progress = progress
        self.render_status()
        try:
            return await self.attempt(call, done)
        finally:
            if self.progress == progress:
                self.progress = None
            self.poll()

    def _formation_of(self, kind: str) -> dict[str, Any] | None:
        return next((f for f in self.formation if f["type"] == kind), None)

    @work(group="act")
    async def action_scale(self, delta: int) -> None:
        selection = self.query_one(FormationPane).selection()
        kind = selection[1].rpartition(".")[0] if selection and selection[0] == "dyno" else \
            selection[1] if selection else None
        if kind is None and self.formation:
            kind = "web" if self._formation_of("web") else self.formation[0]["type"]
        item = self._formation_of(kind) if kind else None
        if item is None:
            self.notify("Nothing to scale: deploy the app first.", severity="warning")
            return
        quantity = max(0, int(item["quantity"]) + delta)
        await self.act(self.api.scale(self.app_name, kind, quantity), f"Scaling {kind} to {quantity}…",
                       f"Scaled {kind} to {quantity}")

    def _selected_dyno(self) -> str | None:
        selection = self.query_one(FormationPane).selection()
        if selection is None or selection[0] != "dyno":
            self.notify("Select a dyno in the formation pane first.", severity="warning")
            return None
        return selection[1]

    @work(group="act")
    async def action_restart(self) -> None:
        """The selected dyno, or every dyno of the selected process type."""
        selection = self.query_one(FormationPane).selection()
        if selection is None:
            self.notify("Select a dyno or a process type in the formation pane first.", severity="warning")
            return
        name = selection[1]
        message = restart_message(self.app_name, dyno=name) if "." in name else \
            restart_message(self.app_name, kind=name)
        await self.act(self.api.restart(self.app_name, name), f"{message}…", f"{message}... done")

    @work(group="act")
    async def action_restart_all(self) -> None:
        message = restart_message(self.app_name)
        await self.act(self.api.restart(self.app_name), f"{message}…", f"{message}... done")

    @work(group="act")
    async def action_stop(self) -> None:
        dyno = self._selected_dyno()
        if dyno:
            message = stop_message(self.app_name, dyno)
            await self.act(self.api.stop(self.app_name, dyno), f"{message}…", f"{message}... done")

    def _selected_release(self) -> dict[str, Any] | None:
        key = self.query_one(ReleasesPane).selection()
        release = next((r for r in self.releases if r["id"] == key), None)
        if release is None:
            self.notify("Select a release in the releases pane first.", severity="warning")
        return release

    @work(group="act")
    async def action_rollback(self) -> None:
        release = self._selected_release()
        if release is None:
            return
        if not await self.app.push_screen_wait(ConfirmScreen(
                f"Roll back ⬢ {self.app_name} to v{release['version']}? "
                f"A new release is made with v{release['version']}'s slug and config.")):
            return
        created = await self.act(self.api.rollback(self.app_name, release["id"]),
                                 f"Rolling back to v{release['version']}…")
        if isinstance(created, dict):
            self.notify(f"Rolled back to v{release['version']}: now v{created['version']}", timeout=4)
            self.rollout = (int(created["version"]), time.monotonic())
            self.progress = f"v{created['version']}: waiting for dynos"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "releases-table":  # enter on a release: its details
            self.action_release_info()

    @work(group="act")
    async def action_release_info(self) -> None:
        release = self._selected_release()
        if release is None:
            return
        version = int(release["version"])
        after = await self.attempt(self.api.release_config(self.app_name, version))
        if not isinstance(after, dict):
            return
        before: dict[str, str] = {}
        if version > 1:
            earlier = await self.attempt(self.api.release_config(self.app_name, version - 1))
            before = earlier if isinstance(earlier, dict) else {}
        body = Table.grid(padding=(0, 2))
        body.add_column(style="bold")
        body.add_column()
        body.add_row("version", f"v{version}" + ("  (current)" if release.get("current") else ""))
        body.add_row("status", Text(release.get("status") or "succeeded",
                                    style="bold red" if release.get("status") == "failed" else ""))
        body.add_row("description", release.get("description") or "")
        body.add_row("by", (release.get("user") or {}).get("email", ""))
        body.add_row("when", release.get("created_at") or "")
        body.add_row("slug", (release.get("slug") or {}).get("id", "—"))
        body.add_row(f"config vs v{version - 1}" if version > 1 else "config", Text("\n").join(
            config_diff(before, after)))
        self.app.push_screen(TextScreen(f"⬢ {self.app_name} v{version}", body))

    @work(group="act")
    async def action_config_set(self) -> None:
        answer = await self.app.push_screen_wait(
            PromptScreen("Set a config var (makes a release)", "KEY=value (several separated by spaces)",
                         placeholder="GREETING=hello"))
        if not answer:
            return
        changes: dict[str, str | None] = {}
        for word in answer.split():
            key, sep, value = word.partition("=")
            if not sep or not key:
                self.notify(f"{word!r} is not KEY=value.", severity="error")
                return
            changes[key] = value
        await self.act(self.api.set_config(self.app_name, changes), f"Setting {', '.join(changes)}…",
                       f"Set {', '.join(changes)} and restarting")

    @work(group="act")
    async def action_config_unset(self) -> None:
        key = self.query_one(ConfigPane).selection()
        if key is None:
            self.notify("Select a config var in the config pane first.", severity="warning")
            return
        if await self.app.push_screen_wait(ConfirmScreen(f"Unset {key}? (makes a release)")):
            await self.act(self.api.set_config(self.app_name, {key: None}), f"Unsetting {key}…",
                           f"Unset {key} and restarting")

    @work(group="act")
    async def action_maintenance(self) -> None:
        on = not self.info.get("maintenance", False)
        app = await self.act(self.api.set_maintenance(self.app_name, on),
                             f"Maintenance {'on' if on else 'off'}…", f"Maintenance mode {'on' if on else 'off'}")
        if isinstance(app, dict):  # the answer is the app: show it now rather than at the next poll
            self.info = app
            self.render_status()

    @work(group="act")
    async def action_warp(self, seconds: int) -> None:
        label = f"{seconds // 3600}h"
        await self.act(self.api.warp(seconds), f"Warping the clock {label}…", f"Clock warped by {label}")

    @work(group="act")
    async def action_load(self) -> None:
        if self.load is not None and self.load.running:
            self.notify("A load run is going; L stops it.", severity="warning")
            return
        answer = await self.app.push_screen_wait(PromptScreen(
            "Load generator (loopback only, stops by itself)",
            "rate ≤ 500/s, concurrency ≤ 100, duration ≤ 300 s; path is the app's own",
            value="rate=20 concurrency=10 path=/ duration=30"))
        if answer is None:
            return
        try:
            plan = LoadPlan.parse(self.app_name, answer)
        except LoadError as exc:
            self.notify(str(exc), severity="error")
            return
        self.load = LoadGenerator(self.api.router_port, plan)
        self.load.start()
        self.notify(f"Load: {plan.describe()}", timeout=3)

    async def action_load_stop(self) -> None:
        if self.load is not None and self.load.running:
            await self.load.stop()
            self.notify("Load stopped.")

    @work(group="act")
    async def action_search(self) -> None:
        pane = self.query_one(LogsPane)
        answer = await self.app.push_screen_wait(PromptScreen("Search the logs", "empty clears the search",
                                                              value=pane.filter.search))
        if answer is not None:
            pane.set_filter(search=answer)

    @work(group="act")
    async def action_log_filter(self) -> None:
        pane = self.query_one(LogsPane)
        answer = await self.app.push_screen_wait(PromptScreen(
            "Show logs only from", "app or heroku (source), web (process type), web.1 (dyno), router; "
            "empty for all", value=pane.filter.where))
        if answer is not None:
            pane.set_filter(where=answer)

    def action_pause(self) -> None:
        self.query_one(LogsPane).toggle_pause()

    def action_back(self) -> None:
        self.app.pop_screen()

