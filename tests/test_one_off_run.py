"""`herokusim run` as a user types it: the words become the dyno's command line as Heroku's CLI builds it,
bash's errors quote that command line and nothing of herokusim's, and input given before the one-off dyno
is up reaches it (typed on a terminal, or piped in).

Real daemons on both runtimes, the real CLI; a terminal is a real pty.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git

pytestmark = pytest.mark.both_runtimes  # each test once per runtime (tests/conftest.py)


def deploy(daemon: Daemon, tmp_path: Path, app: str) -> None:
    repo = checkout_of("python-hello", tmp_path / app)
    assert daemon.cli("apps:create", app).returncode == 0
    assert daemon.cli("git:remote", "-a", app, cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr


def test_run_quotes_words_as_herokus_cli(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "words")
    argv = daemon.cli("run", "python", "-c", "import sys; print(sys.argv)", "a", "b c", "-a", "words")
    assert argv.returncode == 0, argv.stdout + argv.stderr
    assert argv.stdout == "['-c', 'a', 'b c']\n"
    assert 'Running python -c "import sys; print(sys.argv)" a "b c" on ⬢ words' in argv.stderr

    quoted = daemon.cli("run", "python", "-c", 'print("x y")', "-a", "words")
    assert quoted.stdout == "x y\n", "a word with a quote is double-quoted, its quotes escaped"
    line = daemon.cli("run", "echo hi; echo there", "-a", "words")
    assert line.stdout == "hi\nthere\n", "one word is a command line as is"
    expanded = daemon.cli("run", "echo", "$DYNO", "-a", "words")
    assert re.fullmatch(r"run\.\d{4}\n", expanded.stdout), "a bare word is left to the dyno's shell"


def test_a_broken_command_line_shows_only_itself(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "broken")
    result = daemon.cli("run", "echo (", "-a", "broken")
    assert result.returncode == 2
    said = result.stdout + result.stderr
    assert "syntax error" in said and "`echo ('" in said, said
    assert ".profile" not in said, "the boot wrapper leaked: " + said


def test_piped_input_before_the_dyno_is_up_all_arrives(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "piped")
    text = "".join(f"line {n}\n" for n in range(2000))
    result = daemon.cli("run", "cat", "-a", "piped", input=text)  # all written before the dyno exists
    assert result.returncode == 0, result.stderr
    assert result.stdout == text


def test_typed_input_before_the_dyno_is_up_is_kept(daemon: Daemon, tmp_path: Path) -> None:
    """Keystrokes typed while `run` starts the dyno reach it once it is up (a terminal's raw mode used to
    throw them away, and the session then waited for input that never came)."""
    deploy(daemon, tmp_path, "typed")
    controller, terminal = pty.openpty()
    os.write(controller, b"typed early\n")  # typed before `herokusim run` even started
    proc = subprocess.Popen([sys.executable, "-m", "herokusim", "run", "tr", "a-z", "A-Z", "-a", "typed"],
                            env=daemon.env, cwd=tmp_path, stdin=terminal, stdout=terminal, stderr=terminal,
                            start_new_session=True)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"TYPED EARLY" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    break
        assert b"TYPED EARLY" in seen, seen
        os.write(controller, b"\x04")  # ^D ends the dyno's input, and the session with it
        assert proc.wait(30) == 0
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
