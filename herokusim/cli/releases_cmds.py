"""CLI room: release commands — `releases`, `releases:info`, `rollback`."""

from __future__ import annotations

import click

from herokusim.cli.base import (
    CommandError,
    action,
    api_client,
    app_option,
    json_option,
    main,
    platform_now,
    print_header,
    print_json,
    print_lines,
    print_table,
    resolve_app,
    warn,
)
from herokusim.cli.output import (
    HEXAGON,
    align_object,
    config_lines,
    release_description,
    release_row,
    version_ref,
)
from herokusim.client import app_path


@main.command()
@app_option
@json_option
@click.option("-n", "--num", type=click.IntRange(min=1), default=15, show_default=True,
              help="Number of releases to show.")
def releases(app: str | None, as_json: bool, num: int) -> None:
    """List the app's releases, newest first."""
    name = resolve_app(app)
    found = api_client().get(app_path(name, "releases"), range_=f"version ..; order=desc, max={num}")
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo(f"No releases found for {HEXAGON} {name}.")
        return
    current = next((release for release in found if release.get("current")), None)
    print_header(f"{name} Releases" + (f" - Current: v{current['version']}" if current else ""))
    now = platform_now()
    print_table([release_row(release, now) for release in found], ["green", None, "yellow", "dim"])


@main.command("releases:info")
@click.argument("release", required=False, metavar="[vN]")
@app_option
@json_option
def releases_info(release: str | None, app: str | None, as_json: bool) -> None:
    """Show one release (the latest by default) and its config vars."""
    name = resolve_app(app)
    api = api_client()
    found = api.get(app_path(name, "releases", version_ref(release))) if release else api.latest_release(name)
    if found is None:
        raise CommandError(f"No releases found for {HEXAGON} {name}.")
    if as_json:
        print_json(found)
        return
    version = found["version"]
    print_header(f"Release v{version}")
    print_lines(align_object([
        ("Add-ons", ", ".join(found.get("addon_plan_names") or [])),
        ("By", (found.get("user") or {}).get("email", "")),
        ("Change", release_description(found, bracketed=True)),
        ("Eligible for Rollback?", "Yes" if found.get("eligible_for_rollback") else "No"),
        ("When", found["created_at"]),  # as the API gives it: Heroku's CLI prints the ISO timestamp
    ]))
    click.echo()
    print_header(f"v{version} Config vars")
    print_lines(config_lines(api.get(app_path(name, "releases", str(version), "config-vars"))))


@main.command()
@click.argument("release", required=False, metavar="[vN]")
@app_option
def rollback(release: str | None, app: str | None) -> None:
    """Roll back to an earlier release (by default the one before the current one)."""
    name = resolve_app(app)
    api = api_client()
    recent = api.get(app_path(name, "releases"), range_="version ..; order=desc, max=100")
    succeeded = [r for r in recent if r.get("status", "succeeded") == "succeeded"]
    current = next((r for r in recent if r.get("current")), succeeded[0] if succeeded else None)
    if release:
        target = api.get(app_path(name, "releases", version_ref(release)))
    else:
        earlier = [r for r in succeeded if current and r["version"] < current["version"]]
        if not earlier:
            raise CommandError(f"No earlier release of {HEXAGON} {name} to roll back to.")
        target = earlier[0]
    with action(f"Rolling back {HEXAGON} {name} to v{target['version']}") as step:
        made = api.post(app_path(name, "releases"), {"release": str(target["version"])})
        step.suffix = f", v{made['version']}"
    warn("Warning: Rollback affects code and config vars; it doesn't add or remove addons.")
    if current:
        warn(f"To undo, run: herokusim rollback v{current['version']}")
