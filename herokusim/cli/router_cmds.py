"""CLI room: the router's commands — `domains`, `domains:add`, `domains:remove`, `router:stats`."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from herokusim.cli.base import (
    action,
    api_client,
    app_option,
    json_option,
    main,
    make_console,
    on_terminal,
    print_header,
    print_json,
    print_lines,
    resolve_app,
)
from herokusim.cli.output import HEXAGON, align_rows
from herokusim.client import app_path


@main.command()
@app_option
@json_option
def domains(app: str | None, as_json: bool) -> None:
    """List the app's domains: its default <app>.localhost and any custom ones."""
    name = resolve_app(app)
    data = api_client().get(app_path(name, "domains"))
    if as_json:
        print_json(data)
        return
    default = [d for d in data if d["kind"] == "heroku"]
    custom = [d for d in data if d["kind"] != "heroku"]
    print_header(f"{name} Heroku Domain")
    print_lines([d["hostname"] for d in default])
    if custom:
        click.echo()
        print_header(f"{name} Custom Domains")
        rows = [["Domain Name", "DNS Record Type", "DNS Target"]]
        rows += [[d["hostname"], "CNAME", d["cname"] or ""] for d in custom]
        print_lines(align_rows(rows))


@main.command("domains:add")
@click.argument("hostname")
@app_option
def domains_add(hostname: str, app: str | None) -> None:
    """Route a custom hostname to the app (point it at 127.0.0.1, e.g. in /etc/hosts)."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Adding {hostname} to {HEXAGON} {name}"):
        domain = api.post(app_path(name, "domains"), {"hostname": hostname})
    port = api.settings.router_port
    click.echo(f"Requests for {domain['hostname']} now reach {name}: point the name at 127.0.0.1 (an /etc/hosts "
               f"line, or curl --resolve {domain['hostname']}:{port}:127.0.0.1) and open "
               f"http://{domain['hostname']}:{port}/")


@main.command("domains:remove")
@click.argument("hostname")
@app_option
def domains_remove(hostname: str, app: str | None) -> None:
    """Stop routing a custom hostname to the app."""
    name = resolve_app(app)
    api = api_client()
    with action(f"Removing {hostname} from {HEXAGON} {name}"):
        api.delete(app_path(name, "domains", hostname))


def _ms(latency: dict[str, int]) -> str:
    return f"{latency['p50']} / {latency['p95']} / {latency['p99']}"


def stats_rows(data: dict[str, Any]) -> list[list[str]]:
    """One row per dyno and one for the whole app: in flight, requests, req/s, connect and service ms."""
    rows = []
    for dyno in data["dynos"]:
        rows.append([dyno["name"], str(dyno["inflight"]), str(dyno["requests"]), f"{dyno['requests_per_second']:.1f}",
                     _ms(dyno["connect_ms"]), _ms(dyno["service_ms"])])
    rows.append(["all", str(data["inflight"]), str(data["requests"]), f"{data['requests_per_second']:.1f}",
                 _ms(data["connect_ms"]), _ms(data["service_ms"])])
    return rows


STATS_COLUMNS = ["dyno", "in flight", "requests", "req/s", "connect ms p50/p95/p99", "service ms p50/p95/p99"]


@main.command("router:stats")
@app_option
@json_option
def router_stats(app: str | None, as_json: bool) -> None:
    """Show the router's metrics for the app: in flight per dyno, req/s, latency percentiles, H-codes."""
    name = resolve_app(app)
    data = api_client().get(app_path(name, "router-metrics"))
    if as_json:
        print_json(data)
        return
    print_header(f"{name} router (rates and percentiles over the last {data['window_seconds']} s)")
    status = "  ".join(f"{klass} {n}" for klass, n in data["status"].items())
    codes = "  ".join(f"{code} {n}" for code, n in data["codes"].items()) or "none"
    if on_terminal():
        table = Table(*STATS_COLUMNS, box=None, pad_edge=False, header_style="bold")
        for index, column in enumerate(table.columns):
            if index:
                column.justify = "right"
        for row in stats_rows(data):
            table.add_row(*row, style="bold" if row[0] == "all" else None)
        make_console().print(table)
    else:
        print_lines(align_rows([STATS_COLUMNS, *stats_rows(data)]))
    click.echo(f"Status since start: {status}")
    click.echo(f"H-codes since start: {codes}")
