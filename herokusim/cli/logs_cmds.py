"""CLI room: `logs` — the app's merged log stream, coloured by source and process on a terminal."""

from __future__ import annotations

import os
import re
import sys
import zlib
from contextlib import suppress

import click
from rich.console import Console
from rich.text import Text

from herokusim.cli.base import api_client, app_option, main, make_console, on_terminal, resolve_app
from herokusim.client import app_path

LOG_LINE = re.compile(r"^(\S+ )([\w-]+)\[([^\]]*)\]:(.*)$", re.DOTALL)
LOG_COLOURS = ("cyan", "yellow", "bright_magenta", "bright_blue", "bright_green", "bright_red", "bright_cyan")


def _log_style(source: str, process: str) -> str:
    if source == "heroku" and process == "router":
        return "blue"
    if source == "app" and process == "api":
        return "green"
    return LOG_COLOURS[zlib.crc32(process.encode()) % len(LOG_COLOURS)]


def _print_log_line(console: Console | None, line: str) -> None:
    match = LOG_LINE.match(line) if console else None
    if console is None or match is None:
        click.echo(line)
        return
    stamp, source, process, message = match.groups()
    text = Text(stamp)
    text.append(f"{source}[{process}]:", style=_log_style(source, process))
    text.append(message)
    console.print(text)


def _silence_stdout() -> None:
    """After the reader of our pipe went away (`logs | head`), stop Python complaining at exit."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@main.command()
@app_option
@click.option("-n", "--num", type=click.IntRange(min=0, max=1500), default=100, show_default=True,
              help="Number of lines to show.")
@click.option("-t", "--tail", is_flag=True, help="Keep streaming new lines.")
@click.option("-s", "--source", type=click.Choice(["app", "heroku"]), help="Only lines from this source.")
@click.option("-d", "--dyno", metavar="DYNO", help="Only lines from this dyno (e.g. web.1).")
@click.option("-p", "--ps", "process_type", metavar="TYPE",
              help="Only lines from this process type (e.g. web).")
def logs(app: str | None, num: int, tail: bool, source: str | None, dyno: str | None,
         process_type: str | None) -> None:
    """Show the app's logs (`--tail` to keep following them; Ctrl-C stops)."""
    name = resolve_app(app)
    api = api_client()
    console = make_console() if on_terminal() else None
    try:
        session = api.post(app_path(name, "log-sessions"),
                           {"lines": num, "tail": tail, "source": source, "dyno": dyno, "ps": process_type})
        for line in api.stream_lines(session["logplex_url"]):
            _print_log_line(console, line)
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        _silence_stdout()
