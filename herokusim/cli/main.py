"""CLI room: the `herokusim` command — Heroku's command names and output over the daemon's Platform API."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, ClassVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from herokusim.cli import gitremote
from herokusim.cli.gitremote import GitError
from herokusim.cli.heroku_commands import unknown_command_message
from herokusim.cli.output import (
    HEXAGON,
    BadArgument,
    align_object,
    align_rows,
    config_lines,
    dyno_counts,
    extended_rows,
    formation_summary,
    group_dynos,
    human_bytes,
    parse_config_args,
    parse_scale_args,
    release_description,
    release_row,
    scale_summary,
    scale_updates,
    shell_lines,
    timestamp,
    version_ref,
)
from herokusim.client import ApiError, Client, DaemonNotRunning, app_path, load_token, parse_time
from herokusim.config import Settings, SettingsError
from herokusim.config_vars import config_description, names

ARROW = " ▸    "  # Heroku's prefix for errors and warnings
LOG_LINE = re.compile(r"^(\S+ )([\w-]+)\[([^\]]*)\]:(.*)$", re.DOTALL)
LOG_COLOURS = ("cyan", "yellow", "bright_magenta", "bright_blue", "bright_green", "bright_red", "bright_cyan")


class CommandError(Exception):
    """A command cannot go on (no app given, a confirmation that does not match, ...): the CLI says why in one
    line and exits 1, as for an ApiError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HerokuGroup(click.Group):
    """Colon-named commands (`ps:scale`), Heroku's short aliases, and where expected errors are reported."""

    ALIASES: ClassVar[dict[str, str]] = {
        "create": "apps:create", "destroy": "apps:destroy", "info": "apps:info", "scale": "ps:scale",
        "restart": "ps:restart", "list": "apps", "apps:list": "apps", "config:add": "config:set",
        "config:remove": "config:unset", "releases:rollback": "rollback", "dyno:restart": "ps:restart",
        "dyno:scale": "ps:scale", "dyno:stop": "ps:stop", "dyno:kill": "ps:stop", "ps:kill": "ps:stop",
    }

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand:
            ours = [name for name, command in self.commands.items() if not command.hidden]
            click.echo(f"{ARROW}{unknown_command_message(args[0], [*ours, *self.ALIASES])}", err=True)
            ctx.exit(2)  # a usage error, as Click exits for one

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DaemonNotRunning as exc:
            click.echo(exc.message, err=True)
        except (ApiError, CommandError, GitError, BadArgument, SettingsError) as exc:
            click.echo(f"{ARROW}{exc}", err=True)
        ctx.exit(1)


# --- shared pieces ------------------------------------------------------------------------------------------


def _tty() -> bool:
    return sys.stdout.isatty()


def _console() -> Console:
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=True)


def _header(text: str) -> None:
    if _tty():
        _console().print(Text(f"=== {text}", style="bold"))
    else:
        click.echo(f"=== {text}")


def _lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _warn(message: str) -> None:
    click.echo(f"{ARROW}{message}", err=True)


def _table(rows: list[list[str]], styles: list[str | None]) -> None:
    """A borderless table like Heroku's: rich on a terminal, plain aligned columns otherwise."""
    if not _tty():
        _lines(align_rows(rows))
        return
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for i, style in enumerate(styles):
        # Heroku truncates the description (second column) rather than wrapping it.
        table.add_column(style=style, no_wrap=True, overflow="ellipsis" if i == 1 else "fold")
    for row in rows:
        table.add_row(*row)
    _console().print(table)


class _Step:
    suffix = ""


@contextmanager
def _action(message: str) -> Iterator[_Step]:
    """Heroku's `Doing things... done, v3`: the message first, then `done` (plus a suffix) or `!`."""
    click.echo(f"{message}... ", nl=False)
    step = _Step()
    try:
        yield step
    except BaseException:
        click.echo("!")
        raise
    click.echo(f"done{step.suffix}")


def _settings() -> Settings:
    return Settings.from_env()


