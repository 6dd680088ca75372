"""No host file is read through an app's tree: symlinks that lead outside the app are refused, on both runtimes;
symlinks that stay inside are followed and stay links in the slug; a slug cannot unpack outside its dyno dir."""

from __future__ import annotations

import io
import os
import re
import tarfile
import tempfile
from pathlib import Path

import pytest
from conftest import Daemon, git
from hypothesis import given, settings
from hypothesis import strategies as st

from herokusim.builds.safefs import AppFileError, read_app_file
from herokusim.dynos.runtime.process import extract_slug

MARKER = "SECRET-MARKER-123"
SECRET = f"web: {MARKER}\n"  # a line that would parse as a Procfile entry, and that pip refuses to parse
REFUSED = re.compile(r"remote:  !     (\S+) is a symlink to a path outside the app \((.+)\): refusing to read it")


# --- the helper --------------------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/app (the root) with a file and a subdirectory, next to tmp/outside holding a secret."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text(SECRET)
    root = tmp_path / "app"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "Procfile.real").write_text("web: python app.py\n")
    (root / "sub" / "deep" / "procs").write_text("worker: python work.py\n")
    return root


def link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def test_plain_files_are_read_and_missing_ones_are_none(tree: Path) -> None:
    assert read_app_file(tree, "Procfile.real") == "web: python app.py\n"
    assert read_app_file(tree, "sub/deep/procs") == "worker: python work.py\n"
    assert read_app_file(tree, "Procfile") is None
    assert read_app_file(tree, "sub/missing/procs") is None
    assert read_app_file(tree, "Procfile.real/x") is None, "a file where a directory should be"
    assert read_app_file(tree, "sub") is None, "a directory is not a file to read"
    os.mkfifo(tree / "fifo")
    assert read_app_file(tree, "fifo") is None, "a FIFO is not a file to read (and must not hang the build)"


@pytest.mark.parametrize("links, name, expected", [
    ({"Procfile": "Procfile.real"}, "Procfile", "web: python app.py\n"),
    ({"Procfile": "a", "a": "sub/b", "sub/b": "../Procfile.real"}, "Procfile", "web: python app.py\n"),
    ({"Procfile": "sub/deep/../deep/procs"}, "Procfile", "worker: python work.py\n"),
    ({"conf": "sub/deep", "Procfile": "conf/procs"}, "Procfile", "worker: python work.py\n"),
    ({"sub/deep/up": "../..", "Procfile": "sub/deep/up/Procfile.real"}, "Procfile", "web: python app.py\n"),
    ({"Procfile": "missing"}, "Procfile", None),
])
def test_links_that_stay_inside_are_followed(tree: Path, links: dict[str, str], name: str, expected: str | None
                                              ) -> None:
    for path, target in links.items():
        link(tree / path, target)
    assert read_app_file(tree, name) == expected


@pytest.mark.parametrize("links, name, shown", [
    ({"Procfile": "{outside}/secret"}, "Procfile", "{outside}/secret"),
    ({"Procfile": "../outside/secret"}, "Procfile", "{outside}/secret"),
    ({"Procfile": "sub/../../outside/secret"}, "Procfile", "{outside}/secret"),
    ({"Procfile": "a", "a": "sub/b", "sub/b": "../../outside/secret"}, "Procfile", "{outside}/secret"),
    ({"conf": "{outside}", "Procfile": "conf/secret"}, "Procfile", "{outside}/secret"),
    ({"conf": "../outside"}, "conf/secret", "{outside}/secret"),
    ({}, "../outside/secret", "{outside}/secret"),
    ({"Procfile": "{outside}/missing"}, "Procfile", "{outside}/missing"),
])
def test_links_that_lead_outside_are_refused(tree: Path, links: dict[str, str], name: str, shown: str) -> None:
    outside = str(tree.parent / "outside")
    for path, target in links.items():
        link(tree / path, target.format(outside=outside))
    with pytest.raises(AppFileError) as refused:
        read_app_file(tree, name)
    assert str(refused.value) == (f"{name} is a symlink to a path outside the app "
                                  f"({shown.format(outside=outside)}): refusing to read it")
    assert MARKER not in str(refused.value)


@pytest.mark.parametrize("links", [{"Procfile": "Procfile"}, {"Procfile": "a", "a": "sub/b", "sub/b": "../Procfile"}])
def test_link_loops_are_refused(tree: Path, links: dict[str, str]) -> None:
    for path, target in links.items():
        link(tree / path, target)
    with pytest.raises(AppFileError, match="^Procfile: too many levels of symbolic links: refusing to read it$"):
        read_app_file(tree, "Procfile")


