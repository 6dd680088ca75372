"""Git server: real `git push` over smart HTTP to herokusim's GitServer, with Basic auth from a credential helper."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import os
import socket
import stat
import struct
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from herokusim.config import Settings
from herokusim.git import REJECTED, GitServer, PushEvent, export_commit

TOKEN = "s3cret-token"


class Deployer:
    """A stand-in for the deploy room: records pushes, emits lines, accepts or rejects.

    With `hold` set, on_push stops after its first line until the test calls `release()` (or 60 s pass):
    a test proves something happens *while* on_push runs by doing it before releasing."""

    def __init__(self) -> None:
        self.events: list[PushEvent] = []
        self.reject_with: str | None = None
        self.lines = ["-----> Building on the heroku-24 stack", "       step two"]
        self.hold = False
        self.held = threading.Event()  # on_push is waiting to be released
        self.released_in_time: bool | None = None  # whether release() came before the 60 s ran out
        self.returned = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    def __call__(self, event: PushEvent, emit) -> str | None:
        self.events.append(event)
        try:
            for i, line in enumerate(self.lines):
                emit(line)
                if self.hold and i == 0:
                    self.held.set()
                    self.released_in_time = self._release.wait(60)
            return self.reject_with
        finally:
            self.returned.set()


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
    git_server = GitServer(settings, deployer, authenticate=lambda password: password == TOKEN.encode())
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
    deployer.hold = True  # on_push waits after the first line until the client has seen it
    helper = f"!f() {{ echo username=x; echo password={TOKEN}; }}; f"
    seen: list[str] = []
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
                    seen.append(wanted)
                    if wanted == "first line":
                        assert not deployer.returned.is_set(), "the first line came only after on_push returned"
                        deployer.release()
    assert proc.returncode == 0
    assert seen == ["first line", "second line"]
    # Buffered lines would have kept on_push waiting until the 60 s ran out.
    assert deployer.released_in_time, "the first line did not reach the client while on_push ran"


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
    deployer.hold = True  # the push stays in on_push until the ls-remote below is answered
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pushed = pool.submit(git, work, "push", url, "main")  # git() raises if the push fails
            assert deployer.held.wait(60), "on_push was not called"
            listed = git(tmp_path, "ls-remote", url)  # times out (60 s) if the server serves one at a time
            assert not deployer.returned.is_set(), "ls-remote was answered while the push was in on_push"
        finally:
            deployer.release()
        pushed.result(timeout=60)
    assert deployer.released_in_time
    assert remote_ref(server, "refs/heads/main") == head(work)
    assert head(work) not in listed.stdout, "the ref moves only once on_push accepts the push"


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


# --- hostile input: clear refusals, never a 500, the repo unchanged --------------------------------------

def raw_request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, bytes] | None = None,
                password: str = TOKEN) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte (headers may hold anything), the status and body back."""
    host, port = url.split("/")[2].split(":")
    auth = base64.b64encode(f"x:{password}".encode())
    head = {"Host": host.encode(), "Authorization": b"Basic " + auth, "Content-Length": str(len(body)).encode(),
            **(headers or {})}
    request = f"{method} {path} HTTP/1.1\r\n".encode()
    request += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in head.items() if value)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request + b"\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    head_bytes, _, payload = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head_bytes.lower():
        payload = dechunk(payload)
    return int(status_line.split()[1]), payload


def dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2:]


def pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


EMPTY_PACK = b"PACK" + struct.pack(">II", 2, 0)
EMPTY_PACK += hashlib.sha1(EMPTY_PACK).digest()
RECEIVE = {"Content-Type": b"application/x-git-receive-pack-request"}
UPLOAD = {"Content-Type": b"application/x-git-upload-pack-request"}
GARBAGE = [b"garbage", b"zzzz", b"0004", b"ffff" + b"x" * 10, b"0009hello", b"", pkt(b"a b c d") + b"0000",
           pkt(b"want abc") + b"0000", pkt(b"0" * 40 + b" " + b"1" * 40 + b" refs/heads/main\0..") + b"0000"]


@pytest.mark.parametrize("body", GARBAGE)
@pytest.mark.parametrize("service", ["git-receive-pack", "git-upload-pack"])
def test_garbage_pkt_lines_get_a_400_and_change_nothing(server, work, deployer, service, body, capfd):
    git(work, "push", server.url, "main")
    status, payload = raw_request(server.url, "POST", f"/demo.git/{service}", body,
                                  RECEIVE if service == "git-receive-pack" else UPLOAD)
    assert status == 400, payload
    assert payload.startswith(b"Malformed git request")
    assert remote_ref(server, "refs/heads/main") == head(work)
    assert len(deployer.events) == 1
    assert "Traceback" not in capfd.readouterr().err


