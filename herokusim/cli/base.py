"""CLI room: what every command module shares — the `herokusim` click group, how errors are reported, Heroku's
output pieces (headers, tables, `Doing things... done`), the API client of a command, and `-a APP`.

Command modules register on `main` from here; `cli/main.py` imports them all, so importing it gives the
whole command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from herokusim.cli import gitremote
from herokusim.cli.gitremote import GitError
from herokusim.cli.heroku_commands import unknown_command_message
from herokusim.cli.output import BadArgument, align_rows
from herokusim.client import ApiError, Client, DaemonNotRunning, parse_time
from herokusim.config import Settings, SettingsError

ARROW = " ▸    "  # Heroku's prefix for errors and warnings


class CommandError(Exception):
    """A command cannot go on (no app given, a confirmation that does not match, ...): the CLI says why in one
    line and exits 1, as for an ApiError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HerokuGroup(click.Group):
    """Colon-named commands (`ps:scale`), Heroku's short aliases, and where expected errors are reported."""

    ALIASES: ClassVar[dict[str, str]] = {
        "create": "apps:create", "destroy": "apps:destroy", "info": "apps:info", "scale": "ps:scale",
        "restart": "ps:restart", "list": "apps", "apps:list": "apps", "config:add": "config:set",
        "config:remove": "config:unset", "releases:rollback": "rollback", "dyno:restart": "ps:restart",
        "dyno:scale": "ps:scale", "dyno:stop": "ps:stop", "dyno:kill": "ps:stop", "ps:kill": "ps:stop",
        "rename": "apps:rename", "addons:list": "addons",
    }

    # the older names the book uses, which say what they stand for today (as addons:add and pgbackups:* do)
    BOOK_NAMES: ClassVar[frozenset[str]] = frozenset({"config:add"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            resolved = super().resolve_command(ctx, args)
            if args and args[0] in self.BOOK_NAMES:
                now = self.ALIASES[args[0]]
                click.echo(f"{ARROW}{args[0]} is an alias of {now}: use {now}.", err=True)
            return resolved
        except click.exceptions.NoSuchCommand:
            ours = [name for name, command in self.commands.items() if not command.hidden]
            click.echo(f"{ARROW}{unknown_command_message(args[0], [*ours, *self.ALIASES])}", err=True)
            ctx.exit(2)  # a usage error, as Click exits for one

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DaemonNotRunning as exc:
            click.echo(exc.message, err=True)
        except (ApiError, CommandError, GitError, BadArgument, SettingsError) as exc:
            click.echo(f"{ARROW}{exc}", err=True)
        ctx.exit(1)


@click.group(cls=HerokuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="herokusim", prog_name="herokusim")
def main() -> None:
    """Heroku on one machine: start the platform with `herokusim up`, then use Heroku's commands."""


app_option = click.option("-a", "--app", metavar="APP", help="App to run the command against.")
json_option = click.option("--json", "as_json", is_flag=True, help="Output in JSON format.")


# --- output -------------------------------------------------------------------------------------------------


def on_terminal() -> bool:
    return sys.stdout.isatty()


def make_console() -> Console:
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=True)


def print_header(text: str) -> None:
    if on_terminal():
        make_console().print(Text(f"=== {text}", style="bold"))
    else:
        click.echo(f"=== {text}")


def print_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def warn(message: str) -> None:
    click.echo(f"{ARROW}{message}", err=True)


def print_table(rows: list[list[str]], styles: list[str | None]) -> None:
    """A borderless table like Heroku's: rich on a terminal, plain aligned columns otherwise."""
    if not on_terminal():
        print_lines(align_rows(rows))
        return
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for i, style in enumerate(styles):
        # Heroku truncates the description (second column) rather than wrapping it.
        table.add_column(style=style, no_wrap=True, overflow="ellipsis" if i == 1 else "fold")
    for row in rows:
        table.add_row(*row)
    make_console().print(table)


class Step:
    """What `action` prints after `done` (`, v3`), set by the block it wraps."""

    suffix = ""


@contextmanager
def action(message: str) -> Iterator[Step]:
    """Heroku's `Doing things... done, v3`: the message first, then `done` (plus a suffix) or `!`."""
    click.echo(f"{message}... ", nl=False)
    step = Step()
    try:
        yield step
    except BaseException:
        click.echo("!")
        raise
    click.echo(f"done{step.suffix}")


# --- the daemon and the app a command talks to --------------------------------------------------------------


def load_settings() -> Settings:
    return Settings.from_env()


def api_client() -> Client:
    """The command's API client, closed when the command ends."""
    api = Client(load_settings())
    click.get_current_context().call_on_close(api.close)
    return api


def resolve_app(app: str | None) -> str:
    """-a APP, else the app of this checkout's herokusim (or heroku) remote."""
    name = app or gitremote.app_from_remotes()
    if not name:
        raise CommandError("No app specified. Use -a APP or run inside a git checkout with a herokusim "
                           "remote.")
    return name


def release_suffix(api: Client, app: str) -> str:
    """`, v7` for the app's latest release, for `action`'s `done`."""
    latest = api.latest_release(app)
    return f", v{latest['version']}" if latest else ""


def platform_now() -> datetime:
    """The platform's simulated now (ages in `ps` and `releases` follow `clock:warp`)."""
    try:
        return parse_time(api_client().get("/clock")["now"]) or datetime.now(UTC)
    except (ApiError, KeyError, TypeError, ValueError):
        return datetime.now(UTC)
