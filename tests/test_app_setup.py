"""app.json: `herokusim setup [DIR]` and `POST /app-setups` make an app from a repo's app.json — config vars
(values, generated secrets, required ones given as overrides), formation, buildpacks, postdeploy — and refuse
an invalid manifest with an error naming the field, creating nothing."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, ROOT, Daemon, git, wait_for

WORKER = "import time\nprint('worker up', flush=True)\nwhile True:\n    time.sleep(1)\n"
MANIFEST: dict[str, Any] = {
    "name": "Setup demo",
    "env": {
        "SECRET_KEY": {"description": "signs sessions", "generator": "secret"},
        "API_TOKEN": {"description": "the token of the API the app calls", "required": True},
        "GREETING": "hello from app.json",
        "OPTIONAL": {"description": "not needed", "required": False},
    },
    "formation": {"web": {"quantity": 2, "size": "basic"}, "worker": {"quantity": 1}},
    "scripts": {"postdeploy": "echo postdeploy says $GREETING; echo token=$API_TOKEN"},
}


def app_dir(tmp_path: Path, manifest: dict[str, Any] | str, commit: bool = True) -> Path:
    root = tmp_path / "src"
    shutil.copytree(FIXTURES / "python-hello", root)
    (root / "worker.py").write_text(WORKER)
    (root / "Procfile").write_text("web: python app.py\nworker: python worker.py\n")
    (root / "app.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    if commit:
        git("init", "-q", "-b", "main", cwd=root)
        git("add", "-A", cwd=root)
        assert git("commit", "-q", "-m", "first", cwd=root).returncode == 0
    return root


def setup_cli(daemon: Daemon, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`herokusim setup ARGS` of this checkout (Daemon.cli runs outside it, where another install may win)."""
    return daemon.cli("setup", *args, env={"PYTHONPATH": str(ROOT)}, **kwargs)


def app_names(daemon: Daemon) -> list[str]:
    return [a["name"] for a in daemon.api("GET", "/apps").json()]


