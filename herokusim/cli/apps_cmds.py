"""CLI room: the app commands — `apps`, `apps:create`, `apps:info`, `apps:rename`, `apps:destroy`,
`maintenance[:on|:off]`."""

from __future__ import annotations

import sys

import click

from herokusim.cli import gitremote
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
    resolve_app,
    warn,
)
from herokusim.cli.output import HEXAGON, align_object, dyno_counts, human_bytes, timestamp
from herokusim.client import Unavailable, app_path, parse_time


@main.command()
def apps() -> None:
    """List your apps."""
    api = api_client()
    email = api.get("/account")["email"]
    names = sorted(app["name"] for app in api.get("/apps"))
    if not names:
        click.echo("You have no apps.")
        return
    print_header(f"{email} Apps")
    print_lines(names)


@main.command("apps:create")
@click.argument("name", required=False)
@click.option("-r", "--remote", default=gitremote.DEFAULT_REMOTE, show_default=True,
              help="Name of the git remote to add.")
@click.option("--no-remote", is_flag=True, help="Do not add a git remote.")
def apps_create(name: str | None, remote: str, no_remote: bool) -> None:
    """Create a new app (named NAME, or a generated name)."""
    add_remote = not no_remote and gitremote.inside_checkout()
    api = api_client()
    if name:
        with action(f"Creating {HEXAGON} {name}"):
            app = api.post("/apps", {"name": name})
    else:
        with action("Creating app") as step:
            app = api.post("/apps", {})
            step.suffix = f", {HEXAGON} {app['name']}"
    click.echo(f"{app['web_url']} | {app['git_url']}")
    if add_remote:
        if remote in gitremote.remotes():
            # As Heroku does, an existing remote is left alone.
            warn(f"Git remote {remote} already exists; run `herokusim git:remote --app {app['name']} "
                  f"-r {remote}` to point it at this app.")
            return
        gitremote.add_remote(remote, app["git_url"])
        click.echo(f"Git remote {remote} added")


@main.command("apps:info")
@app_option
@json_option
def apps_info(app: str | None, as_json: bool) -> None:
    """Show detailed app information."""
    name = resolve_app(app)
    api = api_client()
    data = api.get(app_path(name))
    dynos = api.get(app_path(name, "dynos"))
    try:
        addons = api.get(app_path(name, "addons"))
    except Unavailable:  # a daemon without add-ons
        addons = []
    if as_json:
        # Heroku's shape: the app among what `apps:info` gathers about it (herokusim has no collaborators or
        # pipelines: empty, as on an app that has none)
        print_json({"addons": addons, "app": data, "collaborators": [], "dynos": dynos, "pipeline_coupling": None})
        return
    released = data.get("released_at")
    plans = [a["plan"]["name"] for a in addons]
    fields = [
        ("Addons", plans[0] if plans else ""),
        ("Dynos", dyno_counts(dynos)),
        ("Git URL", data["git_url"]),
        ("Maintenance", "on" if data.get("maintenance") else "off"),
        ("Owner", (data.get("owner") or {}).get("email", "")),
        ("Region", (data.get("region") or {}).get("name", "")),
        ("Released At", timestamp(parse_time(released)) if released else ""),
        ("Repo Size", human_bytes(data["repo_size"]) if data.get("repo_size") is not None else ""),
        ("Runtime", data.get("runtime") or ""),
        ("Slug Size", human_bytes(data["slug_size"]) if data.get("slug_size") is not None else ""),
        ("Stack", (data.get("stack") or {}).get("name", "")),
        ("Web URL", data["web_url"]),
    ]
    print_header(data["name"])
    lines = align_object([(key, value) for key, value in fields if value])
    if len(plans) > 1:  # Heroku's: one plan a line, under the first
        indent = " " * (len(lines[0]) - len(plans[0]))
        lines[1:1] = [indent + plan for plan in plans[1:]]
    print_lines(lines)


@main.command("apps:rename")
@click.argument("newname")
@app_option
def apps_rename(newname: str, app: str | None) -> None:
    """Rename an app (its web URL and git URL follow)."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Renaming {HEXAGON} {name} to {HEXAGON} {newname}"):
        renamed = api.patch(app_path(name), {"name": newname})
    click.echo(f"{renamed['web_url']} | {renamed['git_url']}")
    if gitremote.inside_checkout():
        # as Heroku's CLI does: this checkout's remotes to the old app now point at the new one
        for remote in gitremote.retarget_remotes({api.settings.git_url(name)}, renamed["git_url"]):
            click.echo(f"Git remote {remote} updated")
    warn("Don't forget to update git remotes for all other local checkouts of the app.")


@main.command("apps:destroy")
@click.argument("app_name", metavar="[APP]", required=False)
@app_option
@click.option("--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
def apps_destroy(app_name: str | None, app: str | None, confirm: str | None) -> None:
    """Permanently destroy an app."""
    name = app_name or resolve_app(app)
    # Heroku's confirmApp: a wrong --confirm is named in the error, a wrong typed answer is not
    if confirm is not None and confirm != name:
        raise CommandError(f"Confirmation {confirm} did not match {name}. Aborted.")
    if confirm is None:
        ask = f"To proceed, type {name} or re-run this command with --confirm {name}"
        if not sys.stdin.isatty():  # nobody to type the answer
            raise CommandError(ask)
        warn(f"WARNING: This will delete {HEXAGON} {name} including all add-ons.")
        if click.prompt(ask, default="", show_default=False, err=True) != name:
            raise CommandError(f"Confirmation did not match {name}. Aborted.")
    api = api_client()
    with action(f"Destroying {HEXAGON} {name} (including all add-ons)"):
        gone = api.delete(app_path(name))
    if gitremote.inside_checkout():
        gitremote.remove_remotes_to({gone["git_url"], api.settings.git_url(name)})


@main.command()
@app_option
def maintenance(app: str | None) -> None:
    """Show whether the app is in maintenance mode."""
    name = resolve_app(app)
    click.echo("on" if api_client().get(app_path(name))["maintenance"] else "off")


@main.command("maintenance:on")
@app_option
def maintenance_on(app: str | None) -> None:
    """Put the app into maintenance mode (the router answers H80)."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Enabling maintenance mode for {HEXAGON} {name}"):
        api.patch(app_path(name), {"maintenance": True})


@main.command("maintenance:off")
@app_option
def maintenance_off(app: str | None) -> None:
    """Take the app out of maintenance mode."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Disabling maintenance mode for {HEXAGON} {name}"):
        api.patch(app_path(name), {"maintenance": False})
