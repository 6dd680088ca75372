"""builds/service: from a pushed commit to a live release — export, compile the slug, store it, release; and
the same from a source tarball for `POST /apps/{app}/builds` (builds/source.py fetches and unpacks it).

Runs in the git server's handler thread (blocking work stays off the event loop); every store, log and
dyno action is handed to the daemon's loop.

A push is checked, built and released under its app's lock, and moves the repo's ref itself (checked)
just before the release, so the ref, the build and the release agree. A daemon killed mid-build leaves a
pending build, its build dir and maybe a partial slug and a moved ref: recover() at the next start puts
each back (the ref through the journal written before it moved) before any push is served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from herokusim.builds.compiler import LOCAL, BuildError, BuildHost, BuildpackDir, SlugResult, compile_slug
from herokusim.builds.resolve import CACHE_DIR_NAME, chosen_urls, resolve_buildpacks
from herokusim.builds.source import Source, fetch_source, unpack_source
from herokusim.config import STACK, Settings
from herokusim.git import ExportError, PushEvent, export_commit
from herokusim.logplex.hub import Logplex
from herokusim.releases import ReleaseLedger
from herokusim.store.models import App, Build, Release, Slug, new_id
from herokusim.store.sqlite import Store

T = TypeVar("T")
logger = logging.getLogger(__name__)
REJECTED = "pre-receive hook declined"
# The last output line of a build the daemon did not live to finish, as recover() found it.
INTERRUPTED = " !     The herokusim daemon stopped during this build; push again."
INTERRUPTED_RELEASED = "       The herokusim daemon stopped after this build was released."


class LiveOutput:
    """A running build's output for readers of its output_stream_url; touched only on the daemon's loop."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.done = False
        self._changed = asyncio.Event()

    def add(self, line: str) -> None:
        self.lines.append(line)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self) -> AsyncIterator[list[str]]:
        """The lines so far, then each new batch, until the build ends."""
        sent = 0
        while True:
            changed = self._changed
            if sent < len(self.lines):
                batch, sent = self.lines[sent:], len(self.lines)
                yield batch
            elif self.done:
                return
            else:
                await changed.wait()


