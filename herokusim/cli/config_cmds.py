"""CLI room: config var commands — `config`, `config:get`, `config:set`, `config:unset`."""

from __future__ import annotations

import click

from herokusim.cli.base import (
    CommandError,
    action,
    api_client,
    app_option,
    json_option,
    main,
    print_header,
    print_json,
    print_lines,
    release_suffix,
    resolve_app,
)
from herokusim.cli.output import HEXAGON, config_lines, parse_config_args, shell_lines
from herokusim.client import Client, app_path
from herokusim.config_vars import config_description, names


@main.command()
@app_option
@json_option
@click.option("-s", "--shell", is_flag=True, help="Output in shell format (KEY=value).")
def config(app: str | None, as_json: bool, shell: bool) -> None:
    """Show the app's config vars."""
    name = resolve_app(app)
    values = api_client().get(app_path(name, "config-vars"))
    if as_json:
        print_json(values)
    elif shell:
        print_lines(shell_lines(values))
    else:
        print_header(f"{name} Config Vars")
        print_lines(config_lines(values))


@main.command("config:get")
@click.argument("key")
@app_option
def config_get(key: str, app: str | None) -> None:
    """Print the value of one config var (an empty line when it is not set)."""
    name = resolve_app(app)
    click.echo(api_client().get(app_path(name, "config-vars")).get(key, ""))


def _config_unchanged(api: Client, app: str, changes: dict[str, str | None]) -> bool:
    """True when these changes made no release (so there is no version to claim). Where the vars read say
    so, the changes are sent all the same: another client may have changed the vars since they were read,
    and the user's values must still win; the latest release before and after tells whether they did."""
    if config_description(api.get(app_path(app, "config-vars")), changes) is not None:
        return False
    before = api.latest_release(app)
    api.patch(app_path(app, "config-vars"), changes)
    after = api.latest_release(app)
    return (before or {}).get("version") == (after or {}).get("version")


@main.command("config:set")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@app_option
def config_set(assignments: tuple[str, ...], app: str | None) -> None:
    """Set config vars and restart the app."""
    changes = parse_config_args(assignments)
    name = resolve_app(app)
    api = api_client()
    if _config_unchanged(api, name, dict(changes)):
        have = "has that value" if len(changes) == 1 else "have those values"
        click.echo(f"{names(list(changes))} already {have} on {HEXAGON} {name}: nothing changed")
        return
    with action(f"Setting {names(list(changes))} and restarting {HEXAGON} {name}") as step:
        values = api.patch(app_path(name, "config-vars"), changes)
        step.suffix = release_suffix(api, name)
    print_lines(config_lines({key: values.get(key, value) for key, value in changes.items()}))


@main.command("config:unset")
@click.argument("keys", nargs=-1, metavar="KEY...")
@app_option
def config_unset(keys: tuple[str, ...], app: str | None) -> None:
    """Unset config vars and restart the app."""
    if not keys:
        raise CommandError("Usage: herokusim config:unset KEY1 [KEY2 ...]: must specify KEY to unset.")
    name = resolve_app(app)
    api = api_client()
    if _config_unchanged(api, name, dict.fromkeys(keys)):
        click.echo(f"{names(list(keys))} {'is' if len(keys) == 1 else 'are'} not set on {HEXAGON} {name}: "
                   "nothing changed")
        return
    with action(f"Unsetting {names(list(keys))} and restarting {HEXAGON} {name}") as step:
        api.patch(app_path(name, "config-vars"), {key: None for key in keys})
        step.suffix = release_suffix(api, name)
