"""The stack image's recipe: the mirror read from apt sources, the content-hash tag, and clear failures."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from herokusim import stack


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "# a comment\nTypes: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    assert stack.read_mirror((tmp_path,)) == stack.Mirror("http://mirror.example/debian", "bookworm")


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# deb http://old.example/debian buster main\n"
                       "deb-src http://src.example/debian trixie main\n"
                       "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian trixie main contrib\n")
    assert stack.read_mirror((sources,)) == stack.Mirror("http://mirror.example/debian", "trixie")


def test_no_apt_sources_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(stack.StackError, match="no Debian mirror in the machine's apt sources"):
        stack.read_mirror((tmp_path / "sources.list", tmp_path))


def test_tag_is_a_content_hash_of_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = stack.Mirror("http://a.example/debian", "bookworm")
    tag = stack.image_tag(mirror)
    assert tag.startswith("herokusim/stack:heroku-24-") and len(tag.rsplit("-", 1)[1]) == 12
    assert stack.image_tag(dataclasses.replace(mirror, uri="http://b.example/debian")) == tag, \
        "another mirror of the same suite gives the same image"
    assert stack.image_tag(dataclasses.replace(mirror, suite="trixie")) == tag, \
        "the stack's suite is fixed, whatever release the machine runs"
    monkeypatch.setattr(stack, "SUITE", "forky")
    assert stack.image_tag(mirror) != tag, "another stack suite is a new recipe"
    monkeypatch.undo()
    monkeypatch.setattr(stack, "PACKAGES", (*stack.PACKAGES, "git"))
    assert stack.image_tag(mirror) != tag, "a new package is a new recipe"


def test_the_stack_is_trixie_from_the_machines_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    """debootstrap fetches the stack's suite (trixie: python3 3.13, nodejs, npm) from the mirror of the
    machine's apt sources, whatever release the machine itself runs; apt-get adds nodejs and npm."""
    assert stack.SUITE == "trixie"
    assert {"python3", "nodejs", "npm"} <= set(stack.PACKAGES)
    seen: dict[str, list[str]] = {}

    class Stop(Exception):
        pass

    def debootstrap(argv: list[str], progress: object, cancel: object) -> None:
        seen["debootstrap"] = argv

    def apt_install(root: Path, packages: list[str], progress: object, cancel: object) -> None:
        seen["apt"] = packages
        raise Stop

    monkeypatch.setattr(stack, "build_blocker", lambda: None)
    monkeypatch.setattr(stack.shutil, "which", lambda name: "/usr/sbin/debootstrap")
    monkeypatch.setattr(stack, "_run_debootstrap", debootstrap)
    monkeypatch.setattr(stack, "_apt_install", apt_install)
    with pytest.raises(Stop):
        stack.build_image(object(), stack.Mirror("http://mirror.example/debian", "bookworm"), "t:x", print)
    argv = seen["debootstrap"]
    assert argv[-3] == "trixie" and argv[-1] == "http://mirror.example/debian"
    included = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    assert "python3" in included and "npm" not in included, "debootstrap's resolver cannot do npm's Provides"
    assert seen["apt"] == ["nodejs", "npm"]


def test_missing_debootstrap_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.os, "geteuid", lambda: 0)
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    with pytest.raises(stack.StackError, match=r"needs debootstrap: apt-get install debootstrap"):
        stack.build_image(object(), stack.Mirror("http://a.example/debian", "bookworm"), "t:x", print)


def test_stack_command_shows_the_recipe() -> None:
    result = subprocess.run([sys.executable, "-m", "herokusim", "stack"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "=== heroku-24 stack" in result.stdout
    assert f"Image:    {stack.image_tag(stack.read_mirror())}" in result.stdout
    assert "python3" in result.stdout


def test_building_only_reads_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`herokusim stack` asks whether a build runs without writing the lock file, which is often root's (a
    user's `herokusim stack` would fail on it) and not there at all before a first build."""
    lock = tmp_path / "herokusim-stack.lock"
    monkeypatch.setattr(stack, "LOCK_PATH", lock)
    assert stack.building() is None
    assert not lock.exists(), "asking made no lock file"
    with stack.machine_lock() as record:  # a build, holding the lock
        record("-----> Building the heroku-24 stack image")
        record("       Retrieving Release ")
        assert stack.building() == "Retrieving Release"
    assert stack.building() is None, "the build is over"
