"""CLI room: `herokusim local [TYPE]` (and Heroku's alias `local:start`) — the Procfile's processes on this
machine, without the daemon, as `heroku local` runs them. The work is in `herokusim/local.py`."""

from __future__ import annotations

from pathlib import Path

import click

from herokusim import local
from herokusim.cli.base import CommandError, main


def _local(processname: str | None, procfile: str, env: str | None, port: int | None, watch: bool,
           timeout: float, color: bool | None) -> None:
    colour = click.get_text_stream("stdout").isatty() if color is None else color
    try:
        status = local.run_local(Path.cwd(), procfile, env, processname, port, watch, colour, grace=timeout)
    except local.LocalError as exc:
        raise CommandError(str(exc)) from None
    raise SystemExit(status)


def _options(command):  # type: ignore[no-untyped-def]
    for option in reversed([
        click.argument("processname", required=False, metavar="[PROCESSNAME]"),
        click.option("-f", "--procfile", default="Procfile", show_default=True, help="Use a different Procfile."),
        click.option("-e", "--env", metavar="FILE", help="Location of env file (defaults to .env)."),
        click.option("-p", "--port", type=click.IntRange(1, 65535),
                     help=f"Port of the first process type (default: PORT in the env file, else "
                          f"{local.DEFAULT_PORT}); each next type gets +{local.TYPE_PORT_STEP}."),
        click.option("--watch", is_flag=True, help="Restart the processes when a file changes in this directory."),
        click.option("-t", "--timeout", type=click.FloatRange(0, 3600), default=local.DEFAULT_GRACE,
                     show_default=True, help="Seconds between SIGTERM and SIGKILL when stopping."),
        click.option("--color/--no-color", default=None, help="Colour each process's prefix (default: on a terminal)."),
    ]):
        command = option(command)
    return command


@main.command("local")
@_options
def local_cmd(**kwargs) -> None:  # type: ignore[no-untyped-def]
    """Run the app's Procfile on this machine, without the daemon (as `heroku local`).

    PROCESSNAME: one type, `web,worker`, or `web=2,worker=1`; default every type but release.
    """
    _local(**kwargs)


@main.command("local:start", hidden=True)
@_options
def local_start(**kwargs) -> None:  # type: ignore[no-untyped-def]
    """Run the app's Procfile on this machine (alias of `local`)."""
    _local(**kwargs)
