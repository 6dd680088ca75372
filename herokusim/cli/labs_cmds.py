"""CLI room: the classroom labs (herokusim/labs/) — `labs`, `labs:start`, `labs:check`, `labs:reset`,
`labs:solution`, `labs:export`. Progress is kept by the daemon (api/labs_api.py, through labs/progress.py);
a lab's checkout carries a `.herokusim-lab` file, so `labs:check` inside it needs no number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from herokusim.cli.base import CommandError, api_client, json_option, load_settings, main, print_json
from herokusim.cli.output import align_rows
from herokusim.client import ApiError
from herokusim.labs import catalogue, progress, runner
from herokusim.labs.lab import Lab
from herokusim.labs.runner import LabError, LabState

EXIT_FAIL = 1
EXIT_UNDECIDED = 2


def _lab(number: int) -> Lab:
    try:
        return progress.find_lab(number)
    except LabError as exc:
        raise CommandError(str(exc)) from None


def _started(number: int | None) -> LabState:
    """The lab this command is about: N, or the one whose checkout we are in (its `.herokusim-lab`)."""
    try:
        marker = progress.read_marker(Path.cwd())
        if number is None:
            if marker is None:
                raise CommandError("Not inside a lab's checkout (no .herokusim-lab here or above): give the "
                                   "lab's number, e.g. `herokusim labs:check 6`.")
            checkout, data = marker
            return LabState(_lab(data["number"]), checkout, {str(k): str(v) for k, v in data["apps"].items()})
        lab = _lab(number)
        if marker is not None and marker[1]["number"] == number:
            return LabState(lab, marker[0], {str(k): str(v) for k, v in marker[1]["apps"].items()})
        return progress.state_of(progress.record(api_client(), number), lab)
    except LabError as exc:
        raise CommandError(str(exc)) from None


@main.command("labs")
@json_option
def labs_list(as_json: bool) -> None:
    """List the labs and where you are in each (not started, started, passed)."""
    found = progress.records(api_client())
    rows: list[dict[str, Any]] = []
    for lab in catalogue.labs():
        record = found.get(lab.number)
        rows.append({"number": lab.number, "slug": lab.slug, "title": lab.title,
                     "state": progress.state_text(lab, record), "playable": lab.playable,
                     "waits_for": lab.waits_for, "apps": (record or {}).get("apps", {}),
                     "checkout": (record or {}).get("checkout"), "last_check": (record or {}).get("last_check")})
    if as_json:
        print_json(rows)
        return
    click.echo("=== Labs")
    for line in align_rows([[f"{r['number']:>2}", r["title"], r["state"]] for r in rows]):
        click.echo(line)
    click.echo("\nStart one with `herokusim labs:start N`; check it with `herokusim labs:check` in its directory.")


@main.command("labs:start")
@click.argument("number", type=int)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="The lab's checkout (default ./labNN-slug).")
@click.option("--time-scale", type=float, metavar="X",
              help="Run the simulated clock at X simulated seconds per second from now on (48: a day in half "
                   "an hour), for the whole daemon.")
def labs_start(number: int, directory: Path | None, time_scale: float | None) -> None:
    """Start lab NUMBER: its flawed app in a new git checkout, deployed to new apps."""
    lab = _lab(number)
    settings = load_settings()
    api = api_client()
    if time_scale is not None:  # before anything is made: a refused scale leaves nothing behind
        clock = api.patch("/clock", {"scale": time_scale})
        click.echo(f"The simulated clock now runs at {clock['time_scale']:g} simulated seconds per second.")
    dest = (directory or progress.default_dir(lab)).resolve()
    try:
        state = runner.start(lab, settings, dest, say=click.echo)
    except LabError as exc:
        raise CommandError(str(exc)) from None
    progress.write_marker(state)
    progress.record_start(api, state)
    app = next(iter(state.apps.values()))
    click.echo(f"\n=== Lab {lab.number}: {lab.title}")
    click.echo(lab.task)
    click.echo(f"\nYour app: {settings.web_url(app)} (app {app}); your checkout: {dest}")
    click.echo(f"The task is in {dest / 'README.md'}. Check with `herokusim labs:check` there.")


@main.command("labs:check")
@click.argument("number", type=int, required=False)
@click.pass_context
def labs_check(ctx: click.Context, number: int | None) -> None:
    """Check the lab (NUMBER, or the one of this checkout): PASS (exit 0), FAIL (1) or UNDECIDED (2)."""
    state = _started(number)
    if not state.lab.playable:
        raise CommandError(f"Lab {state.lab.number} is not playable yet: it waits for {state.lab.waits_for}.")
    click.echo(f"Checking lab {state.lab.number} ({state.lab.title}) on {', '.join(state.apps.values())}...")
    result = runner.check(state, load_settings(), say=click.echo)
    try:
        progress.record_check(api_client(), state, result)
    except ApiError as exc:
        click.echo(f"(the result could not be recorded: {exc})", err=True)
    if result.passed is True:
        click.echo(f"PASS: {result.observation}")
        return
    if result.passed is False:
        click.echo(f"FAIL: {result.observation}")
        if result.hint:
            click.echo(f"Hint: {result.hint}")
        ctx.exit(EXIT_FAIL)
    click.echo(f"UNDECIDED: {result.observation}")
    ctx.exit(EXIT_UNDECIDED)


@main.command("labs:reset")
@click.argument("number", type=int)
@click.option("--confirm", metavar="NUMBER", help="The lab's number again, to skip the question.")
def labs_reset(number: int, confirm: str | None) -> None:
    """Destroy lab NUMBER's apps and forget its progress (your checkout's files stay)."""
    lab = _lab(number)
    api = api_client()
    record = progress.record(api, number)
    if confirm is None:
        confirm = click.prompt(f"This destroys lab {number}'s apps ({', '.join(record['apps'].values()) or 'none'})"
                               f" and forgets its progress. Type {number} to go on", default="", show_default=False)
    if confirm.strip() != str(number):
        raise CommandError(f"Confirmation did not match {number}. Aborted.")
    for name in record["apps"].values():
        click.echo(f"Destroying {name}... ", nl=False)
        try:
            api.delete(f"/apps/{name}")
            click.echo("done")
        except ApiError as exc:
            if exc.status != 404:
                raise
            click.echo("already gone")
    if record["state"] != "not started":
        api.delete(f"/labs/{number}")
    click.echo(f"Lab {lab.number} ({lab.title}) is reset: `herokusim labs:start {number}` starts it afresh"
               + (f" (in a new directory: {record['checkout']} stays)." if record.get("checkout") else "."))


@main.command("labs:solution")
@click.argument("number", type=int, required=False)
@click.option("--yes", is_flag=True, help="Show it without asking.")
def labs_solution(number: int | None, yes: bool) -> None:
    """Show the solution of lab NUMBER (or this checkout's lab): what changes and why."""
    if number is None:
        try:
            marker = progress.read_marker(Path.cwd())
        except LabError as exc:
            raise CommandError(str(exc)) from None
        if marker is None:
            raise CommandError("Not inside a lab's checkout: give the lab's number, e.g. `herokusim labs:solution 6`.")
        number = int(marker[1]["number"])
    lab = _lab(number)
    path = lab.solution_dir / "SOLUTION.md"
    if not path.is_file():
        raise CommandError(f"Lab {number} has no written solution yet.")
    if not yes and not click.confirm(f"Show the solution of lab {number} ({lab.title})? Trying first teaches more",
                                     default=False):
        raise CommandError("Not shown.")
    click.echo(path.read_text().rstrip())
    files = sorted(p.relative_to(lab.solution_dir).as_posix() for p in lab.solution_dir.rglob("*")
                   if p.is_file() and p.name != "SOLUTION.md")
    if files:
        click.echo(f"\nThe solution's files: {', '.join(files)} (in {lab.solution_dir}).")


@main.command("labs:export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def labs_export(directory: Path) -> None:
    """Write every lab as plain files into DIRECTORY: fixture, task, solution, what the check does."""
    made = progress.export(directory)
    for where in made:
        click.echo(f"{where}/")
    click.echo(f"{len(made)} labs written to {directory}: each has fixture/ (README.md is the task), solution/ "
               "(SOLUTION.md) and CHECK.md.")