def _api() -> Client:
    api = Client(_settings())
    click.get_current_context().call_on_close(api.close)
    return api


def _resolve_app(app: str | None) -> str:
    name = app or gitremote.app_from_remotes()
    if not name:
        raise CommandError("No app specified. Use -a APP or run inside a git checkout with a herokusim "
                          "remote.")
    return name


def _release_suffix(api: Client, app: str) -> str:
    latest = api.latest_release(app)
    return f", v{latest['version']}" if latest else ""


def _now() -> datetime:
    """The platform's simulated now (ages in `ps` and `releases` follow `clock:warp`)."""
    try:
        return parse_time(_api().get("/clock")["now"]) or datetime.now(UTC)
    except (ApiError, KeyError, TypeError, ValueError):
        return datetime.now(UTC)


app_option = click.option("-a", "--app", metavar="APP", help="App to run the command against.")
json_option = click.option("--json", "as_json", is_flag=True, help="Output in JSON format.")


@click.group(cls=HerokuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="herokusim", prog_name="herokusim")
def main() -> None:
    """Heroku on one machine: start the platform with `herokusim up`, then use Heroku's commands."""


# --- daemon and auth ----------------------------------------------------------------------------------------


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
    settings = dataclasses.replace(_settings(), **{k: v for k, v in overrides.items() if v is not None})
    # Imported here: the daemon pulls in the whole platform, which no other command needs.
    from herokusim.platform import serve

    with suppress(KeyboardInterrupt):
        serve(settings)


@main.command("auth:token")
def auth_token() -> None:
    """Print the API token (HEROKUSIM_API_KEY, else the one the daemon wrote)."""
    click.echo(load_token(_settings()))


# --- apps ---------------------------------------------------------------------------------------------------


@main.command()
def apps() -> None:
    """List your apps."""
    api = _api()
    email = api.get("/account")["email"]
    names = sorted(app["name"] for app in api.get("/apps"))
    if not names:
        click.echo("You have no apps.")
        return
    _header(f"{email} Apps")
    _lines(names)


def _add_git_remote(remote: str, git_url: str) -> None:
    gitremote.set_remote(remote, git_url)
    gitremote.configure_credentials(gitremote.base_url(git_url))


@main.command("apps:create")
@click.argument("name", required=False)
@click.option("-r", "--remote", default=gitremote.DEFAULT_REMOTE, show_default=True,
              help="Name of the git remote to add.")
@click.option("--no-remote", is_flag=True, help="Do not add a git remote.")
def apps_create(name: str | None, remote: str, no_remote: bool) -> None:
    """Create a new app (named NAME, or a generated name)."""
    add_remote = not no_remote and gitremote.inside_checkout()
    api = _api()
    if name:
        with _action(f"Creating {HEXAGON} {name}"):
            app = api.post("/apps", {"name": name})
    else:
        with _action("Creating app") as step:
            app = api.post("/apps", {})
            step.suffix = f", {HEXAGON} {app['name']}"
    click.echo(f"{app['web_url']} | {app['git_url']}")
    if add_remote:
        if remote in gitremote.remotes():
            # As Heroku does, an existing remote is left alone.
            _warn(f"Git remote {remote} already exists; run `herokusim git:remote --app {app['name']} "
                  f"-r {remote}` to point it at this app.")
            return
        _add_git_remote(remote, app["git_url"])
        click.echo(f"Git remote {remote} added")


