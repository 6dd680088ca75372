"""CLI room: add-on commands — `addons`, `addons:create` (`addons:add`), `addons:info`, `addons:destroy`
(`addons:remove`), `addons:attach`, `addons:detach`, `addons:services`, `addons:plans`."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

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
    warn,
)
from herokusim.cli.output import HEXAGON, align_object, align_rows
from herokusim.client import Client, app_path

STATES = {"provisioned": "created", "provisioning": "creating", "deprovisioned": "destroyed"}  # Heroku's words


def price(cents: int | None) -> str:
    if not cents:
        return "free"
    return f"${cents / 100:g}/month"


def provider_options(extra: tuple[str, ...]) -> dict[str, str]:
    """`-- --url=X --flag value --switch`: the provider's options (`--switch` alone is "true")."""
    options: dict[str, str] = {}
    args = [a for a in extra if a != "--"]
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise CommandError(f"Unexpected argument {arg!r}: provider options are `-- --name value` or "
                               "`-- --name=value`.")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        options[key] = value
        i += 1
    return options


def addon_path(app: str | None, addon: str) -> str:
    return app_path(app, "addons", addon) if app else f"/addons/{quote(addon, safe='')}"


def _attachments(api: Client, addon: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in api.get("/addon-attachments") if a["addon"]["id"] == addon["id"]]


