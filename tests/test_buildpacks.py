"""Choosing buildpacks as on Heroku: `buildpacks:set/add/remove/clear` and the buildpack-installations API,
the legacy BUILDPACK_URL and `.buildpacks`, and buildpacks from a local directory, a git repository at a tag,
a tarball (file and loopback HTTP), Heroku's official URLs (mapped to the built-ins offline) — each deployed
with a real `git push` and, where it ends in a web dyno, answered through the router. A buildpack that fails,
or one that cannot be fetched, rejects the push and changes nothing."""

from __future__ import annotations

import http.server
import re
import tarfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, free_port, git, start_daemon, stop_daemon, wait_for

# --- helpers -----------------------------------------------------------------------------------------------


def write_buildpack(root: Path, *, detect: str = 'echo "Custom"', compile: str = "true",
                    release: str = 'echo "---"; echo "default_process_types: {}"') -> Path:
    """A classic buildpack: bin/detect, bin/compile and bin/release with these bodies (bash)."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    for name, body in (("detect", detect), ("compile", compile), ("release", release)):
        script = root / "bin" / name
        script.write_text(f"#!/usr/bin/env bash\nset -e\n{textwrap.dedent(body).strip()}\n")
        script.chmod(0o755)
    return root


def marker_buildpack(root: Path, marker: str) -> Path:
    """A buildpack that says `marker` while compiling and leaves it in the slug as bp-marker.txt."""
    return write_buildpack(root, compile=f'echo "-----> compiled by {marker}"; echo {marker} > "$1/bp-marker.txt"')


def create_app(daemon: Daemon, name: str, repo: Path) -> None:
    created = daemon.cli("apps:create", name, cwd=repo)
    assert created.returncode == 0, created.stderr


def push(daemon: Daemon, repo: Path) -> tuple[bool, str]:
    """Whether the push went through, and its output (without the padding git puts after `remote:` lines)."""
    result = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    return result.returncode == 0, "".join(f"{line.rstrip()}\n" for line in result.stderr.splitlines())


def commit_all(repo: Path, message: str = "change") -> None:
    git("add", "-A", cwd=repo)
    result = git("commit", "-q", "-m", message, cwd=repo)
    assert result.returncode == 0, result.stderr


def releases(daemon: Daemon, app: str) -> list[int]:
    return [r["version"] for r in daemon.api("GET", f"/apps/{app}/releases").json()]


def remote_main(daemon: Daemon, app: str) -> str:
    out = git("ls-remote", f"http://127.0.0.1:{daemon.git_port}/{app}.git", "refs/heads/main",
              cwd=daemon.home, env=daemon.env).stdout
    return out.split()[0] if out.strip() else ""


def app_log(daemon: Daemon, app: str) -> str:
    result = daemon.cli("logs", "-a", app, "-n", "200")
    assert result.returncode == 0, result.stderr
    return result.stdout


def answers(daemon: Daemon, app: str, text: str) -> None:
    wait_for(lambda: daemon.get(f"{app}.localhost").status_code == 200
             and text in daemon.get(f"{app}.localhost").text, timeout=90, message=f"{app} to answer {text!r}")


def python_app(dest: Path) -> Path:
    return checkout_of("python-hello", dest)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One process-runtime daemon for the tests that need no runtime of their own."""
    daemon = start_daemon(tmp_path_factory.mktemp("buildpacks") / "home")
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a directory: (base URL, directory)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def tarball_of(buildpack: Path, dest: Path, top: str | None = "bp-1.0") -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(buildpack, arcname=top or ".")
    return dest


# --- the CLI and the API -----------------------------------------------------------------------------------


