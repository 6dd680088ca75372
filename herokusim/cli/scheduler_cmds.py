"""CLI room: Heroku Scheduler's jobs — `scheduler:jobs`, `scheduler:jobs:create`, `scheduler:jobs:update`,
`scheduler:jobs:delete` over api/scheduler_api.py. A job runs `every` 10m, 1h (`--at :MM`) or 1d
(`--at HH:MM`, UTC) in a one-off `scheduler.NNNN` dyno, on the simulated clock (`clock:warp` runs due jobs)."""

from __future__ import annotations

from typing import Any

import click

from herokusim.cli.base import (
    action,
    api_client,
    app_option,
    json_option,
    main,
    print_json,
    print_lines,
    resolve_app,
)
from herokusim.cli.output import HEXAGON, align_rows, display_size
from herokusim.client import app_path, parse_time

EVERY_HELP = "10m, 1h or 1d (Heroku Scheduler's every 10 minutes, every hour, every day)."


def next_due(job: dict[str, Any]) -> str:
    return parse_time(job["next_due"]).strftime("%Y-%m-%d %H:%M UTC")


def job_rows(jobs: list[dict[str, Any]]) -> list[list[str]]:
    """Heroku's table: ID, Schedule, Next Due, Dyno size, Command (a rule under the headings)."""
    rows = [["ID", "Schedule", "Next Due", "Dyno size", "Command"]] + [
        [str(j["id"]), j["schedule"], next_due(j), display_size(j["dyno_size"]), j["command"]] for j in jobs]
    rows.insert(1, ["─" * max(len(r[i]) for r in rows) for i in range(5)])
    return rows


@main.command("scheduler:jobs")
@app_option
@json_option
def scheduler_jobs(app: str | None, as_json: bool) -> None:
    """List the app's Heroku Scheduler jobs."""
    name = resolve_app(app)
    jobs = api_client().get(app_path(name, "scheduler-jobs"))
    if as_json:
        print_json(jobs)
        return
    if not jobs:
        click.echo(f"{HEXAGON} {name} has no scheduled jobs. Add one with herokusim scheduler:jobs:create "
                   "COMMAND --every 10m|1h|1d.")
        return
    print_lines(align_rows(job_rows(jobs)))


@main.command("scheduler:jobs:create")
@click.argument("command")
@app_option
@click.option("--every", required=True, metavar="10m|1h|1d", help=f"How often the job runs: {EVERY_HELP}")
@click.option("--at", metavar=":MM|HH:MM", help="When: :MM past the hour (--every 1h), HH:MM UTC (--every 1d).")
@click.option("--size", "--dyno-size", "size", metavar="SIZE", help="Dyno size (default Standard-1X).")
@json_option
def scheduler_jobs_create(command: str, app: str | None, every: str, at: str | None, size: str | None,
                          as_json: bool) -> None:
    """Schedule COMMAND to run in a one-off dyno every 10 minutes, hour or day."""
    name = resolve_app(app)
    body = {"command": command, "every": every, "at": at, "dyno_size": size}
    api = api_client()
    with action(f"Creating job on {HEXAGON} {name}") as step:
        job = api.post(app_path(name, "scheduler-jobs"), json={k: v for k, v in body.items() if v is not None})
        step.suffix = f", job {job['id']}"
    if as_json:
        print_json(job)
        return
    click.echo(f"Job {job['id']} runs `{job['command']}` {job['schedule']}; next due {next_due(job)}.")


@main.command("scheduler:jobs:update")
@click.argument("job_id", metavar="ID")
@app_option
@click.option("--every", metavar="10m|1h|1d", help=f"How often the job runs: {EVERY_HELP}")
@click.option("--at", metavar=":MM|HH:MM", help="When: :MM past the hour (--every 1h), HH:MM UTC (--every 1d).")
@click.option("--command", metavar="COMMAND", help="The job's new command.")
@click.option("--size", "--dyno-size", "size", metavar="SIZE", help="Dyno size.")
@json_option
def scheduler_jobs_update(job_id: str, app: str | None, every: str | None, at: str | None, command: str | None,
                          size: str | None, as_json: bool) -> None:
    """Change a job's schedule, command or dyno size."""
    name = resolve_app(app)
    body = {k: v for k, v in {"command": command, "every": every, "at": at, "dyno_size": size}.items()
            if v is not None}
    if not body:
        raise click.UsageError("Give what to change: --every, --at, --command or --size.")
    api = api_client()
    with action(f"Updating job {job_id} on {HEXAGON} {name}"):
        job = api.patch(app_path(name, "scheduler-jobs", job_id), json=body)
    if as_json:
        print_json(job)
        return
    click.echo(f"Job {job['id']} runs `{job['command']}` {job['schedule']}; next due {next_due(job)}.")


@main.command("scheduler:jobs:delete")
@click.argument("job_id", metavar="ID")
@app_option
def scheduler_jobs_delete(job_id: str, app: str | None) -> None:
    """Delete a job."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Deleting job {job_id} on {HEXAGON} {name}"):
        api.delete(app_path(name, "scheduler-jobs", job_id))