def test_setup_from_app_json(daemon: Daemon, tmp_path: Path) -> None:
    root = app_dir(tmp_path, MANIFEST)
    result = setup_cli(daemon, str(root), "-a", "setup-demo", "-e", "API_TOKEN=tok-123", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Packed src (git HEAD" in out and "Creating ⬢ setup-demo from app.json... done" in out
    assert "-----> Python app detected" in out, "the build's output is followed"
    assert "postdeploy says hello from app.json" in out and "token=tok-123" in out
    assert "⬢ setup-demo is set up: http://setup-demo.localhost:" in out

    config = daemon.api("GET", "/apps/setup-demo/config-vars").json()
    assert re.fullmatch(r"[0-9a-f]{64}", config.pop("SECRET_KEY")), "generator: secret makes 64 hex digits"
    assert config == {"API_TOKEN": "tok-123", "GREETING": "hello from app.json"}

    formation = {f["type"]: f for f in daemon.api("GET", "/apps/setup-demo/formation").json()}
    assert (formation["web"]["quantity"], formation["web"]["size"]) == (2, "basic")
    assert formation["worker"]["quantity"] == 1

    def states() -> dict[str, str]:
        return {d["name"]: d["state"] for d in daemon.api("GET", "/apps/setup-demo/dynos").json()}

    wait_for(lambda: {n: s for n, s in states().items() if not n.startswith("run.")} ==
             {"web.1": "up", "web.2": "up", "worker.1": "up"}, timeout=90, message="web.1, web.2, worker.1 up")
    answer = daemon.get("setup-demo.localhost", "/config/GREETING")
    assert answer.status_code == 200 and answer.text == "hello from app.json\n"

    # the postdeploy script ran once, in a one-off dyno, its output in the app's log
    logs = daemon.cli("logs", "-a", "setup-demo", "-n", "1500").stdout
    ran = re.findall(r"app\[run\.\d+\]: postdeploy says hello from app.json", logs)
    assert len(ran) == 1, logs
    assert "app[api]: Running postdeploy script `echo postdeploy says $GREETING; echo token=$API_TOKEN`" in logs


def test_required_var_without_a_value_is_an_error_naming_it(daemon: Daemon, tmp_path: Path) -> None:
    root = app_dir(tmp_path, MANIFEST)
    result = setup_cli(daemon, str(root), "-a", "setup-missing", input="")  # not a terminal: no prompt
    assert result.returncode == 1
    assert result.stderr.strip().endswith("app.json: config var API_TOKEN is required (the token of the API the "
                                          "app calls): give it with -e API_TOKEN=VALUE")
    assert "setup-missing" not in app_names(daemon)


@pytest.mark.parametrize(("manifest", "error"), [
    ({**MANIFEST, "env": {"SECRET_KEY": {"generator": "password"}}},
     'app.json: env.SECRET_KEY.generator must be "secret"'),
    ({"formation": {"web": {"quantity": "two"}}}, "app.json: formation.web.quantity must be a whole number"),
    ({"buildpacks": [{"uri": "heroku/python"}]}, "app.json: buildpacks[0].url must be a string"),
    ({"scripts": {"postdeploy": 42}}, "app.json: scripts.postdeploy must be a command"),
    ({"env": ["A"]}, "app.json: env must be an object"),
    ('{"env": {', "app.json: not valid JSON"),
    ({"addons": ["papertrail:choklad"]},
     'app.json: addons[0]: Couldn\'t find either the add-on service or the add-on plan of "papertrail:choklad"'),
])
def test_invalid_app_json_is_a_clear_error_and_creates_nothing(daemon: Daemon, tmp_path: Path,
                                                               manifest: Any, error: str) -> None:
    root = app_dir(tmp_path, manifest, commit=False)
    result = setup_cli(daemon, str(root), "-a", "setup-bad")
    assert result.returncode == 1 and error in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert app_names(daemon) == []


def tarball(dest: Path, manifest: dict[str, Any] | str, procfile: str = "web: python app.py\n") -> Path:
    """python-hello with this app.json, in one top-level directory as GitHub archives a repo."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(FIXTURES / "python-hello", arcname="repo-main", filter=lambda i: None if i.name.endswith("Procfile")
                else i)
        for name, text in (("app.json", manifest if isinstance(manifest, str) else json.dumps(manifest)),
                           ("Procfile", procfile)):
            data = text.encode()
            info = tarfile.TarInfo(f"repo-main/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def finished(daemon: Daemon, setup_id: str) -> dict[str, Any]:
    return wait_for(lambda: (s := daemon.api("GET", f"/app-setups/{setup_id}").json())["status"] != "pending" and s,
                    timeout=180, message="the app setup to finish")


def test_api_refuses_bad_manifests_and_bodies_creating_nothing(daemon: Daemon, tmp_path: Path) -> None:
    cases = [
        ({"env": {"SECRET_KEY": {"generator": "uuid"}}}, {}, 'app.json: env.SECRET_KEY.generator must be "secret"'),
        ({"env": {"TOKEN": {"description": "needed"}}}, {}, "app.json: config var TOKEN is required"),
        ({"formation": {"web": {"size": "huge"}}}, {}, "app.json: formation.web.size: Unknown dyno size 'huge'"),
        ({"addons": ["deployhooks:http", {"plan": "papertrail:choklad"}]}, {},
         'app.json: addons[1]: Couldn\'t find either the add-on service or the add-on plan of "papertrail:choklad"'),
        ({"addons": [{"plan": "deployhooks:irc"}]}, {}, ("app.json: addons[0]: Couldn't find either the add-on "
         'service or the add-on plan of "deployhooks:irc". Plans of deployhooks: deployhooks:http.')),
        ({}, {"overrides": {"env": {"BAD NAME": "x"}}}, "BAD NAME"),
        ({}, {"overrides": {"env": {"N": 1}}}, "overrides.env must be an object of strings"),
        ({}, {"app": {"name": "Not A Name"}}, "Name 'Not A Name' is invalid"),
    ]
    for number, (manifest, extra, error) in enumerate(cases):
        source = tarball(tmp_path / f"bad{number}.tgz", manifest)
        made = daemon.api("POST", "/app-setups", json={"source_blob": {"url": source.as_uri()}, **extra})
        assert made.status_code == 422 and made.json()["id"] == "invalid_params", made.text
        assert error in made.json()["message"], (error, made.json()["message"])
    for body in ({}, {"source_blob": {"url": "http://example.com/app.tgz"}},
                 {"source_blob": {"url": (tmp_path / "none.tgz").as_uri()}}):
        assert daemon.api("POST", "/app-setups", json=body).status_code == 422
    assert app_names(daemon) == []
    gone = daemon.api("GET", "/app-setups/01234567-89ab-cdef-0123-456789abcdef")
    assert gone.status_code == 404 and gone.json()["id"] == "not_found"


def test_api_setup_with_overrides_and_a_failing_postdeploy(daemon: Daemon, tmp_path: Path) -> None:
    manifest = {"env": {"TOKEN": {"required": True}}, "scripts": {"postdeploy": "echo migrating $TOKEN; exit 3"},
                "addons": ["heroku-postgresql"]}
    source = tarball(tmp_path / "app.tgz", manifest)
    made = daemon.api("POST", "/app-setups", json={"app": {"name": "api-setup"}, "skip_addons": True,
                                                   "source_blob": {"url": source.as_uri()},
                                                   "overrides": {"env": {"TOKEN": "t1", "EXTRA": "x"}}})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending" and made.json()["app"]["name"] == "api-setup"
    done = finished(daemon, made.json()["id"])
    assert done["status"] == "failed" and done["build"]["status"] == "succeeded"
    assert done["postdeploy"] == {"output": "migrating t1", "exit_code": 3}
    assert done["failure_message"] == "postdeploy script `echo migrating $TOKEN; exit 3` exited with status 3"
    assert daemon.api("GET", "/apps/api-setup/config-vars").json() == {"TOKEN": "t1", "EXTRA": "x"}


def test_formation_naming_a_type_the_app_lacks_fails_the_setup(daemon: Daemon, tmp_path: Path) -> None:
    source = tarball(tmp_path / "app.tgz", {"formation": {"worker": {"quantity": 1}}})
    made = daemon.api("POST", "/app-setups", json={"source_blob": {"url": source.as_uri()}})
    done = finished(daemon, made.json()["id"])
    assert done["status"] == "failed"
    assert done["failure_message"] == "app.json: formation.worker: the app has no worker process type (its " \
                                      "Procfile has web)"


def test_buildpacks_from_app_json_are_installed(daemon: Daemon, tmp_path: Path) -> None:
    """Needs `PUT /apps/{app}/buildpack-installations` (issue #14's buildpacks part, built in parallel)."""
    source = tarball(tmp_path / "app.tgz", {"buildpacks": [{"url": "heroku/python"}]})
    made = daemon.api("POST", "/app-setups", json={"app": {"name": "bp-setup"},
                                                   "source_blob": {"url": source.as_uri()}})
    done = finished(daemon, made.json()["id"])
    assert done["status"] == "succeeded", done["failure_message"]
    installed = daemon.api("GET", "/apps/bp-setup/buildpack-installations").json()
    assert [b["buildpack"]["url"] for b in installed] == ["heroku/python"]
