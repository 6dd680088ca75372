"""TUI room: small modal screens — a prompt, a confirmation, a page of text."""

from __future__ import annotations

import io
from typing import ClassVar

from rich.console import Console, RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; max-width: 95%; height: auto; max-height: 90%; border: thick $accent;
    background: $surface; padding: 0 1; }}
{name} .title {{ text-style: bold; }}
{name} .hint {{ color: $text-muted; }}
"""


class PromptScreen(ModalScreen[str | None]):
    """One line of input; enter answers it, escape cancels (None)."""

    DEFAULT_CSS = MODAL_CSS.format(name="PromptScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str = "", value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.hint, self.value, self.placeholder = title, hint, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            if self.hint:
                yield Static(self.hint, classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """y / enter confirms, n / escape declines."""

    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="title")
            yield Static("y / enter: yes    n / escape: no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextScreen(ModalScreen[None]):
    """A page to read (help, release details); escape or q closes it."""

    DEFAULT_CSS = MODAL_CSS.format(name="TextScreen") + """
    TextScreen > Vertical { width: 100; }
    TextScreen VerticalScroll { height: auto; max-height: 40; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            with VerticalScroll():
                yield Static(self.body)
            yield Static("escape: close", classes="hint")

    @property
    def text(self) -> str:
        """The page as plain text, as a reader sees it without colour."""
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(self.body)
        return console.export_text()

    def action_close(self) -> None:
        self.dismiss(None)
