"""CLI room: the buildpacks set on an app — `buildpacks`, `buildpacks:set`, `buildpacks:add`, `buildpacks:remove`,
`buildpacks:clear`, with Heroku's CLI's rules and messages. As Heroku's CLI does, each command reads the list,
changes it here and PUTs the whole list to `/apps/{app}/buildpack-installations`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from herokusim.cli import gitremote
from herokusim.cli.base import CommandError, api_client, app_option, main, print_header, resolve_app, warn
from herokusim.cli.output import HEXAGON
from herokusim.client import Client, app_path

_URN = "urn:buildpack:"

remote_option = click.option("-r", "--remote", default=gitremote.DEFAULT_REMOTE, show_default=True,
                             help="The git remote the `git push` hint names.")
index_option = click.option("-i", "--index", type=int, default=None,
                            help="The 1-based index of the URL in the list of URLs.")


def _url_argument(url: str) -> str:
    """The URL as the API takes it: a path on this machine made absolute (the daemon has its own cwd)."""
    url = url.strip().removeprefix(_URN)
    base, hash_, ref = url.partition("#")
    if "://" in base or base.startswith(("/", "heroku/")) or not Path(base).expanduser().exists():
        return url
    return f"{Path(base).expanduser().resolve()}{hash_}{ref}"


def _fetch(api: Client, app: str) -> list[str]:
    return [bp["buildpack"]["url"].removeprefix(_URN) for bp in api.get(app_path(app, "buildpack-installations"))]


def _put(api: Client, app: str, urls: list[str]) -> list[str]:
    answer = api.request("PUT", app_path(app, "buildpack-installations"),
                         json={"updates": [{"buildpack": url} for url in urls]})
    return [bp["buildpack"]["url"] for bp in answer]


def _display(urls: list[str], indent: str) -> None:
    if len(urls) == 1:  # Heroku lists one buildpack unnumbered
        click.echo(urls[0])
        return
    for number, url in enumerate(urls, 1):
        click.echo(f"{indent}{number}. {url}")


def _display_update(app: str, remote: str, urls: list[str], done: str) -> None:
    push = f"git push {remote} main"
    if len(urls) == 1:
        click.echo(f"Buildpack {done}. Next release on {HEXAGON} {app} will use {urls[0]}.")
        click.echo(f"Run {push} to create a new release using this buildpack.")
    else:
        click.echo(f"Buildpack {done}. Next release on {HEXAGON} {app} will use:")
        _display(urls, "  ")
        click.echo(f"Run {push} to create a new release using these buildpacks.")


def _clear(api: Client, app: str, what: str) -> None:
    """buildpacks:clear, and buildpacks:remove of the last one: Heroku's words, and its warning when a legacy
    config var still names a buildpack."""
    _put(api, app, [])
    config: dict[str, Any] = api.get(app_path(app, "config-vars"))
    message = f"{what}."
    for var in ("BUILDPACK_URL", "LANGUAGE_PACK_URL"):
        if config.get(var):
            click.echo(message)
            warn(f"The {var} config var is still set and will be used for the next release")
            return
    click.echo(f"{message} Next release on {HEXAGON} {app} will detect buildpacks normally.")


def _check_not_set(urls: list[str], url: str) -> None:
    if url in urls:
        raise CommandError(f"The buildpack {url} is already set on your app.")


def _position(urls: list[str], index: int | None, default: int) -> int:
    """Where `-i INDEX` points in the list (Heroku: an index past the end appends)."""
    if index is None:
        return default
    return index - 1 if 1 <= index <= len(urls) else len(urls)


@main.command("buildpacks")
@app_option
@remote_option
def buildpacks_list(app: str | None, remote: str) -> None:
    """List the buildpacks set on an app."""
    name = resolve_app(app)
    urls = _fetch(api_client(), name)
    if not urls:
        click.echo(f"{name} has no Buildpacks.")
        return
    print_header(f"{name} Classic Buildpack{'s' if len(urls) > 1 else ''} (from buildpack registry)")
    _display(urls, "")


@main.command("buildpacks:set")
@click.argument("buildpack")
@app_option
@remote_option
@index_option
def buildpacks_set(buildpack: str, app: str | None, remote: str, index: int | None) -> None:
    """Set the app's buildpack, replacing the one at INDEX (default: the first)."""
    if index is not None and index <= 0:
        raise CommandError("Invalid index. Must be greater than 0.")
    name = resolve_app(app)
    api = api_client()
    url = _url_argument(buildpack)
    urls = _fetch(api, name)
    _check_not_set(urls, url)
    at = _position(urls, index, 0)
    urls[at:at + 1] = [url]
    _display_update(name, remote, _put(api, name, urls), "set")


@main.command("buildpacks:add")
@click.argument("buildpack")
@app_option
@remote_option
@index_option
def buildpacks_add(buildpack: str, app: str | None, remote: str, index: int | None) -> None:
    """Add a buildpack to the app's list, at INDEX (default: last)."""
    if index is not None and index <= 0:
        raise CommandError("Invalid index. Must be greater than 0.")
    name = resolve_app(app)
    api = api_client()
    url = _url_argument(buildpack)
    urls = _fetch(api, name)
    _check_not_set(urls, url)
    at = _position(urls, index, len(urls))
    urls.insert(at, url)
    _display_update(name, remote, _put(api, name, urls), "added")


@main.command("buildpacks:remove")
@click.argument("buildpack", required=False)
@app_option
@remote_option
@index_option
def buildpacks_remove(buildpack: str | None, app: str | None, remote: str, index: int | None) -> None:
    """Remove a buildpack from the app's list, by URL or by INDEX."""
    if index is not None and buildpack:
        raise CommandError("Please choose either index or Buildpack, but not both.")
    if index is None and not buildpack:
        raise CommandError("Usage: herokusim buildpacks:remove [BUILDPACK_URL]. Must specify a buildpack to "
                           "remove, either by index or URL.")
    name = resolve_app(app)
    api = api_client()
    urls = _fetch(api, name)
    if not urls:
        raise CommandError(f"No buildpacks were found. Next release on {HEXAGON} {name} will detect buildpack "
                           "normally.")
    if index is not None:
        if not 1 <= index <= len(urls):
            raise CommandError("Invalid index. Only valid value is 1." if len(urls) == 1
                               else f"Invalid index. Please choose a value between 1 and {len(urls)}")
        at = index - 1
    else:
        assert buildpack is not None
        url = _url_argument(buildpack)
        if url not in urls:
            raise CommandError("Buildpack not found. Nothing was removed.")
        at = urls.index(url)
    if len(urls) == 1:
        _clear(api, name, "Buildpack removed")
        return
    del urls[at]
    _display_update(name, remote, _put(api, name, urls), "removed")


@main.command("buildpacks:clear")
@app_option
@remote_option
def buildpacks_clear(app: str | None, remote: str) -> None:
    """Clear all buildpacks set on the app: the next build detects one."""
    name = resolve_app(app)
    _clear(api_client(), name, "Buildpacks cleared")
