"""CLI room: `herokusim tui` — attach the Textual TUI to the running daemon, or start one for the session."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from typing import Any

import click

from herokusim.cli.base import CommandError, main
from herokusim.client import ApiError, Client
from herokusim.config import Settings

ANSWER_PATIENCE = 2.0  # seconds; a daemon that answers slower than this is not taken as ready
START_PATIENCE = 30.0  # seconds a freshly started daemon may go without output before it must answer


def _answers(settings: Settings) -> bool:
    """Whether a daemon with our token answers on the API port."""
    api = Client(settings, timeout=ANSWER_PATIENCE)
    try:
        api.get("/account")
    except ApiError:
        return False
    finally:
        api.close()
    return True


def _start_daemon(settings: Settings) -> subprocess.Popen[bytes]:
    """`herokusim up` in a subprocess with the same settings; its output goes to a file, and is echoed here
    until it answers (a first start on Docker builds the stack image: that progress shows)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    log_path = settings.home / "tui-daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "herokusim", "up"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=os.environ.copy(), start_new_session=True)
    shown = 0
    last_progress = time.monotonic()
    while time.monotonic() - last_progress < START_PATIENCE:
        output = log_path.read_bytes()
        if len(output) > shown:  # still working (building the stack image, say): keep waiting
            sys.stderr.write(output[shown:].decode("utf-8", "replace"))
            sys.stderr.flush()
            shown = len(output)
            last_progress = time.monotonic()
        if proc.poll() is not None:
            raise CommandError(f"The daemon did not start (see {log_path}).")
        if _answers(settings):
            return proc
        time.sleep(0.1)
    _stop_daemon(proc)
    raise CommandError(f"The daemon did not answer within {START_PATIENCE:.0f}s of its last output (see {log_path}).")


def _stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


WEB_HOST = "127.0.0.1"  # `tui --web` serves this machine only: the TUI operates the platform, with its token
WEB_PORT = 8000


def web_server(port: int, app: str | None) -> Any:
    """textual-serve's server: each browser tab runs `herokusim tui` (this Python, these settings) in a
    terminal it draws in the page; bound to 127.0.0.1 only."""
    from textual_serve.server import Server

    command = shlex.join([sys.executable, "-m", "herokusim", "tui", *(["-a", app] if app else [])])
    return Server(command, host=WEB_HOST, port=port, title="herokusim")


@main.command()
@click.option("-a", "--app", metavar="APP", help="Open this app's screen at once.")
@click.option("--web", is_flag=True, help="Serve the TUI to a browser on 127.0.0.1 instead (textual-serve).")
@click.option("--port", type=click.IntRange(1, 65535), default=WEB_PORT, show_default=True,
              help="The port --web serves on.")
def tui(app: str | None, web: bool, port: int) -> None:
    """Watch and operate the platform in a terminal UI (starts a daemon for the session if none runs)."""
    from tui.app import HerokusimTui  # Textual loads only for this command
    from tui.client import Api, Target
    from tui.labs import LabsBackend

    settings = Settings.from_env()
    started = None
    if not _answers(settings):
        click.echo(f"No daemon answers at {settings.api_url}; starting one for this session...", err=True)
        started = _start_daemon(settings)
    try:
        if web:
            click.echo(f"Serving the TUI at http://{WEB_HOST}:{port}/ (this machine only); ctrl+c stops.", err=True)
            web_server(port, app).serve()
        else:
            HerokusimTui(Api(Target.from_settings(settings)), app, labs=LabsBackend(settings)).run()
    finally:
        if started is not None:
            click.echo("Stopping the daemon this session started...", err=True)
            _stop_daemon(started)
