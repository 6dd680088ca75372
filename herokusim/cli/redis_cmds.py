"""CLI room: Heroku Key-Value Store commands — `redis:info [DATABASE]`, `redis:cli [DATABASE] [-c CMD]`,
`redis:maxmemory [DATABASE] --policy POLICY` over api/redis_api.py (the CLI never talks to Redis's
provider itself; `redis:cli` runs the bundled redis-cli the daemon names, with the add-on's password in its
environment, not on its command line)."""

from __future__ import annotations

import os
import shlex
from typing import Any

import click

from herokusim.cli.base import (
    CommandError,
    api_client,
    app_option,
    json_option,
    main,
    print_header,
    print_json,
    print_lines,
    resolve_app,
)
from herokusim.cli.output import align_object
from herokusim.client import Client, app_path

REDIS = "heroku-redis"


def redis_addons(api: Client, app: str, database: str | None) -> list[dict[str, Any]]:
    """The app's heroku-redis add-ons (DATABASE: the one it names, by name or attachment)."""
    if database:
        return [api.get(app_path(app, "addons", database))]
    found = [a for a in api.get(app_path(app, "addons")) if a["addon_service"]["name"] == REDIS]
    if not found:
        raise CommandError("No Redis instances found.")
    return found


def one_redis(api: Client, app: str, database: str | None) -> dict[str, Any]:
    found = redis_addons(api, app, database)
    if len(found) > 1:
        names = ", ".join(a["name"] for a in found)
        raise CommandError(f"Please specify a single instance. Found: {names}")
    return found[0]


def label(answer: dict[str, Any]) -> str:
    """`redis-cubed-11838 (REDIS_URL)`, as Heroku names an instance."""
    return f"{answer['addon']['name']} ({', '.join(answer['config_vars'])})"


@main.command("redis:info")
@click.argument("database", required=False)
@app_option
@json_option
def redis_info(database: str | None, app: str | None, as_json: bool) -> None:
    """Get information about Redis database."""
    api = api_client()
    name = resolve_app(app)
    answers = [api.get(app_path(name, "addons", a["name"], "redis-info")) for a in redis_addons(api, name, database)]
    if as_json:
        print_json(answers)
        return
    for answer in answers:
        print_header(label(answer))
        print_lines(align_object([(line["name"], line["value"]) for line in answer["info"]]))
        click.echo()


@main.command("redis:cli")
@click.argument("database", required=False)
@app_option
@click.option("-c", "--command", "command", metavar="CMD", help="Run one command and print its reply.")
@click.option("--confirm", metavar="APP", hidden=True)
def redis_cli(database: str | None, app: str | None, command: str | None, confirm: str | None) -> None:
    """Opens a redis prompt (or, with -c, runs one command)."""
    api = api_client()
    name = resolve_app(app)
    addon = one_redis(api, name, database)
    path = app_path(name, "addons", addon["name"], "redis-cli")
    if command is not None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise CommandError(f"Cannot parse the command {command!r}: {exc}.") from None
        if not argv:
            raise CommandError("Give a Redis command to run: -c 'GET key'.")
        click.echo(api.post(path, json={"command": argv})["output"])
        return
    connection = api.get(path)
    click.echo(f"Connecting to {label(connection)}:")
    api.close()
    os.execve(connection["argv"][0], connection["argv"], {**os.environ, **connection["env"]})


@main.command("redis:maxmemory")
@click.argument("database", required=False)
@app_option
@click.option("-p", "--policy", required=True, metavar="POLICY",
              help="Set the key eviction policy when instance reaches its storage limit.")
def redis_maxmemory(database: str | None, app: str | None, policy: str) -> None:
    """Set the key eviction policy when instances reach their storage limit."""
    api = api_client()
    name = resolve_app(app)
    addon = one_redis(api, name, database)
    answer = api.patch(app_path(name, "addons", addon["name"], "redis-maxmemory"), json={"policy": policy})
    click.echo(f"Maxmemory policy for {label(answer)} set to {answer['policy']}.")
    click.echo(f"{answer['policy']} {answer['description']}.")