class BuildService:
    def __init__(self, settings: Settings, store: Store, logplex: Logplex, ledger: ReleaseLedger,
                 loop: asyncio.AbstractEventLoop, user: str, host: BuildHost = LOCAL) -> None:
        self.settings = settings
        self.host = host  # where buildpacks run: here, or in a build container on the Docker runtime
        self.store = store
        self.logplex = logplex
        self.ledger = ledger
        self.loop = loop
        self.user = user
        self.live: dict[str, LiveOutput] = {}  # build id -> output of a build still running
        self._app_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._recovered = threading.Event()  # pushes wait for recover(): the git server starts before it

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _api_log(self, app_id: str, message: str) -> None:
        self.loop.call_soon_threadsafe(self.logplex.publish, app_id, "app", "api", message)

    def app_lock(self, app_id: str) -> threading.Lock:
        """The lock one build of the app holds from start to release (pushes and API builds alike)."""
        with self._locks_guard:
            return self._app_locks.setdefault(app_id, threading.Lock())

    @asynccontextmanager
    async def holding(self, app_id: str) -> AsyncIterator[None]:
        """Hold the app's build lock from the loop (apps:rename: no build is between its steps meanwhile).
        Taken before `Store.app_writes`, in the order a build takes them."""
        lock = self.app_lock(app_id)
        taking = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:
            taking.add_done_callback(lambda _: lock.release())  # the thread gets it anyway: give it back
            raise
        try:
            yield
        finally:
            lock.release()

    def handle_push(self, event: PushEvent, emit: Callable[[str], None]) -> str | None:
        """The git server's push hook: build and release, or return why the push is rejected."""
        self._recovered.wait()
        app = self._call(self.store.get_app(event.app_name))
        if app is None:
            emit(f" !     No such app as {event.app_name}.")
            return REJECTED
        with self.app_lock(app.id):  # one build at a time per app, as on Heroku
            now = self._call(self.store.get_app(app.id))
            if now is not None and now.name != event.app_name:  # apps:rename went first
                emit(f" !     {event.app_name} was renamed to {now.name} during this push: push to "
                     f"{self.settings.git_url(now.name)}.")
                return REJECTED
            # The client read the ref before it waited for the lock: if a push moved it since, building
            # this one would release a commit the repo's main is not.
            return event.stale() or self._build(event, emit)

    def _build(self, event: PushEvent, emit: Callable[[str], None]) -> str | None:
        app = self._call(self.store.get_app(event.app_name))
        if app is None:
            emit(f" !     No such app as {event.app_name}.")
            return REJECTED
        build = self._call(self.store.create_build(app.id, event.new_sha, self.user))
        self._api_log(app.id, f"Build started by user {self.user}")
        live = self.live[build.id] = LiveOutput()
        output: list[str] = []

        def out(line: str) -> None:
            output.append(line)
            emit(line)
            self.loop.call_soon_threadsafe(live.add, line)

        try:
            return self._compile_and_release(app, build, event, out, output)
        except Exception:
            # apps:destroy does not wait for a build (it would hold the app's lock for as long): a build whose
            # app went under it fails on whatever went first, its slug dir, its repo or its release
            if self._call(self.store.get_app(app.id)) is not None:
                raise
            out(f" !     {event.destroyed()}")
            # what the build wrote after apps:destroy removed the app's files (its cache, its slug dir)
            self.remove_app_files(app.id)
            return REJECTED
        finally:
            self.loop.call_soon_threadsafe(self._finish_live, build.id)

    async def build_from_source(self, app: App, source: Source, version: str | None) -> Build:
        """`POST /apps/{app}/builds`: a pending build at once; fetch, unpack, compile and release follow in
        a thread, after any build of the app before it, with the output on the build's output_stream_url."""
        build = await self.store.create_build(app.id, version, self.user, source.url, version)
        self.live[build.id] = LiveOutput()
        threading.Thread(target=self._source_build, args=(app, build, source), name=f"build {app.name}",
                         daemon=True).start()
        return build

    def _source_build(self, app: App, build: Build, source: Source) -> None:
        live = self.live[build.id]
        output: list[str] = []

        def out(line: str) -> None:
            output.append(line)
            self.loop.call_soon_threadsafe(live.add, line)

        try:
            self._recovered.wait()
            with self.app_lock(app.id):
                current = self._call(self.store.get_app(app.id))  # its name now: a rename may have gone first
                if current is None:
                    return
                self._api_log(app.id, f"Build started by user {self.user}")
                self._build_source(current, build, source, out, output)
        except Exception:
            if self._call(self.store.get_app(app.id)) is None:  # destroyed under the build: nothing to record
                return
            logger.exception("build %s of %s failed", build.id, app.name)
            out(" !     Build failed: herokusim hit an internal error (see the daemon's output).")
            self._call(self.store.finish_build(build.id, "failed", "\n".join(output)))
        finally:
            self.loop.call_soon_threadsafe(self._finish_live, build.id)

    def _build_source(self, app: App, build: Build, source: Source, out: Callable[[str], None],
                      output: list[str]) -> None:
        slug_id, slug_path, cache_dir = self._prepare(app)
        try:
            config = self._call(self.store.latest_config(app.id))
            with tempfile.TemporaryDirectory(dir=self.settings.builds_dir) as tmp:
                tarball = Path(tmp) / "source"
                fetch_source(source, tarball)
                build_dir = unpack_source(tarball, Path(tmp) / "build")
                tarball.unlink()
                result = self._compile(app, config, build_dir, slug_path, cache_dir, out, build.commit_sha)
        except BuildError as exc:
            out(f" !     {exc}")
            out(" !     Build failed")
            slug_path.unlink(missing_ok=True)
            self._call(self.store.finish_build(build.id, "failed", "\n".join(output)))
            self._api_log(app.id, "Build failed -- check your build output")
            return
        except BaseException:
            slug_path.unlink(missing_ok=True)
            raise
        slug = self._call(self.store.create_slug(
            app.id, result.checksum, result.size, result.process_types, build.commit_sha, STACK,
            result.buildpack, str(slug_path), slug_id=slug_id))
        release = self._release(app, slug, has_phase="release" in result.process_types, out=out)
        self._call(self.store.finish_build(build.id, "succeeded", "\n".join(output), result.buildpack,
                                           slug.id, release.id))
        self._api_log(app.id, "Build succeeded")

    def _prepare(self, app: App) -> tuple[str, Path, Path]:
        """A new slug's id and path, and the app's cache dir (emptied first if a purge was asked for)."""
        slug_id = new_id()
        slug_path = self.settings.slugs_dir / app.id / f"{slug_id}.tar.gz"
        slug_path.parent.mkdir(parents=True, exist_ok=True)
        self._purge_if_requested(app.id)  # builds:cache:purge during the last build: this one starts empty
        cache_dir = self.settings.cache_dir / app.id
        cache_dir.mkdir(parents=True, exist_ok=True)
        return slug_id, slug_path, cache_dir

    def _compile(self, app: App, config: dict[str, str], build_dir: Path, slug_path: Path, cache_dir: Path,
                 out: Callable[[str], None], version: str | None) -> SlugResult:
        """The app's buildpacks over `build_dir`, its slug at `slug_path` (a push's and a source build's)."""
        return compile_slug(build_dir, slug_path=slug_path, cache_dir=cache_dir, config=config, emit=out,
                            buildpacks=self._buildpacks(app, config, build_dir, out), host=self.host,
                            timeout=self.settings.build_timeout, source_version=version)

    def _buildpacks(self, app: App, config: dict[str, str], build_dir: Path, out: Callable[[str], None]
                    ) -> list[BuildpackDir] | None:
        """The buildpacks this build runs, fetched (builds/resolve.py); None: detect a built-in one."""
        urls = chosen_urls(self._call(self.store.list_buildpacks(app.id)), config, build_dir)
        if urls is None:
            return None
        return resolve_buildpacks(urls, self.settings.home / CACHE_DIR_NAME, out)

    def _finish_live(self, build_id: str) -> None:
        live = self.live.pop(build_id, None)
        if live is not None:
            live.finish()

    def _compile_and_release(self, app: App, build: Build, event: PushEvent, out: Callable[[str], None],
                             output: list[str]) -> str | None:
        slug_id, slug_path, cache_dir = self._prepare(app)
        try:
            config = self._call(self.store.latest_config(app.id))
            with tempfile.TemporaryDirectory(dir=self.settings.builds_dir) as tmp:
                source = Path(tmp) / "build"
                export_commit(event.repo_path, event.new_sha, source)
                result = self._compile(app, config, source, slug_path, cache_dir, out, event.new_sha)
        except (BuildError, ExportError) as exc:  # ExportError: a commit git cannot check out
            out(f" !     {exc}")
            out(" !     Push rejected, failed to compile app.")
            out(" !     Push failed")
            slug_path.unlink(missing_ok=True)
            self._call(self.store.finish_build(build.id, "failed", "\n".join(output)))
            self._api_log(app.id, "Build failed -- check your build output")
            return REJECTED
        except BaseException:
            slug_path.unlink(missing_ok=True)
            self._call(self.store.finish_build(build.id, "failed", "\n".join(output)))
            raise
        slug = self._call(self.store.create_slug(
            app.id, result.checksum, result.size, result.process_types, event.new_sha, STACK,
            result.buildpack, str(slug_path), slug_id=slug_id))
        journal = self._write_journal(build, event, slug.id)
        moved = event.move_ref()
        if moved is not None:
            journal.unlink()
            out(f" !     {moved}")
            self._call(self.store.finish_build(build.id, "failed", "\n".join(output)))
            self._api_log(app.id, "Build failed -- check your build output")
            return REJECTED
        try:
            release = self._release(app, slug, has_phase="release" in result.process_types, out=out)
        except BaseException:
            # Whatever failed, the ref goes back unless the release went out anyway.
            self._call(self._settle(app, build.id, output, journal))
            raise
        self._call(self.store.finish_build(build.id, "succeeded", "\n".join(output), result.buildpack,
                                           slug.id, release.id))
        journal.unlink()
        self._api_log(app.id, "Build succeeded")
        return None

    def _release(self, app: App, slug: Slug, has_phase: bool, out: Callable[[str], None]) -> Release:
        out("-----> Launching...")
        phase_lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        if has_phase:
            out(" !     Release command declared: this new release will not be available until the command "
                "succeeds.")
        release = self._call(self.ledger.deploy(app, slug, self.user, on_line=phase_lines.put))
        out(f"       Released v{release.version}")
        out(f"       {self.settings.web_url(app.name)} deployed to herokusim")
        out("Verifying deploy... done.")
        if has_phase:
            self._follow_release_phase(release.id, phase_lines, out)
        return release

    def _journal_path(self, build_id: str) -> Path:
        return self.settings.builds_dir / f"{build_id}.deploy.json"

    def _write_journal(self, build: Build, event: PushEvent, slug_id: str) -> Path:
        """What recover() needs to undo the ref move if the daemon dies before the build is finished."""
        path = self._journal_path(build.id)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"app_name": event.app_name, "ref": event.ref, "old_sha": event.old_sha,
                                       "new_sha": event.new_sha, "slug_id": slug_id}))
        os.replace(partial, path)  # whole or absent, whenever the daemon dies
        return path

    async def recover(self) -> None:
        """At start, before any push: finish what a killed daemon left of its builds, then serve pushes.

        A pending build whose slug was released (the release succeeded) is marked succeeded; any other is
        marked failed and its ref moved back. Build dirs and slug files no slug record names go.
        """
        try:
            for app in await self.store.list_apps():
                for build in await self.store.list_builds(app.id):
                    if build.status == "pending":
                        output = build.output.splitlines()  # empty: output is stored when a build ends
                        await self._settle(app, build.id, output, self._journal_path(build.id), interrupted=True)
                # By file name: the home may be spelled differently from the run that recorded the paths.
                known = {Path(path).name for path in await self.store.slug_paths(app.id)}
                await asyncio.to_thread(_remove_unknown_slugs, self.settings.slugs_dir / app.id, known)
            await asyncio.to_thread(_empty_dir, self.settings.builds_dir)
        finally:
            self._recovered.set()

    async def _settle(self, app: App, build_id: str, output: list[str], journal: Path,
                      interrupted: bool = False) -> None:
        """End a build that did not finish: succeeded if its slug's release went out, else failed with
        its ref back where the client saw it. `interrupted`: the daemon died under it (a line says so)."""
        try:
            entry = json.loads(await asyncio.to_thread(journal.read_text))
        except FileNotFoundError:
            entry = None  # it stopped before the ref moved: nothing to undo
        if entry is not None:
            released = [r for r in await self.store.list_releases(app.id)
                        if r.slug_id == entry["slug_id"] and r.status == "succeeded"]
            if released:
                lines = [*output, INTERRUPTED_RELEASED] if interrupted else output
                await self.store.finish_build(build_id, "succeeded", "\n".join(lines), None, entry["slug_id"],
                                              released[-1].id)
                await asyncio.to_thread(journal.unlink)
                return
            event = PushEvent(app_name=app.name, ref=entry["ref"], old_sha=entry["old_sha"],
                              new_sha=entry["new_sha"], repo_path=self.settings.repos_dir / f"{app.name}.git")
            await asyncio.to_thread(event.restore_ref)
            await asyncio.to_thread(journal.unlink)
        lines = [*output, INTERRUPTED] if interrupted else output
        await self.store.finish_build(build_id, "failed", "\n".join(lines))

    def _follow_release_phase(self, release_id: str, lines: queue.SimpleQueue[str],
                              out: Callable[[str], None]) -> None:
        """Stream the release phase's output to the push as it runs, then say how it ended."""
        out("Running release command...")
        done = asyncio.run_coroutine_threadsafe(self.ledger.wait_release_phase(release_id), self.loop)
        while True:
            try:
                out(lines.get(timeout=0.1))
                continue
            except queue.Empty:
                pass
            if done.done():
                break
        status = done.result()
        if status == 0:
            out("Waiting for release.... done.")
        else:
            out("Waiting for release.... failed.")  # as on Heroku, nothing follows: `releases` shows why

    def remove_app_files(self, app_id: str) -> None:
        """apps:destroy: the app's slugs and build cache go with it."""
        shutil.rmtree(self.settings.slugs_dir / app_id, ignore_errors=True)
        shutil.rmtree(self.settings.cache_dir / app_id, ignore_errors=True)
        self._purge_mark(app_id).unlink(missing_ok=True)

    async def purge_cache(self, app_id: str) -> None:
        """`DELETE /apps/{app}/build-cache` (builds:cache:purge): the app's next build starts with an empty
        CACHE_DIR. Emptied now when no build of the app runs; a running build keeps the cache it is using and
        the next build empties it before it starts (a mark on disk, so a daemon restart keeps the request)."""
        await asyncio.to_thread(self._request_purge, app_id)

    def _purge_mark(self, app_id: str) -> Path:
        return self.settings.cache_dir / f"{app_id}.purge"

    def _request_purge(self, app_id: str) -> None:
        mark = self._purge_mark(app_id)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        lock = self.app_lock(app_id)
        if lock.acquire(blocking=False):  # no build of the app is running: empty it now
            try:
                self._purge_if_requested(app_id)
            finally:
                lock.release()

    def _purge_if_requested(self, app_id: str) -> None:
        """Under the app's build lock: empty the cache if a purge was asked for since the last build."""
        mark = self._purge_mark(app_id)
        if mark.exists():
            shutil.rmtree(self.settings.cache_dir / app_id, ignore_errors=True)
            mark.unlink(missing_ok=True)


def _remove_unknown_slugs(app_slugs: Path, known: set[str]) -> None:
    """Slug files no slug record names: what a killed build was still writing."""
    if app_slugs.is_dir():
        for path in app_slugs.iterdir():
            if path.name not in known:
                path.unlink(missing_ok=True)


def _empty_dir(path: Path) -> None:
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
