"""CLI room: the daemon's own commands — `up` starts it, `auth:token` prints the token clients use."""

from __future__ import annotations

import dataclasses
from contextlib import suppress

import click

from herokusim.cli.base import load_settings, main
from herokusim.client import load_token


@main.command()
@click.option("--router-port", type=click.IntRange(0, 65535), help="Port of the HTTP router (default 5000).")
@click.option("--api-port", type=click.IntRange(0, 65535), help="Port of the Platform API (default 5001).")
@click.option("--git-port", type=click.IntRange(0, 65535), help="Port of the git server (default 5002).")
@click.option("--runtime", type=click.Choice(["auto", "docker", "process"]),
              help="Where dynos run: Docker containers, local processes, or auto (Docker when an engine "
                   "answers; the default, or HEROKUSIM_RUNTIME).")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True, max=1e6), metavar="N",
              help="Simulated seconds per real second for platform timers (daily cycling, crash cool-offs); "
                   "default HEROKUSIM_TIME_SCALE, else the scale the clock was saved with (1 at first).")
def up(router_port: int | None, api_port: int | None, git_port: int | None, runtime: str | None,
       time_scale: float | None) -> None:
    """Start the herokusim daemon in the foreground (Ctrl-C stops it)."""
    overrides = {"router_port": router_port, "api_port": api_port, "git_port": git_port, "runtime": runtime,
                 "time_scale": time_scale}
    settings = dataclasses.replace(load_settings(), **{k: v for k, v in overrides.items() if v is not None})
    # Imported here: the daemon pulls in the whole platform, which no other command needs.
    from herokusim.platform import serve

    with suppress(KeyboardInterrupt):
        serve(settings)


@main.command("auth:token")
def auth_token() -> None:
    """Print the API token (HEROKUSIM_API_KEY, else the one the daemon wrote)."""
    click.echo(load_token(load_settings()))
