"""Git server: smart HTTP on its own port (dulwich), one bare repo per app; a push to main builds.

The build runs inside the push, between "pack stored" and "ref moved", so its output reaches the user
live as `remote: ...` lines and a failed build leaves the ref where it was. Every ref moves by a checked
compare-and-swap from the sha the client saw (dulwich ignores a failed one and reports `ok`): a push that
lost a race is refused. Replies are HTTP/1.1 chunked, so a client whose reply is cut (the daemon killed
mid-push) sees an error instead of waiting for the rest of a reply that looks complete. A pushed pack
streams from the request body into `git index-pack` (dulwich holds every object whole, 2-3x its size, in
the daemon while indexing): the daemon's memory stays flat whatever the size of the push.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from dulwich.errors import GitProtocolError, NotGitRepository, RefFormatError
from dulwich.file import FileLocked
from dulwich.protocol import CAPABILITY_SIDE_BAND_64K, SIDE_BAND_CHANNEL_PROGRESS
from dulwich.repo import Repo
from dulwich.server import Backend, ReceivePackHandler
from dulwich.web import make_wsgi_chain

from herokusim.auth import basic_password
from herokusim.config import Settings

logger = logging.getLogger(__name__)

DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")
ZERO_SHA = "0" * 40
REALM = "herokusim"
# What dulwich raises on a request that does not follow the protocol (a bad pkt-line or ref line, an
# unadvertised capability, a bad chunked body: ValueError; some checks are asserts): the client's fault.
_MALFORMED = (GitProtocolError, ValueError, AssertionError)
# What git shows in `! [remote rejected] main -> main (...)` for any refused deploy, as Heroku does.
REJECTED = "pre-receive hook declined"

_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_REPO_URL = re.compile(r"/(?P<app>[^/]+)\.git(?:/|\Z)")


@dataclass(frozen=True)
class PushEvent:
    app_name: str
    ref: str
    old_sha: str  # where the client saw the ref (ZERO_SHA: it did not exist)
    new_sha: str
    repo_path: Path

    def stale(self) -> str | None:
        """Why the push must be refused because the ref moved since the client read it; None if it did not."""
        if not self.repo_path.is_dir():
            return self.destroyed()
        with Repo(self.repo_path) as repo:
            now = _ref_value(repo, self.ref)
        return None if now == self.old_sha else _moved_reason(self.ref, now)

    def move_ref(self) -> str | None:
        """Point the ref at new_sha if it still points at old_sha (None), else say why it cannot.

        Moving a ref that already points at new_sha succeeds: the push handler may have moved it itself.
        """
        try:
            repo = Repo(self.repo_path)
        except NotGitRepository:
            return self.destroyed()
        with repo:
            return _swap_ref(repo, self.ref, self.old_sha, self.new_sha)

    def destroyed(self) -> str:
        """Why a push whose app went (apps:destroy, which does not wait for a build) is refused."""
        return f"{self.app_name} was destroyed during this push"

    def restore_ref(self) -> None:
        """Undo move_ref: the ref back at old_sha (or gone), if it still points at new_sha."""
        with Repo(self.repo_path) as repo:
            ref = _ref_bytes(self.ref)
            if self.old_sha == ZERO_SHA:
                repo.refs.remove_if_equals(ref, self.new_sha.encode())
            else:
                repo.refs.set_if_equals(ref, self.new_sha.encode(), self.old_sha.encode())


def _ref_value(repo: Repo, ref: str) -> str:
    try:
        return repo.refs[_ref_bytes(ref)].decode()
    except KeyError:
        return ZERO_SHA


def _ref_bytes(ref: str) -> bytes:
    # Ref names are bytes on the wire and on disk; _on_update decodes them losslessly.
    return ref.encode(errors="surrogateescape")


def _moved_reason(ref: str, now: str) -> str:
    branch = ref.removeprefix("refs/heads/")
    where = "it was deleted" if now == ZERO_SHA else f"now {now[:7]}"
    return f"{branch} was updated by another push while yours waited ({where}); fetch and push again"


def _swap_ref(repo: Repo, ref: str, old: str, new: str) -> str | None:
    try:
        if repo.refs.set_if_equals(_ref_bytes(ref), old.encode(), new.encode()):
            return None
    except RefFormatError:
        return f"{_ref_bytes(ref).decode(errors='replace')} is not a valid ref name"
    except (OSError, FileLocked):
        # Another writer holds the ref's lock file right now: it is moving under us.
        pass
    now = _ref_value(repo, ref)
    return None if now == new else _moved_reason(ref, now)


Emit = Callable[[str], None]
# Returns None to accept the push (the ref moves) or a one-line reason to reject it. The server shows a
# reason as ` !     <reason>` (REJECTED itself is not repeated: return it when emit already explained),
# then Heroku's `!\tPush rejected to <app>.`; git always reports `(pre-receive hook declined)`.
PushHandler = Callable[[PushEvent, Emit], str | None]


class GitServer:
    def __init__(self, settings: Settings, on_push: PushHandler,
                 authenticate: Callable[[bytes | None], bool]) -> None:
        self._settings = settings
        self._opened = _OpenedRepos()
        backend = _AppReposBackend(settings.repos_dir, self._opened)
        receive_pack = functools.partial(_DeployReceivePackHandler, on_push=on_push)
        git_app = make_wsgi_chain(backend, handlers={b"git-receive-pack": receive_pack})
        self._app = _AuthenticatedApps(git_app, settings.repos_dir, authenticate, self._opened)
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Serve on settings.host:settings.git_port (0 picks a free port); returns the port."""
        self._settings.repos_dir.mkdir(parents=True, exist_ok=True)
        server = _ThreadingWSGIServer((self._settings.host, self._settings.git_port), _QuietRequestHandler)
        server.set_app(self._app)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="git-server", daemon=True
        )
        self._thread.start()
        return server.server_address[1]

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def create_repo(self, app_name: str) -> Path:
        """A bare repo for the app, HEAD -> refs/heads/main."""
        path = self._repo_path(app_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with Repo.init_bare(path, mkdir=True) as repo:
            repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
        return path

    def rename_repo(self, old_name: str, new_name: str) -> None:
        """apps:rename: the repo moves to the new name's URL; the old URL no longer finds it. Refused (an
        OSError) if something is already at the new name."""
        old, new = self._repo_path(old_name), self._repo_path(new_name)
        if new.exists():
            raise FileExistsError(f"{new} already exists")
        os.rename(old, new)

    def delete_repo(self, app_name: str) -> None:
        shutil.rmtree(self._repo_path(app_name), ignore_errors=True)

    def _repo_path(self, app_name: str) -> Path:
        if not _APP_NAME.fullmatch(app_name):
            raise ValueError(f"{app_name!r} is not an app name (lowercase letters, digits and dashes)")
        return self._settings.repos_dir / f"{app_name}.git"


# Blobs above this are streamed by git, not held whole (git's default is 512 MB).
BIG_FILE_THRESHOLD = "1m"
_PACK_READ = 64 * 1024


def git_command(repo_path: Path, *args: str) -> list[str]:
    """argv for the git CLI on a bare repo, blobs streamed (see BIG_FILE_THRESHOLD)."""
    return ["git", f"--git-dir={repo_path}", "-c", f"core.bigFileThreshold={BIG_FILE_THRESHOLD}", *args]


def git_env() -> dict[str, str]:
    # The daemon's own GIT_* variables (a GIT_DIR, an index) must not steer what git does to an app's repo.
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _index_pack(repo_path: Path, read_all: Callable[[int], bytes], read_some: Callable[[int], bytes] | None,
                progress: Any = None, *, max_input_size: int | None = None) -> None:
    """add_thin_pack for dulwich's receive-pack: the pack goes from the request body through
    `git index-pack --fix-thin` into the repo, a buffer at a time."""
    read = read_some or read_all
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(git_command(repo_path, "index-pack", "--stdin", "--fix-thin"), bufsize=0,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=git_env())
        assert proc.stdin is not None
        received = 0
        try:
            with proc.stdin:
                while data := read(_PACK_READ):
                    received += len(data)
                    if max_input_size and received > max_input_size:
                        raise OSError(f"the pack is larger than the limit of {max_input_size} bytes")
                    proc.stdin.write(data)
        except BrokenPipeError:
            pass  # index-pack stopped reading: its exit status and message say why
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            raise OSError(message[-1] if message else f"git index-pack exited with status {proc.returncode}")


class _DeployReceivePackHandler(ReceivePackHandler):
    """receive-pack that hands a push to main/master to on_push after the pack is stored."""

    def __init__(self, *args: Any, on_push: PushHandler, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_push = on_push
        self._emit_lock = threading.Lock()
        self._can_emit = True
        # dulwich's own add_thin_pack holds whole objects in memory; this repo object is ours alone.
        self.repo.object_store.add_thin_pack = functools.partial(  # type: ignore[attr-defined]
            _index_pack, Path(self.repo.path))  # type: ignore[attr-defined]

    def handle(self) -> None:
        try:
            super().handle()
        finally:
            # on_push may hand emit to other threads; once the response is over it must go quiet.
            with self._emit_lock:
                self._can_emit = False

    def emit(self, line: str) -> None:
        """One `remote: <line>` on the client's terminal, now."""
        with self._emit_lock:
            if not self._can_emit or not self.has_capability(CAPABILITY_SIDE_BAND_64K):
                return
            try:
                self.proto.write_sideband(SIDE_BAND_CHANNEL_PROGRESS, (line + "\n").encode(errors="replace"))
            except (OSError, ValueError):
                # The user hung up; the build goes on without an audience, as on Heroku.
                self._can_emit = False

    def _on_update(self, ref_name: bytes, old_sha: bytes, new_sha: bytes) -> bytes | None:
        ref, old, new = ref_name.decode(errors="surrogateescape"), old_sha.decode(), new_sha.decode()
        repo_path = Path(self.repo.path)  # type: ignore[attr-defined]
        app_name = repo_path.name.removesuffix(".git")
        if new != ZERO_SHA and new_sha not in self.repo.object_store:
            # A client that claims a commit it never sent: the ref would point at nothing.
            return self._reject(app_name, f"{ref} would point at {new[:7]}, an object this push did not send")
        if ref not in DEPLOY_REFS:
            if new == ZERO_SHA:
                return None  # dulwich deletes it, checked against old
            if ref.startswith("refs/heads/"):
                self.emit(
                    f"Pushed to non-deployable branch {ref.removeprefix('refs/heads/')}, skipping build."
                )
            reason = _swap_ref(self.repo, ref, old, new)
            return None if reason is None else self._reject(app_name, reason)
        if new == ZERO_SHA:
            return self._reject(app_name, f"Cannot delete the {ref.removeprefix('refs/heads/')} branch")
        event = PushEvent(app_name=app_name, ref=ref, old_sha=old, new_sha=new, repo_path=repo_path)
        try:
            # The handler moves the ref (move_ref) when it is ready to release; one that does not leaves
            # that to us. Either way dulwich's own update after us finds the ref already there.
            reason = self._on_push(event, self.emit) or event.move_ref()
        except Exception:
            logger.exception("push handler failed for %s %s", app_name, ref)
            reason = "Internal error in herokusim while deploying; see the daemon's log"
        return None if reason is None else self._reject(app_name, reason)

    def _reject(self, app_name: str, reason: str) -> bytes:
        if reason != REJECTED:
            self.emit(f" !     {reason}")
        self.emit("")
        self.emit(f"!\tPush rejected to {app_name}.")
        self.emit("")
        return REJECTED.encode()


class _OpenedRepos(threading.local):
    """Repos opened while serving the current request (one request per thread), closed when it ends."""

    def __init__(self) -> None:
        self.repos: list[Repo] = []

    def close_all(self) -> None:
        while self.repos:
            self.repos.pop().close()


class _AppReposBackend(Backend):
    def __init__(self, repos_dir: Path, opened: _OpenedRepos) -> None:
        self._repos_dir = repos_dir
        self._opened = opened

    def open_repository(self, path: str | bytes) -> Repo:  # type: ignore[override]
        # dulwich hands over "/<app>.git", as str for info/refs and as bytes for the POST.
        name = os.fsdecode(path).strip("/")
        app_name = name.removesuffix(".git")
        repo_path = self._repos_dir / name
        if not name.endswith(".git") or not _APP_NAME.fullmatch(app_name) or not repo_path.is_dir():
            raise NotGitRepository(f"No such app as {app_name}")
        repo = Repo(repo_path)
        self._opened.repos.append(repo)
        return repo


class _AuthenticatedApps:
    """WSGI middleware: Basic auth (the password is the API token), then the app's repo must exist."""

    def __init__(
        self,
        git_app: Callable[..., Iterable[bytes]],
        repos_dir: Path,
        authenticate: Callable[[bytes | None], bool],
        opened: _OpenedRepos,
    ) -> None:
        self._git_app = git_app
        self._repos_dir = repos_dir
        self._authenticate = authenticate
        self._opened = opened

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        password = basic_password(environ.get("HTTP_AUTHORIZATION", ""))
        if password is None or not self._authenticate(password):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", f'Basic realm="{REALM}"')],
            )
            return [b"Invalid credentials: use your herokusim API token as the password.\n"]
        match = _REPO_URL.match(environ.get("PATH_INFO", ""))
        app_name = match["app"] if match else ""
        if not _APP_NAME.fullmatch(app_name) or not (self._repos_dir / f"{app_name}.git").is_dir():
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Couldn't find that app.\n"]
        reply = _Reply(start_response)
        return self._closing(self._git_app(environ, reply.start_response), reply)

    def _closing(self, body: Iterable[bytes], reply: _Reply) -> Iterator[bytes]:
        # dulwich does its work while the body is iterated, in this thread; close its repos after.
        try:
            for chunk in body:
                reply.started = True
                yield chunk
        except _MALFORMED as exc:
            logger.info("git: refused a malformed request: %s", exc)
            if not reply.started:
                reply.start_response("400 Bad Request", [("Content-Type", "text/plain")], sys.exc_info())
                detail = " ".join(str(exc).split())  # one line, whatever the client sent
                yield f"Malformed git request{': ' if detail else ''}{detail}\n".encode()
            # else the reply is under way: it ends here, and the client reports the cut protocol stream
        finally:
            self._opened.close_all()


class _Reply:
    """start_response, remembering whether any of the body went out (then the status cannot change)."""

    def __init__(self, start_response: Callable[..., Any]) -> None:
        self._start_response = start_response
        self.started = False

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
                       ) -> Callable[[bytes], Any]:
        write = self._start_response(status, headers, exc_info)

        def tracked(data: bytes) -> Any:
            self.started = True
            return write(data)

        return tracked


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    # A push blocks its thread for the whole build; other requests get their own threads.
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _ChunkedServerHandler(ServerHandler):
    """Answers HTTP/1.1, a body without Content-Length chunked and the connection closed after.

    wsgiref answers HTTP/1.0 and ends such a body by closing: a reply cut by a crash then looks
    complete, and git's client waits for good for the rest of the push's report. A missing last chunk
    is an error every client sees.
    """

    http_version = "1.1"
    _chunked = False

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        if "Content-Length" not in self.headers and self.request_handler.request_version == "HTTP/1.1":
            self._chunked = True
            self.headers["Transfer-Encoding"] = "chunked"
        self.headers["Connection"] = "close"

    def write(self, data: bytes) -> None:
        # BaseHandler.write, framing the body once the head said it is chunked.
        if not self.status:
            raise AssertionError("write() before start_response()")
        if not self.headers_sent:
            self.bytes_sent = len(data)  # wsgiref's Content-Length for a body of one piece
            self.send_headers()
        else:
            self.bytes_sent += len(data)
        if self._chunked and data:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self._write(data)
        self._flush()

    def finish_content(self) -> None:
        super().finish_content()
        if self._chunked:
            self._write(b"0\r\n\r\n")
            self._flush()


class _QuietRequestHandler(WSGIRequestHandler):
    def handle(self) -> None:
        # WSGIRequestHandler.handle with our ServerHandler.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ChunkedServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                        multithread=False)
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("git %s " + format, self.address_string(), *args)
