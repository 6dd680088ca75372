"""CLI room: dyno and clock commands — `ps`, `ps:scale`, `ps:restart`, `ps:stop`, `run`, `run:detached`,
`clock`, `clock:warp`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import termios
import tty
from typing import Any

import aiohttp
import click

from herokusim.cli.base import (
    CommandError,
    action,
    api_client,
    app_option,
    json_option,
    load_settings,
    main,
    platform_now,
    print_header,
    print_json,
    print_lines,
    resolve_app,
)
from herokusim.cli.output import (
    HEXAGON,
    align_rows,
    display_size,
    extended_rows,
    formation_summary,
    group_dynos,
    parse_scale_args,
    restart_message,
    scale_summary,
    scale_updates,
    stop_message,
    timestamp,
)
from herokusim.client import app_path, load_token, parse_time
from herokusim.clock import parse_duration


@main.command()
@click.argument("types", nargs=-1, metavar="[TYPE|DYNO]...")
@app_option
@json_option
@click.option("-x", "--extended", is_flag=True,
              help="One row per dyno with its id, release and size, and when a crashed dyno restarts.")
def ps(types: tuple[str, ...], app: str | None, as_json: bool, extended: bool) -> None:
    """List the app's dynos, grouped by process type."""
    name = resolve_app(app)
    dynos = api_client().get(app_path(name, "dynos"))
    if types:
        dynos = [dyno for dyno in dynos if dyno["type"] in types or dyno["name"] in types]
    if as_json:
        print_json(dynos)
        return
    if extended:
        print_lines(align_rows(extended_rows(dynos, platform_now())))
        return
    if not dynos:
        click.echo(f"No dynos on {HEXAGON} {name}")
        return
    for i, group in enumerate(group_dynos(dynos, platform_now())):
        if i:
            click.echo()
        print_header(group.heading)
        print_lines(list(group.lines))


@main.command("ps:scale")
@click.argument("changes", nargs=-1, metavar="TYPE=N[:SIZE]...")
@app_option
def ps_scale(changes: tuple[str, ...], app: str | None) -> None:
    """Scale process types: `web=2`, `worker+1`, `web=2:standard-2X`; no arguments shows the formation."""
    parsed = parse_scale_args(changes)
    name = resolve_app(app)
    api = api_client()
    if not parsed:
        formation = api.get(app_path(name, "formation"))
        if not formation:
            click.echo(f"No process types on {HEXAGON} {name}.")
            click.echo("Upload a Procfile to add process types.")
            return
        click.echo(formation_summary(formation))
        return
    updates = scale_updates(parsed)
    with action("Scaling dynos") as step:
        scaled = api.patch(app_path(name, "formation"), {"updates": updates})
        step.suffix = f", now running {scale_summary(scaled, [c.type for c in parsed])}"


def _dyno_or_type(target: str | None, dyno_name: str | None, process_type: str | None
                  ) -> tuple[str | None, str | None]:
    """(dyno, process type) from Heroku's flags, else from the positional argument Heroku's CLI still
    takes: `web.1` is a dyno, `web` (no number) the whole process type."""
    if dyno_name and process_type:
        raise CommandError("--process-type cannot also be provided when using --dyno-name.")
    if dyno_name or process_type:
        return dyno_name, process_type
    if target and "." not in target:
        return None, target
    return target, None


target_options = [
    click.argument("target", required=False, metavar="[DYNO|TYPE]"),
    app_option,
    click.option("-d", "--dyno-name", metavar="DYNO", help="Name of the dyno (e.g. web.1)."),
    click.option("-p", "--process-type", metavar="TYPE", help="Name of the process type (e.g. web)."),
]


def _with_target_options(command: Any) -> Any:
    for option in reversed(target_options):
        command = option(command)
    return command


@main.command("ps:restart")
@_with_target_options
def ps_restart(target: str | None, app: str | None, dyno_name: str | None, process_type: str | None) -> None:
    """Restart every dyno, the dynos of one process type (`-p web`), or one dyno (`-d web.1`)."""
    dyno, kind = _dyno_or_type(target, dyno_name, process_type)
    which = dyno or kind
    name = resolve_app(app)
    with action(restart_message(name, dyno, kind)):
        api_client().delete(app_path(name, "dynos", which) if which else app_path(name, "dynos"))


@main.command("ps:stop")
@_with_target_options
def ps_stop(target: str | None, app: str | None, dyno_name: str | None, process_type: str | None) -> None:
    """Stop a dyno (`-d web.1`) or every dyno of a process type (`-p web`): one-offs end; formation dynos
    are replaced by new ones (scale to stop for good)."""
    dyno, kind = _dyno_or_type(target, dyno_name, process_type)
    which = dyno or kind
    if not which:
        raise CommandError("Please specify a process type or dyno name to stop. See more help with --help")
    name = resolve_app(app)
    with action(stop_message(name, dyno, kind)):
        api_client().post(app_path(name, "dynos", which, "actions", "stop"))


def _split_app(command: tuple[str, ...], app: str | None) -> tuple[tuple[str, ...], str | None]:
    """`herokusim run echo hi -a demo` works as with Heroku's CLI: -a/--app anywhere before a `--`."""
    words, rest = list(command), []
    while words:
        word = words.pop(0)
        if word == "--":
            rest.extend(words)
            break
        if word in ("-a", "--app") and words:
            app = words.pop(0)
        elif word.startswith("--app="):
            app = word.removeprefix("--app=")
        else:
            rest.append(word)
    return tuple(rest), app


