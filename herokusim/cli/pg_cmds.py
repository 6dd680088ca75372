"""CLI room: Heroku Postgres commands — `pg:info` (`pg`), `pg:psql` (`psql`), `pg:credentials:url`, `pg:reset`,
`pg:ps`, `pg:kill`, `pg:promote` — over the daemon's
`/apps/{app}/addons/{addon}/pg-*` endpoints (api/pg_api.py). DATABASE is an attachment name (DATABASE_URL,
HEROKU_POSTGRESQL_AMBER) or an add-on name; DATABASE_URL when not given.

pg:psql: `-c SQL`, `-f FILE` and a script on stdin run in the daemon (its answer is psql's output and exit
code), so they work for any user the CLI runs as. An interactive session execs the bundled psql here, with the
argv the daemon hands out: it connects through the server's unix socket, which only the daemon's user (and
root) can reach, so an interactive pg:psql works for the user running the daemon."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from herokusim.cli.base import (
    CommandError,
    action,
    api_client,
    app_option,
    load_settings,
    main,
    print_header,
    print_lines,
    resolve_app,
    warn,
)
from herokusim.cli.output import HEXAGON, align_object
from herokusim.client import Client, app_path

POSTGRES = "heroku-postgresql"
DEFAULT = "DATABASE"
LONG_TIMEOUT = 24 * 3600.0  # psql and reset wait for the database, not for a stuck daemon


def pg_path(app: str, database: str | None, what: str) -> str:
    return app_path(app, "addons", database or DEFAULT, what)


def psql_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """Rows as psql prints them (aligned): centred headers, `---+---` rule, numbers on the right, `(n rows)`."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], int) for row in rows) and bool(rows) for i in range(len(columns))]
    lines = [" " + " | ".join(c.center(w) for c, w in zip(columns, widths, strict=True)) + " ",
             "-" + "-+-".join("-" * w for w in widths) + "-"]
    for row in cells:
        lines.append((" " + " | ".join(v.rjust(w) if numeric[i] else v.ljust(w)
                                       for i, (v, w) in enumerate(zip(row, widths, strict=True)))).rstrip())
    lines.append(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})")
    return lines


def _long_client() -> Client:
    api = Client(load_settings(), timeout=LONG_TIMEOUT)
    click.get_current_context().call_on_close(api.close)
    return api


def _show(db: dict[str, Any]) -> None:
    print_header(", ".join(f"{name}_URL" for name in db["attachment_names"]))
    print_lines(align_object([(line["name"], ", ".join(line["values"])) for line in db["info"]
                              if line["values"]]))
    click.echo("")


@main.command("pg:info")
@click.argument("database", required=False)
@app_option
def pg_info(database: str | None, app: str | None) -> None:
    """Show database information (every Heroku Postgres database of the app when DATABASE is not given)."""
    name = resolve_app(app)
    api = api_client()
    if database:
        _show(api.get(pg_path(name, database, "pg-info")))
        return
    addons = [a for a in api.get(app_path(name, "addons")) if a["addon_service"]["name"] == POSTGRES]
    if not addons:
        click.echo(f"{name} has no heroku-postgresql databases.")
        return
    found = [api.get(pg_path(name, a["id"], "pg-info")) for a in addons]
    found.sort(key=lambda db: (db["attachment_names"][:1] != [DEFAULT], db["attachment_names"][:1]))
    for db in found:
        _show(db)


@main.command("pg", hidden=True)
@click.argument("database", required=False)
@app_option
@click.pass_context
def pg(ctx: click.Context, **kwargs: Any) -> None:
    """Alias of pg:info."""
    ctx.invoke(pg_info, **kwargs)


@main.command("pg:psql")
@click.argument("database", required=False)
@app_option
@click.option("-c", "--command", "sql", metavar="SQL", help="SQL command to run.")
@click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False), help="SQL file to run.")
def pg_psql(database: str | None, app: str | None, sql: str | None, path: str | None) -> None:
    """Open a psql shell to the database (or run -c SQL, -f FILE, or a script on stdin)."""
    name = resolve_app(app)
    if sql is not None and path is not None:
        raise CommandError("Use either --command or --file, not both.")
    api = _long_client()
    body: dict[str, Any] | None = None
    if sql is not None:
        body = {"command": sql}
    elif path is not None:
        with open(path, encoding="utf-8") as handle:
            body = {"input": handle.read()}
    elif not sys.stdin.isatty():
        body = {"input": sys.stdin.read()}
    if body is None:
        session = api.get(pg_path(name, database, "pg-psql"))
        click.echo(f"--> Connecting to {session['addon']['name']}", err=True)
        argv = session["argv"]
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            raise CommandError(f"Could not run psql ({argv[0]}): {exc.strerror}.") from None
    ran = api.post(pg_path(name, database, "pg-psql"), body)
    click.echo(f"--> Connecting to {ran['addon']['name']}", err=True)
    sys.stdout.write(ran["stdout"])
    sys.stdout.flush()
    sys.stderr.write(ran["stderr"])
    if ran["exit_code"]:
        sys.exit(ran["exit_code"])


