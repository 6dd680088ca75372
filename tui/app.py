"""TUI room: the Textual application — screens, the command palette and the API client they share."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.client import Api, wait_closed
from tui.labs import LabsBackend
from tui.screens import AppScreen, AppsScreen


class HerokusimTui(App[None]):
    """`herokusim tui`: watch and operate the platform through the Platform API."""

    TITLE = "herokusim"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False)]
    CSS = """
    Screen { layers: base; }
    """

    def __init__(self, api: Api, app_name: str | None = None, labs: LabsBackend | None = None) -> None:
        super().__init__()
        self.api = api
        self.start_app = app_name
        self.labs = labs  # starts and checks labs (tui/labs.py); None: the labs screen only shows progress

    def on_mount(self) -> None:
        self.push_screen(AppsScreen())
        if self.start_app:
            self.push_screen(AppScreen(self.start_app))

    async def on_unmount(self) -> None:
        await wait_closed(self.api)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action of the current screen by name, then Textual's own (theme, quit, keys)."""
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.description:
                key = binding.key_display or binding.key.split(",")[0]
                yield SystemCommand(binding.description, f"key: {key}", partial(screen.run_action, binding.action))
        yield from super().get_system_commands(screen)
