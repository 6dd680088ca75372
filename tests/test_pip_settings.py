"""Builds reach package indexes as the machine does: the machine's pip settings (PIP_* variables, pip's config
files, the files they name) and its CA bundle reach a Docker build; PIP_* config vars reach pip in the
Python buildpack on either runtime."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import Daemon, git, wait_for

from herokusim.builds import pipconf

SIX_APP = '''
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import six


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"six {six.__version__}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''


# --- the settings collection -----------------------------------------------------------------------------------


def machine(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake machine root: config files at their places under tmp_path; returns the user's home."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "home"


def test_config_files_and_variables_become_pip_variables_with_their_paths(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cert = tmp_path / "corp-ca.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    home = machine(tmp_path, {
        "xdg/pip/pip.conf": f"[global]\nindex-url = https://global.example/simple\ncert = {cert}\n"
                            "timeout = 10\n",
        "home/.config/pip/pip.conf": f"[global]\ntimeout = 20\n[install]\nfind_links =\n    {wheels}\n"
                                     "    https://wheels.example/\n    relative/dir\n",
        "home/.pip/pip.conf": "[global]\ntimeout = 15\nextra-index-url = https://legacy.example/simple\n",
    })
    env = {"XDG_CONFIG_DIRS": str(tmp_path / "xdg"), "PIP_DEFAULT_TIMEOUT": "180", "HOME": str(home),
           "PATH": "/usr/bin", "PIP_NO_COMPILE": "1"}
    settings = pipconf.collect(env, home, tmp_path / "etc")
    assert settings.env["PIP_INDEX_URL"] == "https://global.example/simple"
    assert settings.env["PIP_CERT"] == str(cert)
    assert settings.env["PIP_TIMEOUT"] == "20", "the XDG user file overrides the legacy one and the global one"
    assert settings.env["PIP_EXTRA_INDEX_URL"] == "https://legacy.example/simple"
    assert settings.env["PIP_FIND_LINKS"].split() == [str(wheels), "https://wheels.example/", "relative/dir"]
    assert settings.env["PIP_DEFAULT_TIMEOUT"] == "180" and settings.env["PIP_NO_COMPILE"] == "1"
    assert "PATH" not in settings.env and "HOME" not in settings.env, "only pip's settings"
    assert set(settings.paths) == {cert, wheels}, "local paths that exist; URLs and relative paths are not mounts"


def test_variables_win_over_files_and_install_over_global(tmp_path: Path) -> None:
    home = machine(tmp_path, {"etc/pip.conf": "[global]\nindex-url = https://a.example/simple\n"
                                              "[install]\nindex-url = https://b.example/simple\n"})
    named = tmp_path / "etc" / "pip.conf"
    assert pipconf.collect({"PIP_CONFIG_FILE": str(named)}, home, tmp_path / "etc").env == {
        "PIP_INDEX_URL": "https://b.example/simple"}, "PIP_CONFIG_FILE is read; it is no setting of its own"
    assert pipconf.collect({"PIP_CONFIG_FILE": str(named), "PIP_INDEX_URL": "https://c.example/simple"},
                           home, tmp_path / "etc").env["PIP_INDEX_URL"] == "https://c.example/simple"


def test_pip_config_file_skips_the_user_files_and_devnull_skips_all(tmp_path: Path) -> None:
    home = machine(tmp_path, {"home/.config/pip/pip.conf": "[global]\nretries = 9\n",
                              "named.conf": "[global]\ntimeout = 3\n"})
    etc = tmp_path / "etc"
    named = {"PIP_CONFIG_FILE": str(tmp_path / "named.conf")}
    assert "PIP_RETRIES" not in pipconf.collect(named, home, etc).env
    assert pipconf.collect({}, home, etc).env["PIP_RETRIES"] == "9"
    assert pipconf.collect({"PIP_CONFIG_FILE": "/dev/null", "PIP_RETRIES": "2"}, home, etc).env == {
        "PIP_RETRIES": "2"}


def test_file_urls_name_local_paths(tmp_path: Path) -> None:
    index = tmp_path / "my index"
    index.mkdir()
    settings = pipconf.collect({"PIP_INDEX_URL": f"file://{str(index).replace(' ', '%20')}",
                                "PIP_CLIENT_CERT": str(tmp_path / "missing.pem")}, tmp_path, tmp_path)
    assert settings.paths == (index,), "a file: URL is a path to mount; a file that is not there is not"


# --- through a real push ----------------------------------------------------------------------------------------


def six_app(tmp_path: Path) -> Path:
    repo = tmp_path / "six-app"
    repo.mkdir()
    (repo / "app.py").write_text(SIX_APP)
    (repo / "Procfile").write_text("web: python app.py\n")
    (repo / "requirements.txt").write_text("six==1.16.0\n")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "an app with a requirement from the package index", cwd=repo)
    return repo


@pytest.mark.both_runtimes
def test_an_app_with_a_real_requirement_builds_and_runs(daemon: Daemon, tmp_path: Path) -> None:
    """On this machine pip reaches the package index only through the machine's own settings (a CA bundle it
    trusts, PIP_* variables): a build container without them failed with SSLCertVerificationError."""
    repo = six_app(tmp_path)
    assert daemon.cli("apps:create", "six-app", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "six-app", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert "Successfully installed six-1.16.0" in push.stderr
    answer = wait_for(lambda: (r.text if (r := daemon.get("six-app.localhost")).status_code == 200 else None),
                      timeout=60, message="the app to answer")
    assert answer == "six 1.16.0\n"


def test_a_pip_config_var_reaches_pip_in_the_buildpack(daemon: Daemon, tmp_path: Path) -> None:
    """As on Heroku, PIP_* config vars (an extra or private index) are pip's settings during the build."""
    with socket.socket() as closed:  # a loopback port nobody listens on: pip's attempt fails at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    repo = six_app(tmp_path)
    assert daemon.cli("apps:create", "private-index", cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", "private-index", cwd=repo).returncode == 0
    index = f"http://127.0.0.1:{port}/simple"
    assert daemon.cli("config:set", f"PIP_INDEX_URL={index}", "PIP_RETRIES=0", "-a", "private-index").returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode != 0, "six is on no index but the app's"
    assert f"Looking in indexes: {index}" in push.stderr
    assert "No matching distribution found for six==1.16.0" in push.stderr