@main.command("psql", hidden=True)
@click.argument("database", required=False)
@app_option
@click.option("-c", "--command", "sql", metavar="SQL")
@click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def psql(ctx: click.Context, **kwargs: Any) -> None:
    """Alias of pg:psql."""
    ctx.invoke(pg_psql, **kwargs)


@main.command("pg:credentials:url")
@click.argument("database", required=False)
@app_option
@click.option("-n", "--name", "credential", default="default", show_default=True,
              help="Which credential to show (herokusim has only the default one).")
def pg_credentials_url(database: str | None, app: str | None, credential: str) -> None:
    """Show information on a database credential."""
    name = resolve_app(app)
    if credential != "default":
        raise CommandError(f"Could not find any active credentials for {credential}: herokusim's databases have "
                           "only the default credential.")
    creds = api_client().get(pg_path(name, database, "pg-credentials"))
    click.echo(f"Connection information for {creds['name']} credential.")
    click.echo("Connection info string:")
    click.echo(f'  "dbname={creds["database"]} host={creds["host"]} port={creds["port"]} user={creds["user"]} '
               f'password={creds["password"]} sslmode=require"')
    click.echo("Connection URL:")
    click.echo(f"  {creds['url']}")


def _confirm(app: str, confirm: str | None, warning: str) -> None:
    if confirm is not None and confirm != app:
        raise CommandError(f"Confirmation {confirm} did not match {app}. Aborted.")
    if confirm is None:
        ask = f"To proceed, type {app} or re-run this command with --confirm {app}"
        if not sys.stdin.isatty():
            raise CommandError(ask)
        warn(f"WARNING: Destructive action\n{warning}")
        if click.prompt(ask, default="", show_default=False, err=True) != app:
            raise CommandError(f"Confirmation did not match {app}. Aborted.")


@main.command("pg:reset")
@click.argument("database", required=False)
@app_option
@click.option("-c", "--confirm", metavar="APP", help="Set to the app name to skip the confirmation prompt.")
def pg_reset(database: str | None, app: str | None, confirm: str | None) -> None:
    """Delete all data in DATABASE."""
    name = resolve_app(app)
    api = _long_client()
    addon = api.get(app_path(name, "addons", database or DEFAULT))
    if addon["addon_service"]["name"] != POSTGRES:
        raise CommandError(f"{addon['name']} is a {addon['addon_service']['name']} add-on, not a {POSTGRES} "
                           "database.")
    _confirm(name, confirm, f"{addon['name']} will lose all of its data")
    with action(f"Resetting {addon['name']}"):
        api.post(pg_path(name, addon["id"], "pg-reset"), {"confirm": name})


@main.command("pg:ps")
@click.argument("database", required=False)
@app_option
@click.option("-v", "--verbose", is_flag=True, help="Show idle connections too.")
def pg_ps(database: str | None, app: str | None, verbose: bool) -> None:
    """View active queries with execution time."""
    name = resolve_app(app)
    found = api_client().get(pg_path(name, database, "pg-ps") + ("?verbose=true" if verbose else ""))
    columns = ["pid", "state", "source", "running_for", "query"]
    print_lines(psql_table(columns, [[c[k] for k in columns] for c in found["connections"]]))
    click.echo("")


@main.command("pg:kill")
@click.argument("pid")
@click.argument("database", required=False)
@app_option
@click.option("-f", "--force", is_flag=True, help="End the connection, not only its query.")
def pg_kill(pid: str, database: str | None, app: str | None, force: bool) -> None:
    """Kill a query (with --force, its connection)."""
    name = resolve_app(app)
    if not pid.isdigit() or int(pid) <= 0:
        raise CommandError(f"Invalid PID {pid!r}: give a connection's process id, as pg:ps shows it.")
    done = api_client().post(pg_path(name, database, "pg-kill"), {"pid": int(pid), "force": force})
    print_lines(psql_table([done["function"]], [["t"]]))
    click.echo("")


@main.command("pg:promote")
@click.argument("database")
@app_option
def pg_promote(database: str, app: str | None) -> None:
    """Set DATABASE as your DATABASE_URL."""
    name = resolve_app(app)
    api = api_client()
    addon = api.get(app_path(name, "addons", database))
    if addon["addon_service"]["name"] != POSTGRES:
        raise CommandError(f"{addon['name']} is a {addon['addon_service']['name']} add-on, not a {POSTGRES} "
                           "database.")
    done = api.post(pg_path(name, addon["id"], "pg-promote"))
    if done["previous_alias"]:
        click.echo(f"Ensuring an alternate alias for existing DATABASE_URL... {done['previous_alias']}_URL")
    version = done["releases"][-1]["version"] if done["releases"] else None
    click.echo(f"Promoting {addon['name']} to DATABASE_URL on {HEXAGON} {name}... done"
               + (f", v{version}" if version else ""))