def _command_line(command: tuple[str, ...]) -> str:
    """The dyno's command line from `run`'s words, as Heroku's CLI builds it (buildCommand in heroku/cli's
    lib/run/helpers.ts): one word is a command line as is (`run "rake test"`); of several, a word holding a
    space or a `"` is double-quoted (its `"` escaped), the rest pass bare, so `run echo '$DYNO'` still
    expands in the dyno."""
    if len(command) == 1:
        line = command[0].strip()
    else:
        line = " ".join('"' + word.replace('"', '\\"') + '"' if " " in word or '"' in word else word
                        for word in command).strip()
    if not line:
        raise CommandError("Give a command to run, e.g. `herokusim run bash`.")
    return line


def _one_off(command: tuple[str, ...], app: str | None, size: str | None,
             env: tuple[str, ...]) -> tuple[str, str, dict[str, Any]]:
    """The app, the command line and the API body of `run` / `run:detached`."""
    command, app = _split_app(command, app)
    name = resolve_app(app)
    line = _command_line(command)
    body: dict[str, Any] = {"command": line, "env": {}}
    for pair in env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"{pair} is invalid: use -e KEY=value.")
        body["env"][key] = value
    if size:
        body["size"] = size
    return name, line, body


one_off_options = [
    click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED),
    app_option,
    click.option("-s", "--size", metavar="SIZE", help="Dyno size (default standard-1X)."),
    click.option("-e", "--env", "env", multiple=True, metavar="KEY=value", help="Extra environment variables."),
]


def _with_one_off_options(command: Any) -> Any:
    for option in reversed(one_off_options):
        command = option(command)
    return command


ONE_OFF_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@main.command("run", context_settings=ONE_OFF_SETTINGS)
@_with_one_off_options
@click.option("--no-tty", is_flag=True, help="Do not give the dyno a terminal.")
def run(command: tuple[str, ...], app: str | None, size: str | None, env: tuple[str, ...], no_tty: bool) -> None:
    """Run a one-off dyno attached to this terminal; exits with the command's exit status."""
    name, line, body = _one_off(command, app, size, env)
    use_tty = sys.stdin.isatty() and sys.stdout.isatty() and not no_tty
    body.update(attach=True, tty=use_tty)
    click.echo(f"Running {line} on {HEXAGON} {name}... ", nl=False, err=True)
    try:
        dyno = api_client().post(app_path(name, "dynos"), body)
    except BaseException:
        click.echo("!", err=True)
        raise
    click.echo(f"up, {dyno['name']} ({display_size(dyno['size'])})", err=True)
    status = asyncio.run(_attach(dyno["attach_url"], load_token(load_settings()), use_tty))
    raise SystemExit(status)


async def _attach(url: str, token: str, use_tty: bool) -> int:
    """Relay this terminal to the dyno's until it exits; its exit status."""
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if use_tty else None
    status = 1
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as ws:
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(stdin, 65536)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(stdin)
            queue.put_nowait(data)

        async def send_input() -> None:
            while data := await queue.get():
                await ws.send_bytes(data)
            await ws.send_str(json.dumps({"eof": True}))

        try:
            if saved is not None:
                # TCSANOW, not setraw's default TCSAFLUSH: what was typed while the dyno started is kept
                tty.setraw(stdin, termios.TCSANOW)
            reading = True
            try:
                loop.add_reader(stdin, readable)
            except (PermissionError, ValueError, OSError):  # e.g. /dev/null or a file: read it at once
                reading = False
                data = await asyncio.to_thread(sys.stdin.buffer.read)
                if data:
                    queue.put_nowait(data)
                queue.put_nowait(b"")
            sender = asyncio.create_task(send_input())
            out = sys.stdout.buffer
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    out.write(message.data)
                    out.flush()
                elif message.type == aiohttp.WSMsgType.TEXT:
                    status = int(json.loads(message.data).get("exit_status", 1))
            sender.cancel()
            if reading:
                loop.remove_reader(stdin)
        finally:
            if saved is not None:
                termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    return status


@main.command("run:detached", context_settings=ONE_OFF_SETTINGS)
@_with_one_off_options
def run_detached(command: tuple[str, ...], app: str | None, size: str | None, env: tuple[str, ...]) -> None:
    """Run a one-off dyno in the background; its output goes to the app's logs."""
    name, line, body = _one_off(command, app, size, env)
    body["attach"] = False
    with action(f"Running {line} on {HEXAGON} {name}") as step:
        dyno = api_client().post(app_path(name, "dynos"), body)
        step.suffix = f", {dyno['name']} ({display_size(dyno['size'])})"
    click.echo(f"Run herokusim logs --app {name} --dyno {dyno['name']} to view the output.")


def _clock_lines(clock: dict[str, Any]) -> list[str]:
    return [f"Simulated time: {timestamp(parse_time(clock['now']))}",
            f"Time scale:     {clock['time_scale']:g} simulated seconds per second"]


@main.command("clock")
def clock() -> None:
    """Show the platform's simulated time and time scale."""
    for line in _clock_lines(api_client().get("/clock")):
        click.echo(line)


@main.command("clock:warp")
@click.argument("duration")
def clock_warp(duration: str) -> None:
    """Advance simulated time by DURATION (24h, 90m, 1d12h, 30s); every timer due fires, in order."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if seconds <= 0:
        raise CommandError(f"{duration!r} is not a forward warp: give a duration more than 0.")
    with action(f"Warping the clock {duration} forward"):
        result = api_client().post("/clock/warp", {"seconds": seconds})
    for line in _clock_lines(result):
        click.echo(line)
