"""CLI room: `herokusim stack` and `stack:build` — the stack image the Docker runtime runs builds and dynos from.

These talk to the Docker engine directly, not to the daemon: the image is the machine's, shared by every
HEROKUSIM_HOME on it.
"""

from __future__ import annotations

import click

from herokusim import stack
from herokusim.cli.base import ARROW, main
from herokusim.config import STACK


def _fail(message: str) -> None:
    click.echo(f"{ARROW}{message}", err=True)
    raise SystemExit(1)


def _mirror() -> stack.Mirror:
    try:
        return stack.read_mirror()
    except stack.StackError as exc:
        _fail(str(exc))
        raise


@main.command("stack")
def stack_show() -> None:
    """Show the stack image: its tag, whether it is built, and its recipe."""
    mirror = _mirror()
    tag = stack.image_tag(mirror)
    client = stack.connect()
    if client is None:
        state = "unknown: no Docker engine answers (the process runtime does not use it)"
    else:
        info = stack.find_image(client, tag)
        progress = None if info else stack.building()
        if info:
            state = f"built {info.created[:19].replace('T', ' ')}, {info.size / 2**20:.1f}M"
        elif progress:
            state = f"building now (a first `herokusim up` or `stack:build`): {progress}"
        else:
            state = "not built yet: `herokusim stack:build`, or `herokusim up` builds it on first use"
    click.echo(f"=== {STACK} stack")
    rows = [("Image", tag), ("State", state), ("Debian", f"{stack.SUITE} from {mirror.uri}"),
            ("Packages", ", ".join(stack.PACKAGES))]
    width = max(len(key) for key, _ in rows) + 1
    for key, value in rows:
        click.echo(f"{(key + ':').ljust(width)} {value}")


@main.command("stack:build")
@click.option("--force", is_flag=True, help="Build again even when the image for this recipe exists.")
def stack_build(force: bool) -> None:
    """Build the stack image offline from Debian's archive (debootstrap) and import it into Docker."""
    mirror = _mirror()
    client = stack.connect()
    if client is None:
        _fail("no Docker engine answers (is dockerd running, is DOCKER_HOST right?); the stack image is only "
              "needed by `herokusim up --runtime docker`")
    tag = stack.image_tag(mirror)
    if not force and stack.find_image(client, tag) is not None:
        click.echo(f"Stack image {tag} is up to date (use --force to build it again)")
        return
    try:
        stack.ensure_image(client, click.echo, rebuild=force)
    except stack.StackError as exc:
        _fail(str(exc))