@main.command()
@app_option
@click.option("-A", "--all", "everything", is_flag=True, help="Show add-ons and attachments for all accessible apps.")
@json_option
def addons(app: str | None, everything: bool, as_json: bool) -> None:
    """List your add-ons and attachments (of one app, or --all)."""
    api = api_client()
    name = None if everything else resolve_app(app)
    found = api.get(app_path(name, "addons") if name else "/addons")
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo(f"No add-ons for app {name}." if name else "You have no add-ons.")
        return
    attachments = api.get("/addon-attachments")
    rows = [["Add-on", "Plan", "Price", "State"], ["─" * 10, "─" * 4, "─" * 5, "─" * 5]]
    for addon in found:
        service = addon["addon_service"]["name"]
        billed = addon["app"]["name"]
        label = f"{service} ({addon['name']})" if not name or billed == name else f"{billed}::{addon['name']}"
        plan = addon["plan"]["name"].split(":", 1)[-1]
        cost = price(addon["billed_price"]["cents"]) if not name or billed == name else "(billed to " + billed + ")"
        rows.append([label, plan, cost, STATES.get(addon["state"], addon["state"])])
        for attachment in (a for a in attachments if a["addon"]["id"] == addon["id"]):
            where = attachment["app"]["name"]
            shown = f"as {attachment['name']}" if where == (name or billed) else f"as {where}::{attachment['name']}"
            rows.append([f" └─ {shown}", "", "", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    rows[1] = ["─" * w for w in widths]
    print_lines(align_rows(rows))
    click.echo("")
    where = f"the current app ({name})" if name else "all apps"
    click.echo(f"The table above shows add-ons and the attachments to {where} or other apps.")


@main.command("addons:create", context_settings={"ignore_unknown_options": True})
@click.argument("service_plan", metavar="SERVICE:PLAN")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@app_option
@click.option("--as", "as_name", metavar="NAME", help="Name for the initial add-on attachment.")
@click.option("--name", "addon_name", metavar="NAME", help="Name for the add-on resource.")
@click.option("--wait", is_flag=True, help="Watch add-on creation status and exit when complete.")
@json_option
def addons_create(service_plan: str, extra: tuple[str, ...], app: str | None, as_name: str | None,
                  addon_name: str | None, wait: bool, as_json: bool) -> None:
    """Create a new add-on resource (provider options after `--`: `-- --url=https://example.com/hook`)."""
    name = resolve_app(app)
    options = provider_options(extra)
    api = api_client()
    body: dict[str, Any] = {"plan": service_plan, "config": options}
    if as_name:
        body["attachment"] = {"name": as_name}
    if addon_name:
        body["name"] = addon_name
    with action(f"Creating {service_plan} on {HEXAGON} {name}") as step:
        made = api.post(app_path(name, "addons"), body)
        step.suffix = release_suffix(api, name)
    if as_json:
        print_json(made)
        return
    config_vars = made.get("config_vars") or []
    click.echo(f"Created {made['name']}" + (f" as {', '.join(config_vars)}" if config_vars else ""))
    click.echo(f"Use herokusim addons:info {made['name']} to view its details")


@main.command("addons:add", context_settings={"ignore_unknown_options": True}, hidden=True)
@click.argument("service_plan", metavar="SERVICE:PLAN")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@app_option
@click.option("--as", "as_name", metavar="NAME")
@click.option("--name", "addon_name", metavar="NAME")
@click.option("--wait", is_flag=True)
@json_option
@click.pass_context
def addons_add(ctx: click.Context, **kwargs: Any) -> None:
    """Alias of addons:create."""
    warn("addons:add is an alias of addons:create: use addons:create.")
    ctx.invoke(addons_create, **kwargs)


@main.command("addons:info")
@click.argument("addon")
@app_option
@json_option
def addons_info(addon: str, app: str | None, as_json: bool) -> None:
    """Show detailed information about an add-on."""
    api = api_client()
    name = app or None
    found = api.get(addon_path(name, addon)) if name else _find(api, addon, app)
    if as_json:
        print_json(found)
        return
    attachments = _attachments(api, found)
    print_header(found["name"])
    print_lines(align_object([
        ("Attachments", ", ".join(f"{a['app']['name']}::{a['name']}" for a in attachments)),
        ("Installed at", found["created_at"]),
        ("Owning app", found["app"]["name"]),
        ("Plan", found["plan"]["name"]),
        ("Price", price(found["billed_price"]["cents"])),
        ("State", STATES.get(found["state"], found["state"])),
    ]))


def _find(api: Client, addon: str, app: str | None) -> dict[str, Any]:
    """By name or id anywhere; else by attachment name on this checkout's app."""
    from herokusim.client import ApiError

    try:
        return api.get(addon_path(None, addon))
    except ApiError as exc:
        if exc.status != 404:
            raise
    try:
        name = resolve_app(app)
    except CommandError:
        raise CommandError(f"Couldn't find that add-on ({addon}).") from None
    return api.get(addon_path(name, addon))


@main.command("addons:destroy")
@click.argument("addon_names", nargs=-1, required=True, metavar="ADDON...")
@app_option
@click.option("-c", "--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
@click.option("-f", "--force", is_flag=True, help="Allow destruction even if connected to other apps.")
def addons_destroy(addon_names: tuple[str, ...], app: str | None, confirm: str | None, force: bool) -> None:
    """Permanently destroy an add-on resource (its data goes with it)."""
    api = api_client()
    for addon in addon_names:
        found = _find(api, addon, app)
        owner = found["app"]["name"]
        if app and app != owner:
            raise CommandError(f"{found['name']} is billed to {HEXAGON} {owner}: destroy it with -a {owner}.")
        others = {a["app"]["name"] for a in _attachments(api, found)} - {owner}
        if others and not force:
            raise CommandError(f"{found['name']} is attached to other apps ({', '.join(sorted(others))}): "
                               "detach it there first, or use --force.")
        _confirm(owner, confirm)
        with action(f"Destroying {found['name']} on {HEXAGON} {owner}") as step:
            api.delete(app_path(owner, "addons", found["id"]))
            step.suffix = release_suffix(api, owner)


def _confirm(name: str, confirm: str | None) -> None:
    if confirm is not None and confirm != name:
        raise CommandError(f"Confirmation {confirm} did not match {name}. Aborted.")
    if confirm is None:
        ask = f"To proceed, type {name} or re-run this command with --confirm {name}"
        if not sys.stdin.isatty():
            raise CommandError(ask)
        warn(f"WARNING: Destructive Action\nThis command will affect the app {HEXAGON} {name}")
        if click.prompt(ask, default="", show_default=False, err=True) != name:
            raise CommandError(f"Confirmation did not match {name}. Aborted.")


@main.command("addons:remove", hidden=True)
@click.argument("addon_names", nargs=-1, required=True, metavar="ADDON...")
@app_option
@click.option("-c", "--confirm", metavar="APP")
@click.option("-f", "--force", is_flag=True)
@click.pass_context
def addons_remove(ctx: click.Context, **kwargs: Any) -> None:
    """Alias of addons:destroy."""
    warn("addons:remove is an alias of addons:destroy: use addons:destroy.")
    ctx.invoke(addons_destroy, **kwargs)


@main.command("addons:attach")
@click.argument("addon")
@app_option
@click.option("--as", "as_name", metavar="NAME", help="Name for the add-on attachment.")
@click.option("--confirm", metavar="APP", help="Overwrite existing config vars or attachments on APP.")
def addons_attach(addon: str, app: str | None, as_name: str | None, confirm: str | None) -> None:
    """Attach an existing add-on resource to an app."""
    name = resolve_app(app)
    api = api_client()
    found = api.get(addon_path(None, addon))
    body: dict[str, Any] = {"addon": found["id"], "app": name}
    if as_name:
        body["name"] = as_name
    with action(f"Attaching {found['name']}" + (f" as {as_name.upper()}" if as_name else "")
                + f" to {HEXAGON} {name}"):
        attachment = api.post("/addon-attachments", body)
    with action(f"Setting {attachment['name']} config vars and restarting {HEXAGON} {name}") as step:
        step.suffix = release_suffix(api, name)


@main.command("addons:detach")
@click.argument("attachment_name", metavar="ATTACHMENT")
@app_option
def addons_detach(attachment_name: str, app: str | None) -> None:
    """Detach an existing add-on resource from an app."""
    name = resolve_app(app)
    api = api_client()
    wanted = attachment_name.upper().removesuffix("_URL")
    attachment = next((a for a in api.get(app_path(name, "addon-attachments"))
                       if a["name"] == wanted or a["id"] == attachment_name), None)
    if attachment is None:
        raise CommandError(f"Couldn't find an add-on attachment {attachment_name} on {HEXAGON} {name}.")
    with action(f"Detaching {attachment['name']} to {attachment['addon']['name']} from {HEXAGON} {name}"):
        api.delete(f"/addon-attachments/{attachment['id']}")
    with action(f"Unsetting {attachment['name']} config vars and restarting {HEXAGON} {name}") as step:
        step.suffix = release_suffix(api, name)


@main.command("addons:services")
@json_option
def addons_services(as_json: bool) -> None:
    """List all available add-on services."""
    services = api_client().get("/addon-services")
    if as_json:
        print_json(services)
        return
    rows = [["Slug", "Name", "State"]] + [[s["name"], s["human_name"], s["state"]] for s in services]
    rows.insert(1, ["─" * max(len(r[i]) for r in rows) for i in range(3)])
    print_lines(align_rows(rows))
    click.echo("")
    click.echo("See plans with herokusim addons:plans SERVICE")


@main.command("addons:plans")
@click.argument("service")
@json_option
def addons_plans(service: str, as_json: bool) -> None:
    """List all available plans for an add-on service."""
    plans = api_client().get(f"/addon-services/{quote(service, safe='')}/plans")
    if as_json:
        print_json(plans)
        return
    rows = [["", "Slug", "Name", "Price"]] + [["default" if p["default"] else "", p["name"], p["human_name"],
                                                price(p["price"]["cents"])] for p in plans]
    rows.insert(1, ["─" * max(len(r[i]) for r in rows) for i in range(4)])
    print_lines(align_rows(rows))

