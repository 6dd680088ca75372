"""Git server: real `git push` over smart HTTP to herokusim's GitServer, with Basic auth from a credential helper."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from herokusim.config import Settings
from herokusim.git import REJECTED, GitServer, PushEvent, export_commit

TOKEN = "s3cret-token"


class Deployer:
    """A stand-in for the deploy room: records pushes, emits lines, accepts or rejects."""

    def __init__(self) -> None:
        self.events: list[PushEvent] = []
        self.reject_with: str | None = None
        self.lines = ["-----> Building on the heroku-24 stack", "       step two"]
        self.pause = 0.0

    def __call__(self, event: PushEvent, emit) -> str | None:
        self.events.append(event)
        for line in self.lines:
            emit(line)
            time.sleep(self.pause)
        return self.reject_with


@pytest.fixture
def deployer() -> Deployer:
    return Deployer()


@dataclass
class Served:
    url: str
    repo_path: Path  # the app's bare repo on the server


@pytest.fixture
def server(tmp_path: Path, deployer: Deployer) -> Iterator[Served]:
    settings = Settings(home=tmp_path / "home", git_port=0)
    git_server = GitServer(settings, deployer, authenticate=lambda password: password == TOKEN)
    port = git_server.start()
    repo_path = git_server.create_repo("demo")
    try:
        yield Served(f"http://127.0.0.1:{port}/demo.git", repo_path)
    finally:
        git_server.stop()


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and "proxy" not in k.lower()}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.com",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.com",
    )
    return env


def git(
    repo: Path, *args: str, password: str = TOKEN, check: bool = True
) -> subprocess.CompletedProcess[str]:
    helper = f"!f() {{ echo username=x; echo password={password}; }}; f"
    result = subprocess.run(
        ["git", "-c", "credential.helper=", "-c", f"credential.helper={helper}", *args],
        check=False,
        cwd=repo,
        env=git_env(repo.parent),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def work(tmp_path: Path) -> Path:
    repo = tmp_path / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("print('hi')\n")
    script = repo / "bin" / "run"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho run\n")
    script.chmod(0o755)
    (repo / "link").symlink_to("app.py")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def remote_ref(server: Served, ref: str) -> str | None:
    result = subprocess.run(
        ["git", "--git-dir", str(server.repo_path), "rev-parse", "--verify", "-q", ref],
        check=False,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or None


def test_push_to_main_runs_on_push_and_moves_the_ref(server, work, deployer):
    url = server.url
    result = git(work, "push", url, "main")
    sha = head(work)
    assert [(e.app_name, e.ref, e.old_sha, e.new_sha) for e in deployer.events] == [
        ("demo", "refs/heads/main", "0" * 40, sha)
    ]
    assert deployer.events[0].repo_path == server.repo_path
    assert "remote: -----> Building on the heroku-24 stack" in result.stderr
    assert "remote:        step two" in result.stderr
    assert remote_ref(server, "refs/heads/main") == sha


def test_emitted_lines_reach_the_client_while_on_push_runs(server, work, deployer):
    url = server.url
    deployer.lines = ["first line", "second line"]
    deployer.pause = 1.5
    helper = f"!f() {{ echo username=x; echo password={TOKEN}; }}; f"
    seen_at: dict[str, float] = {}
    with subprocess.Popen(
        ["git", "-c", f"credential.helper={helper}", "push", "--progress", url, "main"],
        cwd=work,
        env=git_env(work.parent),
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            for wanted in deployer.lines:
                if f"remote: {wanted}" in line:
                    seen_at[wanted] = time.monotonic()
    assert proc.returncode == 0
    # The first line arrived while on_push was still sleeping before returning.
    assert seen_at["second line"] - seen_at["first line"] > 1.0


def test_rejected_push_leaves_the_ref_and_fails(server, work, deployer):
    url = server.url
    git(work, "push", url, "main")
    first = head(work)
    (work / "app.py").write_text("print('broken')\n")
    git(work, "commit", "-qam", "second")
    deployer.reject_with = "Failed to compile Python app"
    result = git(work, "push", url, "main", check=False)
    assert result.returncode != 0
    assert "! [remote rejected] main -> main (pre-receive hook declined)" in result.stderr
    assert "remote:  !     Failed to compile Python app" in result.stderr
    assert remote_ref(server, "refs/heads/main") == first
    assert deployer.events[-1].old_sha == first and deployer.events[-1].new_sha == head(work)


def test_generic_rejection_shows_herokus_trailer_only(server, work, deployer):
    deployer.reject_with = REJECTED
    result = git(work, "push", server.url, "main", check=False)
    assert result.returncode != 0
    assert "remote: !\tPush rejected to demo." in result.stderr
    assert "!     pre-receive hook declined" not in result.stderr
    assert remote_ref(server, "refs/heads/main") is None


def test_other_branch_is_stored_without_a_build(server, work, deployer):
    url = server.url
    git(work, "checkout", "-q", "-b", "feature")
    result = git(work, "push", url, "feature")
    assert deployer.events == []
    assert remote_ref(server, "refs/heads/feature") == head(work)
    assert "skipping build" in result.stderr


def test_deleting_main_is_rejected(server, work, deployer):
    url = server.url
    git(work, "push", url, "main")
    result = git(work, "push", url, ":main", check=False)
    assert result.returncode != 0
    assert remote_ref(server, "refs/heads/main") == head(work)


def test_wrong_password_is_an_auth_error(server, work, deployer):
    url = server.url
    result = git(work, "push", url, "main", password="wrong", check=False)
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr
    assert deployer.events == []
    assert remote_ref(server, "refs/heads/main") is None


def test_unauthenticated_request_gets_basic_challenge_and_unknown_app_404(server):
    url = server.url
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(url + "/info/refs?service=git-upload-pack", timeout=10)
    with denied.value:
        assert denied.value.code == 401
        assert denied.value.headers["WWW-Authenticate"] == 'Basic realm="herokusim"'

    password_mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    password_mgr.add_password(None, url.rsplit("/", 1)[0], "x", TOKEN)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(password_mgr))
    missing = url.replace("demo.git", "nope.git") + "/info/refs?service=git-upload-pack"
    with pytest.raises(urllib.error.HTTPError) as not_found:
        opener.open(missing, timeout=10)
    with not_found.value:
        assert not_found.value.code == 404
        assert not_found.value.read() == b"Couldn't find that app.\n"


def test_clone_back_and_big_push(server, work, deployer, tmp_path):
    url = server.url
    (work / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # chunked POST body
    git(work, "add", "blob.bin")
    git(work, "commit", "-qm", "big")
    git(work, "push", url, "main")
    git(tmp_path, "clone", "-q", url, "copy")
    assert (tmp_path / "copy" / "blob.bin").read_bytes() == (work / "blob.bin").read_bytes()


def test_other_requests_are_served_during_a_long_push(server, work, deployer, tmp_path):
    url = server.url
    deployer.lines = ["building..."]
    deployer.pause = 3.0
    pusher = threading.Thread(target=git, args=(work, "push", url, "main"))
    pusher.start()
    deadline = time.monotonic() + 10
    while not deployer.events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deployer.events, "on_push was not called"
    started = time.monotonic()
    git(tmp_path, "ls-remote", url)
    assert time.monotonic() - started < 2.5
    pusher.join(timeout=30)


def test_export_commit_keeps_exec_bits_and_symlinks(server, work, tmp_path):
    url = server.url
    git(work, "push", url, "main")
    dest = tmp_path / "export"
    export_commit(server.repo_path, head(work), dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "app.py",
        "bin",
        "bin/run",
        "link",
    ]
    assert (dest / "app.py").read_text() == "print('hi')\n"
    assert (dest / "bin" / "run").stat().st_mode & stat.S_IXUSR
    assert not (dest / "app.py").stat().st_mode & stat.S_IXUSR
    assert (dest / "link").is_symlink() and os.readlink(dest / "link") == "app.py"


def test_create_and_delete_repo(tmp_path, deployer):
    git_server = GitServer(Settings(home=tmp_path, git_port=0), deployer, authenticate=lambda p: True)
    path = git_server.create_repo("fresh-app")
    assert (path / "HEAD").read_text() == "ref: refs/heads/main\n"
    git_server.delete_repo("fresh-app")
    assert not path.exists()
    with pytest.raises(ValueError):
        git_server.create_repo("../escape")