def test_info_refs_with_a_garbage_service_is_refused(server, capfd):
    for service in ["garbage", "git-upload-pack%00", "%ff%fe"]:
        status, _ = raw_request(server.url, "GET", f"/demo.git/info/refs?service={service}")
        assert 400 <= status < 500
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("ref", ["refs/heads/main", "refs/heads/feature"])
def test_a_ref_to_an_object_the_push_did_not_send_is_refused(server, work, deployer, ref, capfd):
    git(work, "push", server.url, "main")
    missing = b"1234567890" * 4
    body = pkt(head(work).encode() + b" " + missing + b" " + ref.encode() + b"\0report-status side-band-64k")
    status, payload = raw_request(server.url, "POST", "/demo.git/git-receive-pack", body + b"0000" + EMPTY_PACK,
                                  RECEIVE)
    assert status == 200
    assert f"ng {ref} pre-receive hook declined".encode() in payload
    assert b"would point at 1234567, an object this push did not send" in payload
    assert b"Internal error" not in payload
    assert remote_ref(server, "refs/heads/main") == head(work)
    assert remote_ref(server, "refs/heads/feature") is None
    assert len(deployer.events) == 1
    assert "Traceback" not in capfd.readouterr().err


@hypothesis.settings(max_examples=150, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(
    body=st.one_of(st.binary(max_size=300),
                   st.lists(st.binary(max_size=60).map(pkt) | st.sampled_from([b"0000", b"0001", b"zzzz"]),
                            max_size=6).map(b"".join)),
    service=st.sampled_from(["git-receive-pack", "git-upload-pack"]),
    chunked=st.booleans(),
)
def test_random_bytes_to_the_post_endpoints_never_give_a_5xx(server, work, deployer, body, service, chunked,
                                                             capfd):
    headers = dict(RECEIVE if service == "git-receive-pack" else UPLOAD)
    if chunked:
        headers |= {"Transfer-Encoding": b"chunked", "Content-Length": b""}
        body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    status, payload = raw_request(server.url, "POST", f"/demo.git/{service}", body, headers)
    assert status < 500, payload
    assert "Traceback" not in capfd.readouterr().err


def test_the_server_still_takes_a_normal_push_after_random_bytes(server, work, deployer):
    for body in GARBAGE:
        raw_request(server.url, "POST", "/demo.git/git-receive-pack", body, RECEIVE)
    git(work, "push", server.url, "main")
    assert remote_ref(server, "refs/heads/main") == head(work)


def test_non_ascii_credentials_are_refused_with_a_401(daemon, tmp_path):
    assert daemon.cli("apps:create", "demo").returncode == 0
    url = f"http://127.0.0.1:{daemon.git_port}/demo.git"
    path = "/demo.git/info/refs?service=git-receive-pack"
    for authorization in ["Basic " + base64.b64encode("x:é".encode()).decode(),
                          "Basic " + base64.b64encode(b"x:\xff\xfe").decode(), "Bearer é"]:
        status, _ = raw_request(url, "GET", path, headers={"Authorization": authorization.encode()})
        assert status == 401, authorization
    status, _ = raw_request(url, "GET", path, headers={"Authorization": b"Basic \xff\xfe\x80"})
    assert status == 401
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    refused = git(work, "ls-remote", url, password="é", check=False)
    assert refused.returncode != 0 and "Authentication failed" in refused.stderr
    assert git(work, "ls-remote", url, password=daemon.token).returncode == 0
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize("ref", [b"refs/heads/\xff\xfe", b"refs/heads/a..b", b"HEAD", b"refs/heads/x.lock",
                                 b"refs/../../escape", b"refs/heads/main/sub"])
def test_odd_ref_names_get_a_clean_answer(server, work, deployer, ref, capfd):
    git(work, "push", server.url, "main")
    body = pkt(b"0" * 40 + b" " + head(work).encode() + b" " + ref + b"\0report-status") + b"0000" + EMPTY_PACK
    status, payload = raw_request(server.url, "POST", "/demo.git/git-receive-pack", body, RECEIVE)
    assert status == 200
    assert payload.startswith(b"000eunpack ok\n")
    assert b"ok " + ref in payload or b"ng " + ref in payload
    assert remote_ref(server, "refs/heads/main") == head(work)
    assert not (server.repo_path.parent / "escape").exists()
    assert len(deployer.events) == 1
    assert "Traceback" not in capfd.readouterr().err
