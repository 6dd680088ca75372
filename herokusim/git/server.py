"""Git server: smart HTTP on its own port (dulwich), one bare repo per app; a push to main builds.

The build runs inside the push, between "pack stored" and "ref moved", so its output reaches the user
live as `remote: ...` lines and a failed build leaves the ref where it was.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import shutil
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from dulwich.errors import NotGitRepository
from dulwich.protocol import CAPABILITY_SIDE_BAND_64K, SIDE_BAND_CHANNEL_PROGRESS
from dulwich.repo import Repo
from dulwich.server import Backend, ReceivePackHandler
from dulwich.web import make_wsgi_chain

from herokusim.config import Settings

logger = logging.getLogger(__name__)

DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")
ZERO_SHA = "0" * 40
REALM = "herokusim"
# What git shows in `! [remote rejected] main -> main (...)` for any refused deploy, as Heroku does.
REJECTED = "pre-receive hook declined"

_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_REPO_URL = re.compile(r"/(?P<app>[^/]+)\.git(?:/|\Z)")


@dataclass(frozen=True)
class PushEvent:
    app_name: str
    ref: str
    old_sha: str
    new_sha: str
    repo_path: Path


Emit = Callable[[str], None]
# Returns None to accept the push (the ref moves) or a one-line reason to reject it. The server shows a
# reason as ` !     <reason>` (REJECTED itself is not repeated: return it when emit already explained),
# then Heroku's `!\tPush rejected to <app>.`; git always reports `(pre-receive hook declined)`.
PushHandler = Callable[[PushEvent, Emit], str | None]


class GitServer:
    def __init__(self, settings: Settings, on_push: PushHandler, authenticate: Callable[[str], bool]) -> None:
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

    def delete_repo(self, app_name: str) -> None:
        shutil.rmtree(self._repo_path(app_name), ignore_errors=True)

    def _repo_path(self, app_name: str) -> Path:
        if not _APP_NAME.fullmatch(app_name):
            raise ValueError(f"{app_name!r} is not an app name (lowercase letters, digits and dashes)")
        return self._settings.repos_dir / f"{app_name}.git"


class _DeployReceivePackHandler(ReceivePackHandler):
    """receive-pack that hands a push to main/master to on_push after the pack is stored."""

    def __init__(self, *args: Any, on_push: PushHandler, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_push = on_push
        self._emit_lock = threading.Lock()
        self._can_emit = True

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
                self.proto.write_sideband(SIDE_BAND_CHANNEL_PROGRESS, (line + "\n").encode())
            except (OSError, ValueError):
                # The user hung up; the build goes on without an audience, as on Heroku.
                self._can_emit = False

    def _on_update(self, ref_name: bytes, old_sha: bytes, new_sha: bytes) -> bytes | None:
        ref, old, new = ref_name.decode(), old_sha.decode(), new_sha.decode()
        if ref not in DEPLOY_REFS:
            if ref.startswith("refs/heads/") and new != ZERO_SHA:
                self.emit(
                    f"Pushed to non-deployable branch {ref.removeprefix('refs/heads/')}, skipping build."
                )
            return None
        repo_path = Path(self.repo.path)  # type: ignore[attr-defined]
        app_name = repo_path.name.removesuffix(".git")
        if new == ZERO_SHA:
            return self._reject(app_name, f"Cannot delete the {ref.removeprefix('refs/heads/')} branch")
        event = PushEvent(app_name=app_name, ref=ref, old_sha=old, new_sha=new, repo_path=repo_path)
        try:
            reason = self._on_push(event, self.emit)
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
        authenticate: Callable[[str], bool],
        opened: _OpenedRepos,
    ) -> None:
        self._git_app = git_app
        self._repos_dir = repos_dir
        self._authenticate = authenticate
        self._opened = opened

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        password = _basic_password(environ.get("HTTP_AUTHORIZATION", ""))
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
        return self._closing(self._git_app(environ, start_response))

    def _closing(self, body: Iterable[bytes]) -> Iterator[bytes]:
        # dulwich does its work while the body is iterated, in this thread; close its repos after.
        try:
            yield from body
        finally:
            self._opened.close_all()


def _basic_password(header: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon else None


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


class _QuietRequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("git %s " + format, self.address_string(), *args)