def test_cli_round_trip_with_herokus_messages(shared: Daemon, tmp_path: Path) -> None:
    d = shared
    assert d.cli("apps:create", "bp-cli").returncode == 0
    listed = d.cli("buildpacks", "-a", "bp-cli")
    assert listed.returncode == 0 and listed.stdout == "bp-cli has no Buildpacks.\n"

    set_ = d.cli("buildpacks:set", "heroku/python", "-a", "bp-cli")
    assert set_.returncode == 0, set_.stderr
    assert set_.stdout == ("Buildpack set. Next release on ⬢ bp-cli will use heroku/python.\n"
                           "Run git push herokusim main to create a new release using this buildpack.\n")
    assert d.cli("buildpacks", "-a", "bp-cli").stdout == \
        "=== bp-cli Classic Buildpack (from buildpack registry)\nheroku/python\n"

    mine = write_buildpack(tmp_path / "mine")
    added = d.cli("buildpacks:add", "-i", "1", str(mine), "-a", "bp-cli")
    assert added.returncode == 0, added.stderr
    assert added.stdout == (f"Buildpack added. Next release on ⬢ bp-cli will use:\n  1. {mine}\n  2. heroku/python\n"
                            "Run git push herokusim main to create a new release using these buildpacks.\n")
    # a relative path is made absolute by the CLI (the daemon has its own working directory)
    other = write_buildpack(tmp_path / "other")
    added = d.cli("buildpacks:add", "other", "-r", "heroku", "-a", "bp-cli", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert f"  3. {other}\nRun git push heroku main" in added.stdout
    assert d.cli("buildpacks", "-a", "bp-cli").stdout == (
        f"=== bp-cli Classic Buildpacks (from buildpack registry)\n1. {mine}\n2. heroku/python\n3. {other}\n")

    again = d.cli("buildpacks:add", "heroku/python", "-a", "bp-cli")
    assert again.returncode == 1 and "The buildpack heroku/python is already set on your app." in again.stderr
    replaced = d.cli("buildpacks:set", "-i", "3", "heroku/procfile", "-a", "bp-cli")
    assert replaced.returncode == 0, replaced.stderr
    assert "  3. heroku/procfile\n" in replaced.stdout

    removed = d.cli("buildpacks:remove", "-i", "3", "-a", "bp-cli")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("Buildpack removed. Next release on ⬢ bp-cli will use:\n  1. ")
    removed = d.cli("buildpacks:remove", str(mine), "-a", "bp-cli")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("Buildpack removed. Next release on ⬢ bp-cli will use heroku/python.\n")
    for args, message in [
        (("-i", "2"), "Invalid index. Only valid value is 1."),
        (("heroku/nodejs",), "Buildpack not found. Nothing was removed."),
        (("heroku/python", "-i", "1"), "Please choose either index or Buildpack, but not both."),
        ((), "Must specify a buildpack to remove, either by index or URL."),
    ]:
        failed = d.cli("buildpacks:remove", *args, "-a", "bp-cli")
        assert failed.returncode == 1 and message in failed.stderr, (args, failed.stderr)
        assert "Traceback" not in failed.stderr

    last = d.cli("buildpacks:remove", "heroku/python", "-a", "bp-cli")
    assert last.stdout == "Buildpack removed. Next release on ⬢ bp-cli will detect buildpacks normally.\n"
    none = d.cli("buildpacks:remove", "heroku/python", "-a", "bp-cli")
    assert none.returncode == 1 and "No buildpacks were found." in none.stderr

    # clear, and Heroku's warning while the legacy config var still names one
    assert d.cli("buildpacks:set", "heroku/python", "-a", "bp-cli").returncode == 0
    assert d.cli("config:set", "BUILDPACK_URL=heroku/procfile", "-a", "bp-cli").returncode == 0
    cleared = d.cli("buildpacks:clear", "-a", "bp-cli")
    assert cleared.returncode == 0 and cleared.stdout == "Buildpacks cleared.\n"
    assert "The BUILDPACK_URL config var is still set and will be used for the next release" in cleared.stderr
    assert d.cli("config:unset", "BUILDPACK_URL", "-a", "bp-cli").returncode == 0
    cleared = d.cli("buildpacks:clear", "-a", "bp-cli")
    assert cleared.stdout == "Buildpacks cleared. Next release on ⬢ bp-cli will detect buildpacks normally.\n"

    # bad input: one clear line, nothing changed
    for args, message in [
        (("buildpacks:set", "heroku/ruby"), "heroku/ruby is not in the buildpack registry"),
        (("buildpacks:set", "http://example.com/bp.tgz"), "only over https://"),
        (("buildpacks:add", "-i", "0", "heroku/python"), "Invalid index. Must be greater than 0."),
        (("buildpacks:set", "ftp://127.0.0.1/bp"), "is not a buildpack URL herokusim can fetch"),
    ]:
        failed = d.cli(*args, "-a", "bp-cli")
        assert failed.returncode == 1 and message in failed.stderr, (args, failed.stderr)
    assert d.api("GET", "/apps/bp-cli/buildpack-installations").json() == []

    # each change is in the app's log, as an app[api] line; none made a release
    log = app_log(d, "bp-cli")
    assert "app[api]: Set heroku/python buildpack by user" in log
    assert f"app[api]: Set {mine}, heroku/python buildpacks by user" in log
    assert "app[api]: Cleared buildpacks by user" in log
    assert max(releases(d, "bp-cli")) == 4  # v1, v2 and the two config changes: buildpacks make none


def test_api_put_replaces_the_list_and_get_reads_it(shared: Daemon) -> None:
    d = shared
    assert d.api("POST", "/apps", json={"name": "bp-api"}).status_code == 201
    put = d.api("PUT", "/apps/bp-api/buildpack-installations", json={"updates": [
        {"buildpack": "urn:buildpack:heroku/procfile"}, {"buildpack": "https://github.com/heroku/heroku-buildpack-python"}]})
    assert put.status_code == 200, put.text
    expected = [{"ordinal": 0, "buildpack": {"url": "heroku/procfile", "name": "heroku/procfile"}},
                {"ordinal": 1, "buildpack": {"url": "https://github.com/heroku/heroku-buildpack-python",
                                             "name": "https://github.com/heroku/heroku-buildpack-python"}}]
    assert put.json() == expected
    assert d.api("GET", "/apps/bp-api/buildpack-installations").json() == expected
    replaced = d.api("PUT", "/apps/bp-api/buildpack-installations", json={"updates": [{"buildpack": "heroku/python"}]})
    assert replaced.json() == [{"ordinal": 0, "buildpack": {"url": "heroku/python", "name": "heroku/python"}}]

    for body in [{}, {"updates": "heroku/python"}, {"updates": [{"url": "heroku/python"}]}, {"updates": [{"buildpack": 7}]},
                 {"updates": [{"buildpack": "heroku/python"}, {"buildpack": "heroku/python"}]},
                 {"updates": [{"buildpack": "relative/dir/../x"}]}, {"updates": [{"buildpack": "bad url"}]},
                 {"updates": [{"buildpack": "git://example.com/x.git"}]}]:
        bad = d.api("PUT", "/apps/bp-api/buildpack-installations", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["id"] == "invalid_params" and bad.json()["message"]
    assert d.api("GET", "/apps/bp-api/buildpack-installations").json()[0]["buildpack"]["url"] == "heroku/python"
    assert d.api("GET", "/apps/no-such-app/buildpack-installations").status_code == 404
    assert d.api("PUT", "/apps/bp-api/buildpack-installations", json={"updates": []}).json() == []


# --- builds ------------------------------------------------------------------------------------------------

PROCFILE_FROM_SUBDIR = '''
    echo "-----> Copying subdir/Procfile to the app's root"
    cp "$1/subdir/Procfile" "$1/Procfile"
'''


@pytest.mark.both_runtimes
def test_procfile_chosen_by_a_buildpack_before_the_language_pack(tmp_path: Path, runtime: str) -> None:
    """A buildpack puts subdir/Procfile at the root, then heroku/python builds: the app answers."""
    daemon = start_daemon(tmp_path / "home")
    try:
        repo = python_app(tmp_path / "app")
        (repo / "subdir").mkdir()
        (repo / "Procfile").rename(repo / "subdir" / "Procfile")
        (repo / "subdir" / "Procfile").write_text("web: python app.py --from-subdir\n")
        commit_all(repo)
        src = write_buildpack(tmp_path / "procfile-from-subdir", detect='echo "Subdir Procfile"',
                              compile=PROCFILE_FROM_SUBDIR)
        git("init", "-q", "-b", "main", cwd=src)
        commit_all(src, "the pack")
        # from a git repo, so the build reads it from HEROKUSIM_HOME's buildpack cache (on Docker: mounted)
        pack = f"{tmp_path / 'procfile-from-subdir.git'}#main"
        git("clone", "-q", "--bare", str(src), pack.split("#")[0], cwd=tmp_path)
        create_app(daemon, "subdir-app", repo)
        assert daemon.cli("buildpacks:set", "heroku/python", "-a", "subdir-app").returncode == 0
        assert daemon.cli("buildpacks:add", "--index", "1", str(pack), "-a", "subdir-app").returncode == 0
        ok, out = push(daemon, repo)
        assert ok, out
        assert f"remote: -----> Using buildpacks:\nremote:        1. {pack}\nremote:        2. heroku/python" in out
        assert "remote: -----> Subdir Procfile app detected" in out
        assert "remote: -----> Copying subdir/Procfile to the app's root" in out
        assert "remote: -----> Python app detected" in out
        assert "Procfile declares types -> web" in out
        answers(daemon, "subdir-app", "Hello from herokusim!")
        web = daemon.api("GET", "/apps/subdir-app/formation/web").json()
        assert web["command"] == "python app.py --from-subdir"
    finally:
        stop_daemon(daemon)


OWN_RELEASE = '''
    echo "---"
    echo "default_process_types:"
    echo "  web: python3 -m http.server \\$PORT --directory public"
'''


@pytest.mark.both_runtimes
def test_an_app_that_is_its_own_buildpack(tmp_path: Path, runtime: str) -> None:
    """The app's own checkout is its buildpack: its bin/release names the web process (no Procfile)."""
    daemon = start_daemon(tmp_path / "home")
    try:
        repo = tmp_path / "own"
        write_buildpack(repo, detect='echo "Own"', compile='''
            echo "-----> Writing public/index.html"
            mkdir -p "$1/public"; echo "built by its own buildpack" > "$1/public/index.html"
        ''', release=OWN_RELEASE)
        git("init", "-q", "-b", "main", cwd=repo)
        commit_all(repo, "own buildpack")
        create_app(daemon, "own-app", repo)
        set_ = daemon.cli("buildpacks:set", ".", "-a", "own-app", cwd=repo)  # `.`: this checkout, as it is
        assert set_.returncode == 0, set_.stderr
        ok, out = push(daemon, repo)
        assert ok, out
        assert f"remote: -----> Using buildpack: {repo}\n" in out
        assert "remote: -----> Own app detected" in out
        assert "Default types for buildpack -> web" in out
        answers(daemon, "own-app", "built by its own buildpack")
    finally:
        stop_daemon(daemon)


def test_a_buildpack_from_a_local_git_repo_at_a_tag(shared: Daemon, tmp_path: Path) -> None:
    bp = marker_buildpack(tmp_path / "bp-src", "v1-of-the-pack")
    git("init", "-q", "-b", "main", cwd=bp)
    commit_all(bp, "v1")
    assert git("tag", "v1", cwd=bp).returncode == 0
    marker_buildpack(bp, "main-of-the-pack")
    commit_all(bp, "v2")
    bare = tmp_path / "bp.git"
    assert git("clone", "-q", "--bare", str(bp), str(bare), cwd=tmp_path).returncode == 0

    repo = python_app(tmp_path / "app")
    create_app(shared, "tagged", repo)
    url = f"{bare.as_uri()}#v1"
    assert shared.cli("buildpacks:set", url, "-a", "tagged").returncode == 0
    assert shared.cli("buildpacks:add", "heroku/python", "-a", "tagged").returncode == 0
    ok, out = push(shared, repo)
    assert ok, out
    assert f"remote: -----> Fetching buildpack {url}" in out
    assert f"remote:        1. {url}\n" in out
    assert "compiled by v1-of-the-pack" in out and "main-of-the-pack" not in out
    answers(shared, "tagged", "Hello from herokusim!")
    cache = shared.home / "buildpacks-cache"
    assert any(p.is_dir() for p in cache.iterdir()), "the fetched buildpack is kept under HEROKUSIM_HOME"

    # the repo's default branch, when no #ref is given (the same cache updates as the branch moves)
    assert shared.cli("buildpacks:set", "-i", "1", str(bare), "-a", "tagged").returncode == 0
    commit_all_empty = git("commit", "-q", "--allow-empty", "-m", "again", cwd=repo)
    assert commit_all_empty.returncode == 0
    ok, out = push(shared, repo)
    assert ok, out
    assert "compiled by main-of-the-pack" in out


def test_a_tarball_buildpack_from_a_path_and_from_loopback_http(shared: Daemon, tmp_path: Path,
                                                                served: tuple[str, Path]) -> None:
    base, www = served
    tarball_of(marker_buildpack(tmp_path / "bp-file", "tarball-file"), tmp_path / "bp.tgz")
    tarball_of(marker_buildpack(tmp_path / "bp-http", "tarball-http"), www / "bp.tar.gz", top=None)
    repo = python_app(tmp_path / "app")
    create_app(shared, "tarred", repo)
    for url, marker in [(str(tmp_path / "bp.tgz"), "tarball-file"), (f"{base}/bp.tar.gz", "tarball-http")]:
        assert shared.api("PUT", "/apps/tarred/buildpack-installations", json={"updates": [
            {"buildpack": url}, {"buildpack": "heroku/python"}]}).status_code == 200
        git("commit", "-q", "--allow-empty", "-m", marker, cwd=repo)
        ok, out = push(shared, repo)
        assert ok, out
        assert f"compiled by {marker}" in out
        answers(shared, "tarred", "Hello from herokusim!")


def test_buildpack_url_config_var_and_the_legacy_buildpacks_file(shared: Daemon, tmp_path: Path,
                                                                 served: tuple[str, Path]) -> None:
    repo = python_app(tmp_path / "app")
    create_app(shared, "legacy", repo)
    # BUILDPACK_URL: one buildpack, used when none is set
    pack = marker_buildpack(tmp_path / "by-config", "the-config-var")
    assert shared.cli("config:set", f"BUILDPACK_URL={pack}", "-a", "legacy").returncode == 0
    ok, out = push(shared, repo)
    assert ok, out
    assert f"Using buildpack: {pack}\n" in out and "compiled by the-config-var" in out

    # .buildpacks: remote URLs and built-in names, one a line, # comments; BUILDPACK_URL would win, so unset it
    assert shared.cli("config:unset", "BUILDPACK_URL", "-a", "legacy").returncode == 0
    base, www = served
    tarball_of(marker_buildpack(tmp_path / "by-file", "the-buildpacks-file"), www / "bp.tgz")
    (repo / ".buildpacks").write_text(f"# the legacy file\n{base}/bp.tgz\n\nheroku/python\n")
    commit_all(repo, ".buildpacks")
    ok, out = push(shared, repo)
    assert ok, out
    assert f"remote:        1. {base}/bp.tgz\nremote:        2. heroku/python" in out
    assert "compiled by the-buildpacks-file" in out
    answers(shared, "legacy", "Hello from herokusim!")

    # set buildpacks win over both
    assert shared.cli("buildpacks:set", "heroku/python", "-a", "legacy").returncode == 0
    git("commit", "-q", "--allow-empty", "-m", "set wins", cwd=repo)
    ok, out = push(shared, repo)
    assert ok and "Using buildpack: heroku/python\n" in out and "the-buildpacks-file" not in out

    # what a repo pushes must not pick directories of this machine
    assert shared.cli("buildpacks:clear", "-a", "legacy").returncode == 0
    before = releases(shared, "legacy")
    (repo / ".buildpacks").write_text(f"{pack}\n")
    commit_all(repo, "a local path")
    ok, out = push(shared, repo)
    assert not ok
    assert "remote:  !     The .buildpacks file names an unusable buildpack" in out
    assert "buildpacks:set" in out
    assert releases(shared, "legacy") == before


def test_official_urls_map_to_the_built_in_buildpacks_offline(shared: Daemon, tmp_path: Path) -> None:
    """GitHub is not reachable here: Heroku's own URL for its Python buildpack builds all the same."""
    repo = python_app(tmp_path / "app")
    create_app(shared, "official", repo)
    url = "https://github.com/heroku/heroku-buildpack-python.git"
    assert shared.cli("buildpacks:set", url, "-a", "official").returncode == 0
    ok, out = push(shared, repo)
    assert ok, out
    assert f"remote: -----> {url} is heroku/python: using herokusim's built-in copy (nothing downloaded)" in out
    assert f"remote: -----> Using buildpack: {url}\n" in out
    assert "remote: -----> Python app detected" in out


def test_heroku_procfile_runs_the_repo_as_it_is(shared: Daemon, tmp_path: Path) -> None:
    repo = tmp_path / "static"
    (repo / "public").mkdir(parents=True)
    (repo / "public" / "index.html").write_text("served as it is\n")
    (repo / "serve").write_text('#!/usr/bin/env bash\nexec python3 -m http.server "$PORT" --directory public\n')
    (repo / "serve").chmod(0o755)
    (repo / "Procfile").write_text("web: ./serve\n")  # not a word of python: no built-in detects the app
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "static")
    create_app(shared, "as-is", repo)
    ok, out = push(shared, repo)
    assert not ok and "No default language could be detected" in out  # heroku/procfile is never detected
    assert shared.cli("buildpacks:set", "heroku/procfile", "-a", "as-is").returncode == 0
    ok, out = push(shared, repo)
    assert ok, out
    assert "remote: -----> Procfile app detected" in out
    answers(shared, "as-is", "served as it is")


def test_failing_and_unfetchable_buildpacks_change_nothing(shared: Daemon, tmp_path: Path) -> None:
    repo = python_app(tmp_path / "app")
    create_app(shared, "fails", repo)
    ok, _ = push(shared, repo)
    assert ok
    good = remote_main(shared, "fails")
    before = releases(shared, "fails")
    git("commit", "-q", "--allow-empty", "-m", "next", cwd=repo)

    failing = write_buildpack(tmp_path / "failing", compile='echo "-----> about to fail"; exit 3')
    no_compile = write_buildpack(tmp_path / "no-compile")
    (no_compile / "bin" / "compile").unlink()
    closed = f"http://127.0.0.1:{free_port()}/bp.tgz"
    cases = [
        (str(failing), "remote:  !     Failed to compile Custom app"),
        (str(no_compile), f"remote:  !     Buildpack {no_compile} has no bin/compile"),
        (f"file://{tmp_path}/nowhere.git", f"remote:  !     Unable to fetch buildpack file://{tmp_path}/nowhere.git"),
        (f"{(tmp_path / 'bp.git').as_uri()}#no-such-tag", "Unable to fetch buildpack"),
        (closed, f"remote:  !     Unable to fetch buildpack {closed}"),
        (str(tmp_path / "missing-dir"), "no such directory"),
    ]
    bare = tmp_path / "bp.git"
    src = marker_buildpack(tmp_path / "bp-src", "x")
    git("init", "-q", "-b", "main", cwd=src)
    commit_all(src)
    git("clone", "-q", "--bare", str(src), str(bare), cwd=tmp_path)
    for url, line in cases:
        put = shared.api("PUT", "/apps/fails/buildpack-installations", json={"updates": [{"buildpack": url}]})
        assert put.status_code == 200, put.text
        ok, out = push(shared, repo)
        assert not ok, url
        assert line in out, (url, out)
        assert "remote:  !     Push rejected, failed to compile app." in out
        assert "Traceback" not in out
        assert releases(shared, "fails") == before, url
        assert remote_main(shared, "fails") == good, url
    builds = shared.api("GET", "/apps/fails/builds").json()
    assert [b["status"] for b in builds][-len(cases):] == ["failed"] * len(cases)
    assert re.search(r"Build failed -- check your build output", app_log(shared, "fails"))


# --- which URLs herokusim takes (no daemon) ----------------------------------------------------------------


@pytest.mark.parametrize(("url", "kind"), [
    ("heroku/python", "builtin"), ("urn:buildpack:heroku/nodejs", "builtin"), ("HEROKU/Procfile", "builtin"),
    ("https://github.com/heroku/heroku-buildpack-python.git", "builtin"),
    ("https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku/nodejs.tgz", "builtin"),
    ("https://github.com/OWNER/heroku-buildpack-foo", "git"), ("https://github.com/OWNER/foo.git#v2", "git"),
    ("git://127.0.0.1/pack.git", "git"), ("http://localhost:8000/pack.git#main", "git"),
    ("file:///srv/pack.git", "git"), ("/srv/pack#v1", "git"),
    ("https://example.com/pack-1.0.tgz", "tarball"), ("http://[::1]:8000/pack.tar.gz", "tarball"),
    ("/srv/pack.tgz", "tarball"), ("/srv/pack", "dir"), ("file:///srv/pack", "dir"),
])
def test_what_a_buildpack_url_names(url: str, kind: str) -> None:
    from herokusim.builds.resolve import _spec

    assert _spec(url).kind == kind


@pytest.mark.parametrize("url", [
    "", "heroku/ruby", "http://example.com/pack.tgz", "git://example.com/pack.git", "ssh://host/pack.git",
    "git@github.com:owner/pack.git", "relative/path/pack", "https://example.com/pack.tgz#v1", "file://host/x",
    "https:///no-host", "/srv/pack\nx", "x" * 3000,
])
def test_buildpack_urls_herokusim_refuses(url: str) -> None:
    from herokusim.builds.resolve import check_buildpack_url
    from herokusim.errors import InvalidParams

    with pytest.raises(InvalidParams) as refused:
        check_buildpack_url(url)
    assert refused.value.args[0] and "\n" not in str(refused.value)