# A link at each of these spots, each pointing at one of these targets (relative to the link's own
# directory, or absolute into the outside dir); then a name is read. None of them names the root's own
# directory, so a lookup that leaves the root never comes back in: the kernel's answer is then the oracle.
SPOTS = ["l0", "l1", "sub/l2", "sub/deep/l3"]
TARGETS = ["l0", "l1", "sub/l2", "deep/l3", "l3", "..", "../..", ".", "sub", "deep", "sub/deep", "Procfile.real",
           "procs", "deep/procs", "sub/deep/procs", "../Procfile.real", "../../Procfile.real", "../deep/procs",
           "../outside/secret", "../../outside/secret", "../../../outside/secret", "/OUTSIDE/secret", "/OUTSIDE",
           "missing", "l0/procs", "../l1", "../../l0"]
NAMES = [*SPOTS, "l0/procs", "l1/Procfile.real", "sub/l2/procs", "l0/deep/procs", "sub/deep/l3/secret",
         "l1/l0", "sub/../l0"]


@settings(max_examples=500, deadline=None)
@given(links=st.fixed_dictionaries({spot: st.sampled_from(TARGETS) for spot in SPOTS}), name=st.sampled_from(NAMES))
def test_reads_agree_with_the_kernel_inside_and_never_leave(links: dict[str, str], name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside").mkdir()
        (base / "outside" / "secret").write_text(SECRET)
        root = base / "app"
        (root / "sub" / "deep").mkdir(parents=True)
        (root / "Procfile.real").write_text("web: python app.py\n")
        (root / "sub" / "deep" / "procs").write_text("worker: python work.py\n")
        for spot, target in links.items():
            link(root / spot, target.replace("/OUTSIDE", str(base / "outside")))
        try:
            got: str | AppFileError | None = read_app_file(root, name)
        except AppFileError as e:
            got = e
        assert not (isinstance(got, str) and MARKER in got), "a file outside the app was read"
        path = root / name
        try:
            mode = path.stat().st_mode
        except OSError as e:
            if e.errno == 40:  # ELOOP: a loop, refused as such
                assert isinstance(got, AppFileError) and "too many levels" in str(got)
            else:  # missing on the way, perhaps after leaving the app: either answer keeps the host's files
                assert got is None or isinstance(got, AppFileError)
            return
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(root.resolve()):
            assert isinstance(got, AppFileError), f"{name} leads to {real}, outside the app"
        elif path.is_file():
            assert got == real.read_text(), f"{name} leads to {real}, inside the app"
        else:
            assert got is None, f"{name} is not a regular file (mode {mode:o})"


# --- a slug unpacks inside its dyno dir only ------------------------------------------------------------------

def slug_of(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize("attack", ["dotdot", "through-symlink", "hardlink-absolute", "hardlink-dotdot"])
def test_a_slug_cannot_write_outside_the_dyno_dir(tmp_path: Path, attack: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("original\n")
    dest = tmp_path / "dynos" / "d1"
    evil = b"overwritten\n"
    members = {
        "dotdot": [(member("../../victim"), evil)],
        "through-symlink": [(member("esc", tarfile.SYMTYPE, str(tmp_path)), None), (member("esc/victim"), evil)],
        "hardlink-absolute": [(member("h", tarfile.LNKTYPE, str(victim)), None), (member("h"), evil)],
        "hardlink-dotdot": [(member("h", tarfile.LNKTYPE, "../../victim"), None), (member("h"), evil)],
    }[attack]
    with pytest.raises(tarfile.FilterError):
        extract_slug(slug_of(tmp_path / "slug.tar.gz", members), dest)
    assert victim.read_text() == "original\n"
    assert victim.stat().st_nlink == 1, "no link to the host's file was made"


def test_a_slug_keeps_its_links_when_unpacked(tmp_path: Path) -> None:
    slug = slug_of(tmp_path / "slug.tar.gz", [
        (member("Procfile.real"), b"web: python app.py\n"),
        (member("Procfile", tarfile.SYMTYPE, "Procfile.real"), None),
        (member("python", tarfile.SYMTYPE, "/usr/bin/python3"), None),  # absolute links are fine in a slug
        (member("hard", tarfile.LNKTYPE, "Procfile.real"), None),
    ])
    dest = tmp_path / "dyno"
    extract_slug(slug, dest)
    assert os.readlink(dest / "Procfile") == "Procfile.real"
    assert os.readlink(dest / "python") == "/usr/bin/python3"
    assert (dest / "hard").read_text() == "web: python app.py\n"


# --- pushes, on both runtimes ---------------------------------------------------------------------------------

def app_repo(base: Path, name: str, files: dict[str, str], links: dict[str, str]) -> Path:
    """A checkout with these files and symlinks (targets as given), one commit on main."""
    repo = base / name
    repo.mkdir()
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    for path, target in links.items():
        link(repo / path, target)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    assert git("commit", "-qm", "first", cwd=repo).returncode == 0
    return repo


def push(daemon: Daemon, repo: Path, app: str) -> str:
    assert daemon.cli("apps:create", app, cwd=repo).returncode == 0
    assert daemon.cli("git:remote", "-a", app, cwd=repo).returncode == 0
    result = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    return f"{result.returncode}\n{result.stdout}{result.stderr}"


def everything_shown(daemon: Daemon, app: str) -> str:
    """Whatever herokusim shows or keeps of an app: build outputs, logs, releases, slugs on disk."""
    shown = [daemon.api("GET", f"/apps/{app}/releases").text, daemon.cli("logs", "-n", "1500", "-a", app).stdout]
    for build in daemon.api("GET", f"/apps/{app}/builds").json():
        shown.append(daemon.api("GET", f"/apps/{app}/builds/{build['id']}/result").text)
        if build.get("slug"):
            shown.append(daemon.api("GET", f"/apps/{app}/slugs/{build['slug']['id']}").text)
    for slug in (daemon.home / "slugs").rglob("*.tar.gz"):
        with tarfile.open(slug) as tar:
            shown.extend(tar.extractfile(m).read().decode(errors="replace")  # type: ignore[union-attr]
                         for m in tar.getmembers() if m.isfile())
    return "\n".join(shown)


def assert_refused(daemon: Daemon, output: str, app: str, name: str, secret: str) -> None:
    assert not output.startswith("0\n"), f"the push of {app} was accepted:\n{output}"
    refused = REFUSED.search(output)
    assert refused is not None and refused[1] == name, f"no clear refusal of {name} in:\n{output}"
    assert "[remote rejected] main -> main" in output
    assert secret not in output, f"{app}: the secret reached the push output"
    assert secret not in everything_shown(daemon, app), f"{app}: the secret is kept or shown somewhere"
    assert daemon.api("GET", f"/apps/{app}/releases").json()[-1]["version"] == 2, "nothing is released"
    assert [b["status"] for b in daemon.api("GET", f"/apps/{app}/builds").json()] == ["failed"]


@pytest.mark.both_runtimes
def test_a_procfile_linked_outside_the_app_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    deps = {"requirements.txt": ""}
    cases = {
        "absolute": ({"Procfile": str(secret)}, MARKER, str(secret)),
        # the daemon's own token, reached with `..` (more than enough of them: past / they stay at /)
        "token": ({"Procfile": "../" * 40 + str(daemon.home / "token").lstrip("/")}, daemon.token,
                  str(daemon.home / "token")),
        "chain": ({"Procfile": "procs/web", "procs/web": "../more/web", "more/web": str(secret)}, MARKER,
                  str(secret)),
        "directory": ({"conf": str(tmp_path), "Procfile": "conf/secret"}, MARKER, str(secret)),
    }
    for case, (links, hidden, shown) in cases.items():
        app = f"procfile-{case}"
        output = push(daemon, app_repo(tmp_path, app, deps, links), app)
        assert_refused(daemon, output, app, "Procfile", hidden)
        assert REFUSED.search(output)[2] == shown  # type: ignore[index]


@pytest.mark.both_runtimes
def test_other_files_the_build_reads_linked_outside_are_refused(daemon: Daemon, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    procfile = {"Procfile": "web: python app.py\n", "app.py": "print('hi')\n"}
    cases = {
        "requirements.txt": ({**procfile}, {"requirements.txt": str(secret)}),
        "pyproject.toml": ({**procfile}, {"pyproject.toml": "conf/secret", "conf": str(tmp_path)}),
        ".slugignore": ({**procfile, "requirements.txt": ""}, {".slugignore": str(secret)}),
    }
    for name, (files, links) in cases.items():
        app = "reads-" + name.replace(".", "")
        output = push(daemon, app_repo(tmp_path, app, files, links), app)
        assert_refused(daemon, output, app, name, MARKER)


@pytest.mark.both_runtimes
def test_links_inside_the_app_work_and_stay_links_in_the_slug(daemon: Daemon, tmp_path: Path) -> None:
    files = {"app.py": "print('hi')\n", "procs/web": "web: python app.py\nworker: python app.py\n",
             "reqs/base.txt": "# nothing to install\n", "ignore/list": "*.log\n", "debug.log": "noise\n"}
    links = {"Procfile": "procs/web", "requirements.txt": "reqs/base.txt", ".slugignore": "ignore/list"}
    output = push(daemon, app_repo(tmp_path, "inside", files, links), "inside")
    assert output.startswith("0\n"), output
    assert "Procfile declares types -> web, worker" in output
    slug = daemon.api("GET", "/apps/inside/slugs/" + daemon.api("GET", "/apps/inside/builds").json()[0]["slug"]["id"])
    assert slug.json()["process_types"] == {"web": "python app.py", "worker": "python app.py"}
    [path] = (daemon.home / "slugs").rglob("*.tar.gz")
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for name, target in links.items():
        assert members[name].issym() and members[name].linkname == target, f"{name} is a link in the slug"
    assert "debug.log" not in members, ".slugignore read through its link applies"
