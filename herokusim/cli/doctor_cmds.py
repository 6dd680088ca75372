"""CLI room: `herokusim doctor [DIR]` — a Heroku-readiness report of an app; the work is in herokusim/testing/
(rules.py: the static pass; doctor.py: both passes, the dynamic one on the running daemon with --deploy)."""

from __future__ import annotations

from pathlib import Path

import click

from herokusim.cli.base import CommandError, load_settings, main, print_header, print_json
from herokusim.testing.doctor import DeployOptions, diagnose


def _route(value: str | None, name: str) -> str | None:
    if value is not None and not value.startswith("/"):
        raise CommandError(f"{name} must start with /: {value!r}")
    return value


@main.command("doctor")
@click.argument("directory", required=False, default=".", metavar="[DIR]")
@click.option("--deploy", is_flag=True, help="Also deploy to a throwaway app on the running daemon and watch it.")
@click.option("--path", "path", default="/", show_default=True, help="The path that must answer 200 (--deploy).")
@click.option("--load", type=click.IntRange(0, 100000), default=0, show_default=True,
              help="Requests sent to --path to watch memory under load (--deploy).")
@click.option("--slow-path", metavar="PATH", help="A path that may be slow, checked against H12 (--deploy).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON (severity, rule, where, seen, "
                                                        "why, fix).")
def doctor(directory: str, deploy: bool, path: str, load: int, slow_path: str | None, as_json: bool) -> None:
    """Check whether the app in DIR (default: here) will behave on Heroku.

    Exits 1 when any finding is an error.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise CommandError(f"{directory} is not a directory")
    options = DeployOptions(path=_route(path, "--path") or "/", load=load, slow_path=_route(slow_path, "--slow-path"))
    settings = load_settings() if deploy else None
    say = (lambda line: click.echo(line, err=True)) if deploy else (lambda line: None)
    report = diagnose(root.resolve(), settings, deploy, options, say)
    findings = report.sorted()
    if as_json:
        print_json([f.as_dict() for f in findings])
        raise SystemExit(report.exit_status)
    print_header(f"herokusim doctor {directory}" + (" --deploy" if deploy else ""))
    for finding in findings:
        click.echo()
        click.echo(f"{finding.severity.upper()} [{finding.rule}] {finding.where}")
        for label, text in (("seen", finding.seen), ("why", finding.why), ("fix", finding.fix)):
            lines = text.splitlines() or [""]
            click.echo(f"  {label + ':':5} {lines[0]}")
            for more in lines[1:]:
                click.echo(f"        {more}")
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    click.echo()
    if not findings:
        click.echo("No problems found" + ("" if deploy else " (static checks; --deploy runs it on the daemon)") + ".")
    else:
        click.echo(", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items()) + ".")
    raise SystemExit(report.exit_status)
