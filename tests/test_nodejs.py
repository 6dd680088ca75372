"""The built-in Node.js buildpack: detection next to Python, npm's steps, and node-hello through the router.

The deploys are marked `both_runtimes`: node and npm are the machine's on the process runtime and the stack
image's (Debian's nodejs and npm) on the Docker runtime. No test needs the npm registry, which is not
reachable here; one proves the build fails clearly when a registry is needed and cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, Daemon, checkout_of, free_port, git, wait_for

from herokusim.builds.compiler import BuildError, compile_slug

needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are not installed on this machine")


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def build(source: Path, tmp_path: Path, config: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    lines = Lines()
    result = compile_slug(source, slug_path=tmp_path / "slug.tgz", cache_dir=tmp_path / "cache",
                          config=config or {}, emit=lines)
    return result, lines


def app(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    root = tmp_path / name
    root.mkdir()
    for path, text in files.items():
        (root / path).write_text(text)
    return root


def package_json(**fields: object) -> str:
    return json.dumps({"name": "app", "version": "1.0.0", **fields}, indent=2)


def releases(daemon: Daemon, name: str) -> list[str]:
    out = daemon.cli("releases", "-a", name).stdout
    return [line.split()[0] for line in out.splitlines() if re.match(r"\s*v\d+\s", line)]


# --- detection, next to Python ------------------------------------------------------------------------------


@needs_node
def test_detection_python_without_package_json_node_with_it(tmp_path: Path) -> None:
    python = app(tmp_path, "py", {"requirements.txt": "", "app.py": "print('hi')\n"})
    result, lines = build(python, tmp_path / "b1")
    assert result.buildpack == "Python" and "-----> Using buildpack: heroku/python" in lines

    node = app(tmp_path, "node", {"package.json": package_json(scripts={"start": "node index.js"}),
                                  "index.js": "console.log('hi')\n"})
    result, lines = build(node, tmp_path / "b2")
    assert result.buildpack == "Node.js"
    assert "-----> Using buildpack: heroku/nodejs" in lines and "-----> Node.js app detected" in lines
    assert result.process_types == {"web": "npm start"}, "Heroku's default web process for a start script"


@needs_node
def test_server_js_without_start_script_is_npm_start_and_procfile_wins(tmp_path: Path) -> None:
    node = app(tmp_path, "node", {"package.json": package_json(), "server.js": ""})
    assert build(node, tmp_path / "b1")[0].process_types == {"web": "npm start"}
    bare = app(tmp_path, "bare", {"package.json": package_json(), "worker.js": ""})
    assert build(bare, tmp_path / "b2")[0].process_types == {}, "nothing to start: no default web"
    (node / "Procfile").write_text("web: node server.js --port $PORT\n")
    assert build(node, tmp_path / "b3")[0].process_types == {"web": "node server.js --port $PORT"}


@needs_node
def test_postbuild_runs_instead_of_build_and_profile_puts_bin_on_path(tmp_path: Path) -> None:
    node = app(tmp_path, "node", {"package.json": package_json(scripts={
        "heroku-prebuild": "echo prebuild-ran",
        "build": "echo build-ran > built.txt",
        "heroku-postbuild": "echo postbuild-ran > built.txt",
    }), "server.js": ""})
    _, lines = build(node, tmp_path / "b")
    text = "\n".join(lines)
    assert "prebuild-ran" in text
    assert (node / "built.txt").read_text() == "postbuild-ran\n", "heroku-postbuild runs instead of build"
    assert "       package.json lists no dependencies: nothing to install" in lines
    profile = (node / ".profile.d" / "nodejs.sh").read_text()
    assert '$HOME/node_modules/.bin' in profile and "NODE_ENV" in profile

    plain = app(tmp_path, "plain", {"package.json": package_json(scripts={"build": "echo build-ran > built.txt"}),
                                    "server.js": ""})
    build(plain, tmp_path / "b2")
    assert (plain / "built.txt").read_text() == "build-ran\n"


@needs_node
def test_engines_node_is_reported_and_a_mismatch_warned(tmp_path: Path) -> None:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    node = app(tmp_path, "node", {"package.json": package_json(engines={"node": ">=999"}), "server.js": ""})
    _, lines = build(node, tmp_path / "b")
    assert f'-----> Using this machine\'s Node.js {version} (engines.node ">=999" asked for; herokusim ' \
           "installs no other)" in lines
    assert f' !     Warning: Node.js {version} does not satisfy engines.node ">=999" in package.json.' in lines

    (node / "package.json").write_text(package_json(engines={"node": ">=10"}))
    _, lines = build(node, tmp_path / "b2")
    assert not any("Warning" in line for line in lines)


@needs_node
def test_broken_package_json_fails_clearly(tmp_path: Path) -> None:
    node = app(tmp_path, "node", {"package.json": '{"name": "app",', "server.js": ""})
    lines = Lines()
    with pytest.raises(BuildError, match="^Failed to compile Node.js app$"):
        compile_slug(node, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    assert any(line.startswith(" !     Unable to parse package.json: ") for line in lines)

    (node / "package.json").unlink()
    (node / "package.json").symlink_to("/etc/hostname")
    lines = Lines()
    with pytest.raises(BuildError, match="^Failed to compile Node.js app$"):
        compile_slug(node, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    assert " !     package.json is a symlink to a path outside the app (/etc/hostname): refusing to read it" in lines


def test_no_node_on_the_machine_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process runtime builds with the machine's node: without one, the build says what to install."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):  # every tool of PATH but node and npm
        if os.path.isdir(directory):
            for entry in os.scandir(directory):
                if entry.name not in ("node", "nodejs", "npm", "npx") and not (bin_dir / entry.name).exists():
                    (bin_dir / entry.name).symlink_to(entry.path)
    monkeypatch.setenv("PATH", str(bin_dir))
    node = app(tmp_path, "node", {"package.json": package_json(), "server.js": ""})
    lines = Lines()
    with pytest.raises(BuildError, match="^Failed to compile Node.js app$"):
        compile_slug(node, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    assert "-----> Node.js is not installed on this machine: install nodejs and npm (apt-get install nodejs npm)" \
        in lines
    assert not (tmp_path / "s.tgz").exists()


# --- through a daemon --------------------------------------------------------------------------------------


def deploy(daemon: Daemon, repo: Path, name: str) -> subprocess.CompletedProcess[str]:
    assert daemon.cli("apps:create", name, cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", name, cwd=repo).returncode == 0
    return git("push", "herokusim", "main", cwd=repo, env=daemon.env)


@pytest.mark.both_runtimes
def test_node_hello_answers_through_the_router(daemon: Daemon, tmp_path: Path) -> None:
    assert (FIXTURES / "node-hello" / "README.md").is_file()
    if daemon.runtime == "process" and shutil.which("node") is None:
        pytest.skip("node is not installed on this machine: the process runtime builds with the machine's")
    push = deploy(daemon, checkout_of("node-hello", tmp_path / "node-hello"), "nodehello")
    assert push.returncode == 0, push.stderr
    assert "remote: -----> Using buildpack: heroku/nodejs" in push.stderr
    assert "remote: -----> Node.js app detected" in push.stderr
    whose = "the stack's" if daemon.runtime == "docker" else "this machine's"
    used = re.search(rf"-----> Using {whose} Node.js (v[\d.]+) \(engines.node \">=18\" asked for", push.stderr)
    assert used, push.stderr
    assert "Default types for buildpack -> web" in push.stderr

    body = wait_for(lambda: (r := daemon.get("nodehello.localhost")).status_code == 200 and r.text, timeout=90,
                    message="node-hello to answer through the router")
    assert body == "Hello from Node.js on herokusim!\n"
    assert daemon.get("nodehello.localhost", "/version").text == used.group(1) + "\n", \
        "the dyno runs the node the build used"
    assert daemon.get("nodehello.localhost", "/config/NODE_ENV").text == "production\n"
    out = daemon.cli("logs", "-a", "nodehello", "-n", "1500").stdout
    assert "heroku[web.1]: Starting process with command `npm start`" in out


def test_unreachable_registry_fails_the_build_naming_it(daemon: Daemon, tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed on this machine: the process runtime builds with the machine's")
    repo = app(tmp_path, "needs-deps", {"package.json": package_json(
        scripts={"start": "node server.js"}, dependencies={"left-pad": "^1.3.0"}), "server.js": ""})
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    assert git("commit", "-qm", "deps", cwd=repo).returncode == 0
    assert daemon.cli("apps:create", "needsdeps", cwd=repo).returncode == 0
    registry = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    assert daemon.cli("config:set", f"NPM_CONFIG_REGISTRY={registry}", "-a", "needsdeps").returncode == 0
    assert daemon.cli("git:remote", "-a", "needsdeps", cwd=repo).returncode == 0
    before = releases(daemon, "needsdeps")

    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode != 0
    assert f"remote:  !     Error: the npm registry could not be reached: {registry}" in push.stderr
    assert "herokusim config:set NPM_CONFIG_REGISTRY=" in push.stderr
    assert "Failed to compile Node.js app" in push.stderr
    assert releases(daemon, "needsdeps") == before, "a failed build releases nothing"
    assert daemon.api("GET", "/apps/needsdeps/dynos").json() == []
