"""Python versions as Heroku's Python buildpack chooses them: .python-version, runtime.txt, the default.

The build uses the requested major.minor if there is one (the stack image's Python on the Docker runtime,
a pythonX.Y on the machine's PATH on the process runtime) and the dyno runs the slug with that same
interpreter; a version that is not there fails the build naming the versions there are.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Daemon, git, wait_for

from herokusim.builds.compiler import BuildError, compile_slug

# An app that answers with the Python running it: its version and where the interpreter is.
VERSION_APP = '''
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{sys.version.split()[0]} {os.path.realpath(sys.executable)}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
STACK_PYTHON = "3.13"  # Debian trixie's python3, the stack image's only Python


def machine_python() -> str:
    """A major.minor the process runtime can build with: the tests' own interpreter, if PATH has it."""
    series = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = shutil.which(f"python{series}")
    if found is None or subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"python{series} is not on this machine's PATH")
    return series


def available(runtime: str) -> str:
    return STACK_PYTHON if runtime == "docker" else machine_python()


def version_app(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    repo = tmp_path / name
    repo.mkdir()
    (repo / "app.py").write_text(VERSION_APP)
    (repo / "requirements.txt").write_text("")
    for path, text in files.items():
        (repo / path).write_text(text)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    assert git("commit", "-qm", name, cwd=repo).returncode == 0
    return repo


def push(daemon: Daemon, repo: Path, name: str) -> subprocess.CompletedProcess[str]:
    assert daemon.cli("apps:create", name, cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", name, cwd=repo).returncode == 0
    return git("push", "herokusim", "main", cwd=repo, env=daemon.env)


def answer(daemon: Daemon, name: str) -> str:
    return wait_for(lambda: (r := daemon.get(f"{name}.localhost")).status_code == 200 and r.text, timeout=90,
                    message=f"{name} to answer through the router")


def releases(daemon: Daemon, name: str) -> list[str]:
    out = daemon.cli("releases", "-a", name).stdout
    return [line.split()[0] for line in out.splitlines() if re.match(r"\s*v\d+\s", line)]


@pytest.mark.both_runtimes
def test_python_version_file_and_runtime_txt_choose_the_python(daemon: Daemon, tmp_path: Path) -> None:
    series = available(daemon.runtime)
    where = "the stack image" if daemon.runtime == "docker" else "this machine"

    pinned = push(daemon, version_app(tmp_path, "pinned", {".python-version": f"# the app's Python\n{series}\n"}),
                  "pinned")
    assert pinned.returncode == 0, pinned.stderr
    assert f"remote: -----> Using Python {series} specified in .python-version" in pinned.stderr
    used = re.search(rf"remote:        Python ({re.escape(series)}\.\d+) from {where}: (\S+)", pinned.stderr)
    assert used, pinned.stderr
    version, path = answer(daemon, "pinned").split()
    assert (version, path) == (used.group(1), used.group(2)), "the dyno runs the interpreter the build used"

    legacy = push(daemon, version_app(tmp_path, "legacy", {"runtime.txt": f"python-{series}.0\n"}), "legacy")
    assert legacy.returncode == 0, legacy.stderr
    assert f"remote: -----> Using Python {series}.0 specified in runtime.txt" in legacy.stderr
    assert "runtime.txt is deprecated" in legacy.stderr
    assert answer(daemon, "legacy").split()[0].startswith(f"{series}.")


@pytest.mark.both_runtimes
def test_unavailable_version_fails_naming_the_versions_there_are(daemon: Daemon, tmp_path: Path) -> None:
    series = available(daemon.runtime)
    repo = version_app(tmp_path, "ancient", {".python-version": "3.7\n"})
    assert daemon.cli("apps:create", "ancient", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "ancient", cwd=repo).returncode == 0
    before = releases(daemon, "ancient")

    result = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert result.returncode != 0
    assert "remote:  !     Error: The requested Python version isn't available." in result.stderr
    assert "Your app's .python-version file specifies a Python version of 3.7," in result.stderr
    listed = re.search(r"however, (?:the stack image|this machine) only has Python ([\d., ]+)\.", result.stderr)
    assert listed and series in listed.group(1).split(", "), result.stderr
    if daemon.runtime == "docker":
        assert listed.group(1) == STACK_PYTHON
    assert "Failed to compile Python app" in result.stderr
    assert releases(daemon, "ancient") == before, "a failed build releases nothing"
    assert daemon.api("GET", "/apps/ancient/dynos").json() == []


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def test_default_is_the_newest_and_bad_files_are_named(tmp_path: Path) -> None:
    machine_python()
    source = tmp_path / "app"
    source.mkdir()
    (source / "requirements.txt").write_text("")
    lines = Lines()
    compile_slug(source, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    default = next(line for line in lines if "No Python version was specified" in line)
    newest = re.fullmatch(r"-----> No Python version was specified\. Using the buildpack default: Python (\d+\.\d+)",
                          default)
    assert newest, default
    assert tuple(map(int, newest.group(1).split("."))) >= sys.version_info[:2], "the newest available"

    for name, text, message in [
        (".python-version", "3.12\n3.13\n", "Multiple Python versions were found in your .python-version file:"),
        (".python-version", "three\n", "isn't in the correct format: 'three'"),
        ("runtime.txt", "python3.12\n", "runtime.txt contains: 'python3.12'"),
    ]:
        for other in (".python-version", "runtime.txt"):
            (source / other).unlink(missing_ok=True)
        (source / name).write_text(text)
        lines = Lines()
        with pytest.raises(BuildError, match="^Failed to compile Python app$"):
            compile_slug(source, slug_path=tmp_path / "bad.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
        assert any(line.startswith(" !     ") and message in line for line in lines), lines
        assert not (tmp_path / "bad.tgz").exists()
