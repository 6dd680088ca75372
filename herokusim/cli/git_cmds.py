"""CLI room: `git:remote` and the hidden `git:credentials` helper git runs to fetch the API token."""

from __future__ import annotations

import sys

import click

from herokusim.cli import gitremote
from herokusim.cli.base import api_client, app_option, load_settings, main, resolve_app
from herokusim.client import app_path, load_token


@main.command("git:remote")
@app_option
@click.option("-r", "--remote", default=gitremote.DEFAULT_REMOTE, show_default=True,
              help="Name of the git remote to set.")
def git_remote(app: str | None, remote: str) -> None:
    """Point a git remote at the app, with a credential helper so `git push` needs no password."""
    gitremote.require_checkout()
    name = resolve_app(app)
    git_url = api_client().get(app_path(name))["git_url"]
    gitremote.add_remote(remote, git_url)
    click.echo(f"set git remote {remote} to {git_url}")


@main.command("git:credentials", hidden=True)
@click.argument("operation")
def git_credentials(operation: str) -> None:
    """git's credential-helper protocol: answer `get` with the API token; ignore everything else."""
    if operation != "get":
        return
    for line in sys.stdin:
        if not line.strip():
            break
    token = load_token(load_settings())
    click.echo("username=herokusim")
    click.echo(f"password={token}")
