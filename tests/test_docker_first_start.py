"""A first start on Docker as a newcomer meets it: the banner says why the runtime was chosen (and what to
install when Docker cannot be used), and while the stack image is built the daemon answers at once and a push
waits for the image with the build's progress."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, remove_docker_leftovers, start_daemon, stop_daemon, wait_for

from herokusim import stack


@pytest.fixture
def engine() -> object:
    client = stack.connect()
    if client is None:
        pytest.skip("no Docker engine answers here")
    return client


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    try:
        yield home
    finally:
        remove_docker_leftovers(home)


def path_without_debootstrap() -> str:
    return ":".join(d for d in os.environ["PATH"].split(":") if not (Path(d) / "debootstrap").exists())


def banner_runtime(daemon: Daemon) -> str:
    return wait_for(lambda: next((line.strip() for line in daemon.output().splitlines()
                                  if line.strip().startswith("runtime ")), None), message="the banner")


def test_without_debootstrap_and_without_the_image_the_banner_says_what_to_install(engine: object,
                                                                                  home: Path) -> None:
    salt = f"test-{uuid.uuid4().hex[:8]}"  # a recipe no image has: building it would need debootstrap
    daemon = start_daemon(home, HEROKUSIM_RUNTIME="auto", HEROKUSIM_STACK_SALT=salt, PATH=path_without_debootstrap())
    try:
        assert banner_runtime(daemon) == ("runtime  process (auto: Docker answered, but building its stack image "
                                          "needs debootstrap: apt-get install debootstrap)")
    finally:
        stop_daemon(daemon)


def test_with_the_image_built_debootstrap_is_not_needed(docker_stack: str, home: Path) -> None:
    daemon = start_daemon(home, HEROKUSIM_RUNTIME="auto", PATH=path_without_debootstrap())
    try:
        assert banner_runtime(daemon) == "runtime  docker (auto: a Docker engine answered)"
    finally:
        stop_daemon(daemon)


def test_docker_without_debootstrap_refuses_to_start_saying_why(engine: object, home: Path) -> None:
    salt = f"test-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match=r"herokusim: Docker answered, but building its stack image needs "
                                           r"debootstrap: apt-get install debootstrap; or use `herokusim up "
                                           r"--runtime process`"):
        start_daemon(home, HEROKUSIM_RUNTIME="docker", HEROKUSIM_STACK_SALT=salt, PATH=path_without_debootstrap())


def test_a_first_start_answers_at_once_and_a_push_waits_for_the_stack_image(engine: object, home: Path,
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One fresh stack build (about a minute): a salt gives the recipe a tag no image has yet."""
    monkeypatch.setenv(stack.SALT_ENV, f"test-{uuid.uuid4().hex[:8]}")  # here and in the daemon and the CLI
    tag = stack.image_tag(stack.read_mirror())
    assert stack.find_image(engine, tag) is None
    daemon = start_daemon(home, HEROKUSIM_RUNTIME="docker")  # returns once the API answers
    try:
        assert "building its stack image in the background" in banner_runtime(daemon)
        image = daemon.api("GET", "/stacks/heroku-24").json()["image"]
        assert image["tag"] == tag and image["state"] == "building"
        shown = daemon.cli("stack")
        assert f"Image:    {tag}" in shown.stdout and "State:    building now" in shown.stdout, shown.stdout
        repo = checkout_of("python-hello", tmp_path / "hello")
        assert daemon.cli("apps:create", "first-start", cwd=repo).returncode == 0
        assert daemon.cli("git:remote", "-a", "first-start", cwd=repo).returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        assert "remote: -----> Waiting for the heroku-24 stack image" in push.stderr
        assert f"remote: -----> Building the heroku-24 stack image {tag}" in push.stderr
        assert "remote:        Base system installed successfully." in push.stderr, "debootstrap's progress"
        assert daemon.api("GET", "/stacks/heroku-24").json()["image"]["state"] == "ready"
        wait_for(lambda: daemon.get("first-start.localhost").status_code == 200, timeout=60,
                 message="the app's dyno, which waited for the image, to answer")
    finally:
        stop_daemon(daemon)
        engine.images.remove(tag, force=True)  # type: ignore[attr-defined]


def test_the_stack_in_the_api(daemon: Daemon) -> None:
    """The stack as Heroku shows it; herokusim's `image` is null where no image is used (the process runtime)."""
    stacks = daemon.api("GET", "/stacks")
    assert stacks.status_code == 200
    assert [(s["name"], s["state"], s["image"]) for s in stacks.json()] == [("heroku-24", "public", None)]
    assert daemon.api("GET", f"/stacks/{stacks.json()[0]['id']}").json()["name"] == "heroku-24"
    missing = daemon.api("GET", "/stacks/cedar-14")
    assert missing.status_code == 404 and missing.json()["message"] == "Couldn't find that stack (cedar-14)."
