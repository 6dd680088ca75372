"""The README's setup command works as written on a machine whose system Python refuses `pip install` (PEP 668,
as on Debian and Ubuntu), and CI runs exactly the README's test command.

The setup command is read from the README and run in a copy of this checkout, with `python3 -m pip`, `pip` and
`pip3` refusing as Debian's do; it installs from PyPI (pip's cache helps) into the venv it makes, and the
daemon it starts must answer.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, free_port

REFUSING_PIP = """#!/bin/sh
echo "error: externally-managed-environment (this test's stand-in for Debian's system Python)" >&2
exit 1
"""
# python3 as on Debian: everything works but installing into the system with pip
REFUSING_PYTHON = """#!/bin/sh
if [ "$1" = -m ] && { [ "$2" = pip ] || [ "$2" = pip3 ]; }; then
  echo "error: externally-managed-environment (this test's stand-in for Debian's system Python)" >&2
  exit 1
fi
exec @PYTHON@ "$@"
"""


def readme_block(section: str) -> list[str]:
    """The lines of the first indented code block under the README heading `section`."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"\n\n((?:    .*\n)+)", "\n" + body)
    assert block, f"no code block under ## {section}"
    return [line[4:] for line in block[1].splitlines()]


def test_ci_runs_the_readmes_test_command() -> None:
    [command] = readme_block("Run the tests")
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == command, "CI's last command is the README's test command"


def test_the_readmes_setup_command_works_where_system_pip_refuses(tmp_path: Path) -> None:
    [command] = readme_block("Start it")
    assert command.endswith("herokusim up"), command
    checkout = tmp_path / "herokusim"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"))
    shims = tmp_path / "bin"
    shims.mkdir()
    real_python = shutil.which("python3", path=os.environ["PATH"]) or sys.executable
    for name, script in {"pip": REFUSING_PIP, "pip3": REFUSING_PIP,
                         "python3": REFUSING_PYTHON.replace("@PYTHON@", real_python)}.items():
        (shims / name).write_text(script)
        (shims / name).chmod(0o755)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("HEROKUSIM_") and key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=f"{shims}:{env['PATH']}", HEROKUSIM_HOME=str(tmp_path / "home"), HEROKUSIM_RUNTIME="process",
               HEROKUSIM_ROUTER_PORT=str(free_port()), HEROKUSIM_API_PORT=str(free_port()),
               HEROKUSIM_GIT_PORT=str(free_port()))
    proc = subprocess.Popen(["bash", "-c", command], cwd=checkout, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    output = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 600  # a first install with a cold pip cache downloads every dependency
            while b"herokusim is up" not in output and time.monotonic() < deadline and proc.poll() is None:
                if selector.select(timeout=1):
                    output += os.read(proc.stdout.fileno(), 65536)
        assert b"herokusim is up" in output, output.decode(errors="replace")[-3000:]
        assert (checkout / ".venv" / "bin" / "herokusim").exists(), "herokusim is installed in the venv it made"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as the README says
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdout.close()
