"""CLI room: `herokusim setup [DIR]` — an app created from the directory's app.json and deployed, as Heroku's
"Deploy to Heroku" button does: the directory is packed (git HEAD when it is a git checkout, else its files),
posted to `POST /app-setups` as a file:// tarball, and the build and postdeploy script followed to the end.

app.json is read here first (appjson.py, pure) so a bad manifest fails before anything is packed, and a
required config var without a value is asked for on a terminal (else the command says which to give with -e).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import httpx

from herokusim.appjson import AppJsonError, Manifest, parse_manifest
from herokusim.cli.base import CommandError, api_client, main, warn
from herokusim.client import Client, line_batches

POLL = 0.5
SKIPPED = {".git", "node_modules", "__pycache__", ".venv"}  # not packed from a plain directory


def _manifest(root: Path) -> Manifest:
    path = root / "app.json"
    if not path.exists():
        return Manifest()
    try:
        return parse_manifest(path.read_bytes())
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except AppJsonError as exc:
        raise CommandError(str(exc)) from None


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"{pair!r} is not KEY=VALUE")
        env[name] = value
    return env


def _ask_missing(manifest: Manifest, env: dict[str, str]) -> None:
    _, missing = manifest.resolve_env(env)
    for var in missing:
        if not sys.stdin.isatty():
            raise CommandError(f"app.json: config var {var.name} is required"
                               f"{' (' + var.description + ')' if var.description else ''}: give it with "
                               f"-e {var.name}=VALUE")
        env[var.name] = click.prompt(f"{var.name}{' (' + var.description + ')' if var.description else ''}")


def _pack(root: Path, dest: Path) -> str:
    """The app as a tar.gz: git HEAD of a checkout whose top is `root`, else the directory's files."""
    top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         check=False)
    if top.returncode == 0 and Path(top.stdout.strip()).resolve() == root.resolve():
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False)
        if head.returncode == 0:
            made = subprocess.run(["git", "-C", str(root), "archive", "--format=tar.gz", "-o", str(dest), "HEAD"],
                                  capture_output=True, text=True, check=False)
            if made.returncode != 0:
                raise CommandError(f"git archive failed: {made.stderr.strip()}")
            return f"git HEAD {head.stdout.strip()}"
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(root.iterdir()):
            if path.name not in SKIPPED:
                tar.add(path, arcname=path.name, filter=lambda info: None if Path(info.name).name in SKIPPED
                        else info)
    return "its files"


def _follow_build(api: Client, url: str) -> None:
    try:
        with httpx.stream("GET", url, headers=api.headers(), timeout=httpx.Timeout(30, read=None)) as response:
            if response.status_code != 200:
                return
            for batch in line_batches(response):
                for line in batch:
                    click.echo(line.removesuffix("\r"))
    except httpx.HTTPError as exc:
        raise api.stream_failure(exc, "build output") from None


def _wait(api: Client, setup_id: str) -> dict[str, Any]:
    followed = False
    while True:
        setup = api.get(f"/app-setups/{setup_id}")
        if setup["build"] and not followed:
            followed = True
            _follow_build(api, setup["build"]["output_stream_url"])
            continue
        if setup["status"] != "pending":
            return setup
        time.sleep(POLL)


@main.command("setup")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("-a", "--app", "name", metavar="APP", help="Name of the app to create (default: a generated one).")
@click.option("-e", "--env", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A config var for the app, over app.json's (repeatable).")
@click.option("--no-addons", is_flag=True, help="Set up without app.json's add-ons.")
def setup(directory: Path, name: str | None, pairs: tuple[str, ...], no_addons: bool) -> None:
    """Create an app from DIR's app.json (default: here), build it and run its postdeploy script."""
    if not directory.is_dir():
        raise CommandError(f"{directory} is not a directory")
    manifest = _manifest(directory)
    if manifest.addons and no_addons:
        for plan in manifest.addons:
            warn(f"Skipping add-on {plan} (--no-addons)")
    env = _overrides(pairs)
    _ask_missing(manifest, env)
    api = api_client()
    with tempfile.TemporaryDirectory(prefix="herokusim-setup-") as tmp:
        tarball = Path(tmp) / "source.tar.gz"
        what = _pack(directory, tarball)
        click.echo(f"Packed {directory.resolve().name} ({what})")
        body: dict[str, Any] = {"source_blob": {"url": tarball.resolve().as_uri()}, "overrides": {"env": env}}
        if name:
            body["app"] = {"name": name}
        if no_addons:
            body["skip_addons"] = True
        created = api.post("/app-setups", body)
        app_name = created["app"]["name"]
        click.echo(f"Creating ⬢ {app_name} from app.json... done")
        setup_ = _wait(api, created["id"])
    if setup_["postdeploy"] is not None:
        click.echo(f"-----> Postdeploy script (exit status {setup_['postdeploy']['exit_code']}):")
        for line in setup_["postdeploy"]["output"].splitlines():
            click.echo(f"       {line}")
    if setup_["status"] != "succeeded":
        raise CommandError(f"Setting up ⬢ {app_name} failed: {setup_['failure_message']}")
    app = api.get(f"/apps/{app_name}")
    click.echo(f"⬢ {app_name} is set up: {setup_['resolved_success_url'] or app['web_url']}")