@main.command("apps:info")
@app_option
@json_option
def apps_info(app: str | None, as_json: bool) -> None:
    """Show detailed app information."""
    name = _resolve_app(app)
    api = _api()
    data = api.get(app_path(name))
    dynos = api.get(app_path(name, "dynos"))
    if as_json:
        # Heroku's shape: the app among what `apps:info` gathers about it (herokusim has no add-ons,
        # collaborators or pipelines: empty, as on an app that has none)
        _json({"addons": [], "app": data, "collaborators": [], "dynos": dynos, "pipeline_coupling": None})
        return
    released = data.get("released_at")
    fields = [
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
    _header(data["name"])
    _lines(align_object([(key, value) for key, value in fields if value]))


@main.command("apps:destroy")
@click.argument("app_name", metavar="[APP]", required=False)
@app_option
@click.option("--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
def apps_destroy(app_name: str | None, app: str | None, confirm: str | None) -> None:
    """Permanently destroy an app."""
    name = app_name or _resolve_app(app)
    # Heroku's confirmApp: a wrong --confirm is named in the error, a wrong typed answer is not
    if confirm is not None and confirm != name:
        raise CommandError(f"Confirmation {confirm} did not match {name}. Aborted.")
    if confirm is None:
        ask = f"To proceed, type {name} or re-run this command with --confirm {name}"
        if not sys.stdin.isatty():  # nobody to type the answer
            raise CommandError(ask)
        _warn(f"WARNING: This will delete {HEXAGON} {name} including all add-ons.")
        if click.prompt(ask, default="", show_default=False, err=True) != name:
            raise CommandError(f"Confirmation did not match {name}. Aborted.")
    api = _api()
    with _action(f"Destroying {HEXAGON} {name} (including all add-ons)"):
        gone = api.delete(app_path(name))
    if gitremote.inside_checkout():
        gitremote.remove_remotes_to({gone["git_url"], api.settings.git_url(name)})


@main.command()
@app_option
def maintenance(app: str | None) -> None:
    """Show whether the app is in maintenance mode."""
    name = _resolve_app(app)
    click.echo("on" if _api().get(app_path(name))["maintenance"] else "off")


@main.command("maintenance:on")
@app_option
def maintenance_on(app: str | None) -> None:
    """Put the app into maintenance mode (the router answers H80)."""
    name = _resolve_app(app)
    api = _api()
    with _action(f"Enabling maintenance mode for {HEXAGON} {name}"):
        api.patch(app_path(name), {"maintenance": True})


@main.command("maintenance:off")
@app_option
def maintenance_off(app: str | None) -> None:
    """Take the app out of maintenance mode."""
    name = _resolve_app(app)
    api = _api()
    with _action(f"Disabling maintenance mode for {HEXAGON} {name}"):
        api.patch(app_path(name), {"maintenance": False})


# --- git ----------------------------------------------------------------------------------------------------


@main.command("git:remote")
@app_option
@click.option("-r", "--remote", default=gitremote.DEFAULT_REMOTE, show_default=True,
              help="Name of the git remote to set.")
def git_remote(app: str | None, remote: str) -> None:
    """Point a git remote at the app, with a credential helper so `git push` needs no password."""
    gitremote.require_checkout()
    name = _resolve_app(app)
    git_url = _api().get(app_path(name))["git_url"]
    _add_git_remote(remote, git_url)
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
    token = load_token(_settings())
    click.echo("username=herokusim")
    click.echo(f"password={token}")


# --- config -------------------------------------------------------------------------------------------------


@main.command()
@app_option
@json_option
@click.option("-s", "--shell", is_flag=True, help="Output in shell format (KEY=value).")
def config(app: str | None, as_json: bool, shell: bool) -> None:
    """Show the app's config vars."""
    name = _resolve_app(app)
    values = _api().get(app_path(name, "config-vars"))
    if as_json:
        _json(values)
    elif shell:
        _lines(shell_lines(values))
    else:
        _header(f"{name} Config Vars")
        _lines(config_lines(values))


@main.command("config:get")
@click.argument("key")
@app_option
def config_get(key: str, app: str | None) -> None:
    """Print the value of one config var (an empty line when it is not set)."""
    name = _resolve_app(app)
    click.echo(_api().get(app_path(name, "config-vars")).get(key, ""))


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
    name = _resolve_app(app)
    api = _api()
    if _config_unchanged(api, name, dict(changes)):
        have = "has that value" if len(changes) == 1 else "have those values"
        click.echo(f"{names(list(changes))} already {have} on {HEXAGON} {name}: nothing changed")
        return
    with _action(f"Setting {names(list(changes))} and restarting {HEXAGON} {name}") as step:
        values = api.patch(app_path(name, "config-vars"), changes)
        step.suffix = _release_suffix(api, name)
    _lines(config_lines({key: values.get(key, value) for key, value in changes.items()}))


@main.command("config:unset")
@click.argument("keys", nargs=-1, metavar="KEY...")
@app_option
def config_unset(keys: tuple[str, ...], app: str | None) -> None:
    """Unset config vars and restart the app."""
    if not keys:
        raise CommandError("Usage: herokusim config:unset KEY1 [KEY2 ...]: must specify KEY to unset.")
    name = _resolve_app(app)
    api = _api()
    if _config_unchanged(api, name, dict.fromkeys(keys)):
        click.echo(f"{names(list(keys))} {'is' if len(keys) == 1 else 'are'} not set on {HEXAGON} {name}: "
                   "nothing changed")
        return
    with _action(f"Unsetting {names(list(keys))} and restarting {HEXAGON} {name}") as step:
        api.patch(app_path(name, "config-vars"), {key: None for key in keys})
        step.suffix = _release_suffix(api, name)


# --- releases -----------------------------------------------------------------------------------------------


@main.command()
@app_option
@json_option
@click.option("-n", "--num", type=click.IntRange(min=1), default=15, show_default=True,
              help="Number of releases to show.")
def releases(app: str | None, as_json: bool, num: int) -> None:
    """List the app's releases, newest first."""
    name = _resolve_app(app)
    found = _api().get(app_path(name, "releases"), range_=f"version ..; order=desc, max={num}")
    if as_json:
        _json(found)
        return
    if not found:
        click.echo(f"No releases found for {HEXAGON} {name}.")
        return
    current = next((release for release in found if release.get("current")), None)
    _header(f"{name} Releases" + (f" - Current: v{current['version']}" if current else ""))
    now = _now()
    _table([release_row(release, now) for release in found], ["green", None, "yellow", "dim"])


@main.command("releases:info")
@click.argument("release", required=False, metavar="[vN]")
@app_option
@json_option
def releases_info(release: str | None, app: str | None, as_json: bool) -> None:
    """Show one release (the latest by default) and its config vars."""
    name = _resolve_app(app)
    api = _api()
    found = api.get(app_path(name, "releases", version_ref(release))) if release else api.latest_release(name)
    if found is None:
        raise CommandError(f"No releases found for {HEXAGON} {name}.")
    if as_json:
        _json(found)
        return
    version = found["version"]
    _header(f"Release v{version}")
    _lines(align_object([
        ("Add-ons", ", ".join(found.get("addon_plan_names") or [])),
        ("By", (found.get("user") or {}).get("email", "")),
        ("Change", release_description(found, bracketed=True)),
        ("Eligible for Rollback?", "Yes" if found.get("eligible_for_rollback") else "No"),
        ("When", found["created_at"]),  # as the API gives it: Heroku's CLI prints the ISO timestamp
    ]))
    click.echo()
    _header(f"v{version} Config vars")
    _lines(config_lines(api.get(app_path(name, "releases", str(version), "config-vars"))))


@main.command()
@click.argument("release", required=False, metavar="[vN]")
@app_option
def rollback(release: str | None, app: str | None) -> None:
    """Roll back to an earlier release (by default the one before the current one)."""
    name = _resolve_app(app)
    api = _api()
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
    with _action(f"Rolling back {HEXAGON} {name} to v{target['version']}") as step:
        made = api.post(app_path(name, "releases"), {"release": str(target["version"])})
        step.suffix = f", v{made['version']}"
    _warn("Warning: Rollback affects code and config vars; it doesn't add or remove addons.")
    if current:
        _warn(f"To undo, run: herokusim rollback v{current['version']}")


# --- dynos --------------------------------------------------------------------------------------------------


@main.command()
@click.argument("types", nargs=-1, metavar="[TYPE|DYNO]...")
@app_option
@json_option
@click.option("-x", "--extended", is_flag=True,
              help="One row per dyno with its id, release and size, and when a crashed dyno restarts.")
def ps(types: tuple[str, ...], app: str | None, as_json: bool, extended: bool) -> None:
    """List the app's dynos, grouped by process type."""
    name = _resolve_app(app)
    dynos = _api().get(app_path(name, "dynos"))
    if types:
        dynos = [dyno for dyno in dynos if dyno["type"] in types or dyno["name"] in types]
    if as_json:
        _json(dynos)
        return
    if extended:
        _lines(align_rows(extended_rows(dynos, _now())))
        return
    if not dynos:
        click.echo(f"No dynos on {HEXAGON} {name}")
        return
    for i, group in enumerate(group_dynos(dynos, _now())):
        if i:
            click.echo()
        _header(group.heading)
        _lines(list(group.lines))


@main.command("ps:scale")
@click.argument("changes", nargs=-1, metavar="TYPE=N[:SIZE]...")
@app_option
def ps_scale(changes: tuple[str, ...], app: str | None) -> None:
    """Scale process types: `web=2`, `worker+1`, `web=2:standard-2X`; no arguments shows the formation."""
    parsed = parse_scale_args(changes)
    name = _resolve_app(app)
    api = _api()
    if not parsed:
        formation = api.get(app_path(name, "formation"))
        if not formation:
            click.echo(f"No process types on {HEXAGON} {name}.")
            click.echo("Upload a Procfile to add process types.")
            return
        click.echo(formation_summary(formation))
        return
    updates = scale_updates(parsed)
    with _action("Scaling dynos") as step:
        scaled = api.patch(app_path(name, "formation"), {"updates": updates})
        step.suffix = f", now running {scale_summary(scaled, [c.type for c in parsed])}"


# --- logs ---------------------------------------------------------------------------------------------------


def _log_style(source: str, process: str) -> str:
    if source == "heroku" and process == "router":
        return "blue"
    if source == "app" and process == "api":
        return "green"
    return LOG_COLOURS[zlib.crc32(process.encode()) % len(LOG_COLOURS)]


def _print_log_line(console: Console | None, line: str) -> None:
    match = LOG_LINE.match(line) if console else None
    if console is None or match is None:
        click.echo(line)
        return
    stamp, source, process, message = match.groups()
    text = Text(stamp)
    text.append(f"{source}[{process}]:", style=_log_style(source, process))
    text.append(message)
    console.print(text)


def _silence_stdout() -> None:
    """After the reader of our pipe went away (`logs | head`), stop Python complaining at exit."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@main.command()
@app_option
@click.option("-n", "--num", type=click.IntRange(min=0, max=1500), default=100, show_default=True,
              help="Number of lines to show.")
@click.option("-t", "--tail", is_flag=True, help="Keep streaming new lines.")
@click.option("-s", "--source", type=click.Choice(["app", "heroku"]), help="Only lines from this source.")
@click.option("-d", "--dyno", metavar="DYNO", help="Only lines from this dyno (e.g. web.1).")
@click.option("-p", "--ps", "process_type", metavar="TYPE",
              help="Only lines from this process type (e.g. web).")
def logs(app: str | None, num: int, tail: bool, source: str | None, dyno: str | None,
         process_type: str | None) -> None:
    """Show the app's logs (`--tail` to keep following them; Ctrl-C stops)."""
    name = _resolve_app(app)
    api = _api()
    console = _console() if _tty() else None
    try:
        session = api.post(app_path(name, "log-sessions"),
                           {"lines": num, "tail": tail, "source": source, "dyno": dyno, "ps": process_type})
        for line in api.stream_lines(session["logplex_url"]):
            _print_log_line(console, line)
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        _silence_stdout()


# `herokusim tui`, `stack[:build]`, `domains*` and `router:stats` live in their own modules; importing them
# registers them.
from herokusim.cli import dynos_cmds, router_cmds, stack_cmds, tui_cmd  # noqa: F401
