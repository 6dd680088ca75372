"""CLI room: `builds:cache:purge` — the heroku-builds plugin's command, over `DELETE /apps/{app}/build-cache`."""

from __future__ import annotations

import sys

import click

from herokusim.cli.base import CommandError, action, api_client, app_option, main, resolve_app, warn
from herokusim.client import app_path


@main.command("builds:cache:purge")
@app_option
@click.option("-c", "--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
def builds_cache_purge(app: str | None, confirm: str | None) -> None:
    """Purge the build cache for the specified app (its next build starts with an empty cache)."""
    name = resolve_app(app)
    # the plugin's confirmCommand: a wrong --confirm is named in the error, a wrong typed answer is not
    if confirm is not None and confirm != name:
        raise CommandError(f"Confirmation {confirm} did not match {name}. Aborted.")
    if confirm is None:
        ask = f"To proceed, type {name} or re-run this command with --confirm {name}"
        if not sys.stdin.isatty():  # nobody to type the answer
            raise CommandError(ask)
        warn(f"WARNING: This will delete the build cache for {name}.")
        warn("Clearing your build cache can have unintended side effects, such as updating your language "
             "version if you don't explicitly specify one.")
        if click.prompt(ask, default="", show_default=False, err=True) != name:
            raise CommandError(f"Confirmation did not match {name}. Aborted.")
    api = api_client()
    with action(f"Purging build cache for {name}"):
        api.delete(app_path(name, "build-cache"))
