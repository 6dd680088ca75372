"""CLI room: Heroku Postgres followers — `pg:wait [DATABASE]` (until provisioned and, for a follower, caught up
with its leader) and `pg:unfollow DATABASE --confirm APP` (the follower becomes writable and independent).
Followers and forks themselves are made by `addons:create heroku-postgresql:PLAN --follow/--fork DATABASE`."""

from __future__ import annotations

import time

import click

from herokusim.cli.addons_cmds import _confirm
from herokusim.cli.base import action, api_client, app_option, main, resolve_app, warn
from herokusim.client import app_path

POSTGRES = "heroku-postgresql"


def _url_name(name: str) -> str:
    return name if name.endswith("_URL") or name.startswith("postgresql-") else f"{name}_URL"


@main.command("pg:wait")
@click.argument("database", required=False)
@app_option
@click.option("--wait-interval", type=click.IntRange(min=1), default=5, show_default=True, metavar="SECONDS",
              help="how frequently to poll in seconds (to avoid rate limiting)")
def pg_wait(database: str | None, app: str | None, wait_interval: int) -> None:
    """Block until the database is available (a follower: until it has caught up with its leader)."""
    name = resolve_app(app)
    api = api_client()
    if database:
        addons = [database]
    else:
        addons = [a["name"] for a in api.get(app_path(name, "addons"))
                  if a["addon_service"]["name"] == POSTGRES]
    for addon in addons:
        path = app_path(name, "addons", addon, "pg-wait")
        status = api.get(path)
        if not status["waiting"]:
            continue
        with action(f"Waiting for database {status['database']}"):
            while status["waiting"]:
                time.sleep(wait_interval)
                status = api.get(path)


@main.command("pg:unfollow")
@click.argument("database")
@app_option
@click.option("-c", "--confirm", metavar="APP", help="the app's name, to skip the confirmation prompt")
def pg_unfollow(database: str, app: str | None, confirm: str | None) -> None:
    """Stop a replica from following and make it a writeable database."""
    name = resolve_app(app)
    api = api_client()
    status = api.get(app_path(name, "addons", database, "pg-wait"))
    shown = _url_name(status["database"])
    if confirm is None:
        warn(f"WARNING: Destructive action\n{shown} will become writeable and no longer follow its leader. "
             "This cannot be undone.")
    _confirm(name, confirm)
    with action(f"{shown} unfollowing"):
        api.post(app_path(name, "addons", database, "pg-unfollow"), {})
