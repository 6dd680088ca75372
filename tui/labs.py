"""TUI room: the classroom labs — the labs screen (every lab, its state and last check; start and check one)
and the pane a lab app's screen shows (the task, the last check's result, a running check's progress).

Progress is read from the daemon (`GET /labs`, api/labs_api.py); what is more than one API call — starting a
lab (a git checkout, apps, a deploy) and running its check — is the `LabsBackend`'s, run in a thread worker
whose `say` lines are posted to the screen as they come (tests give the app a recorded backend)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Log, Static

from herokusim.client import ApiError, Client
from herokusim.config import Settings
from herokusim.labs import catalogue, progress, runner
from herokusim.labs.lab import CheckResult, Lab
from tui.panes import Pane

if TYPE_CHECKING:
    from tui.screens import BaseScreen as _Base
else:
    _Base = object

Say = Callable[[str], None]


def result_text(result: dict[str, Any] | CheckResult | None) -> str:
    """`FAIL: <observation>\nHint: <hint>` for a check's result (an API record's last_check or a CheckResult)."""
    if result is None:
        return "not checked yet"
    passed, observation, hint = ((result.get("passed"), result.get("observation", ""), result.get("hint", ""))
                                 if isinstance(result, dict) else (result.passed, result.observation, result.hint))
    word = "PASS" if passed is True else "FAIL" if passed is False else "UNDECIDED"
    return f"{word}: {observation}" + (f"\nHint: {hint}" if hint and passed is False else "")


class LabsBackend:
    """Starting and checking a lab from the TUI: labs/runner.py and labs/progress.py with the daemon's
    settings, as `herokusim labs:start` and `labs:check` do. Blocking: the screens call it from a thread."""

    def __init__(self, settings: Settings, root: Path | None = None) -> None:
        self.settings = settings
        self.root = root or Path.cwd()  # where new lab checkouts go (./labNN-slug)

    def start(self, lab: Lab, say: Say) -> str:
        state = runner.start(lab, self.settings, (self.root / progress.default_dir(lab)).resolve(), say)
        progress.write_marker(state)
        api = Client(self.settings)
        try:
            progress.record_start(api, state)
        finally:
            api.close()
        return f"Lab {lab.number} started in {state.checkout}: {self.settings.web_url(next(iter(state.apps.values())))}"

    def check(self, lab: Lab, say: Say) -> CheckResult:
        api = Client(self.settings)
        try:
            state = progress.state_of(progress.record(api, lab.number), lab)
            result = runner.check(state, self.settings, say)
            progress.record_check(api, state, result)
            return result
        finally:
            api.close()


class LabPane(Pane):
    """On a lab app's screen: the lab's task and its last check's result; a running check's lines stream in.
    Hidden on an app that belongs to no lab."""

    DEFAULT_CSS = """
    LabPane #lab-task { height: auto; padding: 0 1; }
    LabPane #lab-result { height: auto; padding: 0 1; }
    LabPane Log { height: 1fr; }
    """

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.lab: Lab | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="lab-task")
        yield Static("", id="lab-result")
        yield Log(id="lab-log")

    def show(self, lab: Lab, record: dict[str, Any]) -> None:
        self.lab = lab
        self.border_title = f"lab {lab.number}: {lab.title}"
        self.query_one("#lab-task", Static).update(lab.task)
        self.show_result(record.get("last_check"))
        self.display = True

    def show_result(self, result: dict[str, Any] | CheckResult | None) -> None:
        self.query_one("#lab-result", Static).update(Text("Last check: " + result_text(result), style="bold"))

    def line(self, text: str) -> None:
        self.query_one(Log).write_line(text)


async def lab_of_app(api: Any, app_name: str) -> tuple[Lab, dict[str, Any]] | None:
    """The lab whose apps include `app_name`, with its record; None (also for a daemon without /labs)."""
    try:
        records = await api.request("GET", "/labs")
    except ApiError:
        return None
    for record in records:
        if app_name in (record.get("apps") or {}).values():
            lab = catalogue.lab(record["number"])
            if lab is not None:
                return lab, record
    return None


class LabsMixin(_Base):
    """What a screen needs to run a lab's start or check in a thread worker, its lines sent to `out`."""

    def run_lab(self, lab: Lab, what: str, out: Say, done: Callable[[Any], None]) -> None:
        backend: LabsBackend | None = getattr(self.app, "labs", None)
        if backend is None:
            self.notify("Labs need the daemon's settings: run `herokusim tui`.", severity="error")
            return
        self._lab_worker(backend, lab, what, out, done)

    @work(thread=True, group="lab")
    def _lab_worker(self, backend: LabsBackend, lab: Lab, what: str, out: Say, done: Callable[[Any], None]) -> None:
        def say(line: str) -> None:
            self.app.call_from_thread(out, line)
        try:
            result: Any = backend.start(lab, say) if what == "start" else backend.check(lab, say)
        except (runner.LabError, ApiError, OSError) as exc:
            result = exc
        self.app.call_from_thread(done, result)
