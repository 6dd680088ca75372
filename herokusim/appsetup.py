"""appsetup: app setups (`POST /app-setups`, Heroku's App Setup API) — an app created from a source tarball and
the `app.json` manifest in it, then configured, built, scaled and post-deployed, as Heroku's "Deploy to Heroku"
button does.

Checked before anything is made (a bad manifest or body changes nothing, 422 naming the field): the body, the
tarball (fetched and unpacked once to read app.json), app.json itself, add-ons (each plan must be one this
herokusim serves; the body's herokusim-only `"skip_addons": true` sets up without them), dyno sizes, and
every required config var (given by `overrides.env`, a value, or `generator: "secret"`). Then, answered at
once as `pending`, in the background: the app, its config vars (one release), its add-ons (provisioned through
the add-on room, each an `Attach` release, before the build so their vars are there), its buildpacks (through
`PUT /apps/{app}/buildpack-installations`), the build from the same tarball (builds/service.py's source
build), the formation from app.json, and `scripts.postdeploy` once in a one-off dyno (its output in the app's
log as `app[run.NNNN]`, and in the setup's `postdeploy`). Any failure there ends the setup `failed` with its
`failure_message`; the app stays, as on Heroku.

Setups are kept in memory: `GET /app-setups/{id}` answers until the daemon stops.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

from herokusim.appjson import AppJsonError, Manifest, parse_manifest
from herokusim.builds.compiler import BuildError
from herokusim.builds.source import Source, check_source_url, fetch_source, unpack_source
from herokusim.errors import InvalidParams, NotFound, PlatformError
from herokusim.releases import validate_config
from herokusim.store.models import App, new_id

if TYPE_CHECKING:
    from herokusim.platform import Platform

log = logging.getLogger(__name__)
BUILD_POLL = 0.25  # seconds between looks at the build's status
MAX_FAILURE = 2000


@dataclass
class AppSetup:
    id: str
    app_id: str
    app_name: str
    created_at: str
    updated_at: str
    status: str = "pending"  # pending | succeeded | failed
    failure_message: str | None = None
    manifest_errors: list[str] = field(default_factory=list)
    build_id: str | None = None
    postdeploy: dict[str, Any] | None = None
    resolved_success_url: str | None = None


def read_manifest(source: Source, scratch: Path) -> Manifest:
    """app.json from the source tarball (blocking: for a thread); an empty manifest when it has none."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        tarball = Path(tmp) / "source"
        fetch_source(source, tarball)
        root = unpack_source(tarball, Path(tmp) / "app")
        path = root / "app.json"
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise AppJsonError("must be a regular file in the app's root")
        if not path.exists():
            return Manifest()
        return parse_manifest(path.read_bytes())


def _env_overrides(overrides: Any) -> dict[str, str]:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise InvalidParams('overrides must be an object: {"env": {"NAME": "value"}}.')
    env = overrides.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InvalidParams('overrides.env must be an object of strings: {"NAME": "value"}.')
    return {k: v for k, v in validate_config(env).items() if v is not None}


class AppSetups:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.setups: dict[str, AppSetup] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, setup_id: str) -> AppSetup:
        setup = self.setups.get(setup_id)
        if setup is None:
            raise NotFound(f"Couldn't find that app setup ({setup_id}).")
        return setup

    async def create(self, body: dict[str, Any]) -> AppSetup:
        platform = self.platform
        app_spec = body.get("app") or {}
        if not isinstance(app_spec, dict):
            raise InvalidParams('app must be an object: {"app": {"name": "my-app"}}.')
        name = app_spec.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidParams("app.name must be a string.")
        blob = body.get("source_blob")
        if not isinstance(blob, dict):
            raise InvalidParams('source_blob is required: {"source_blob": {"url": "file:///path/app.tgz"}}.')
        source = check_source_url(blob.get("url"))
        env = _env_overrides(body.get("overrides"))
        skip_addons = body.get("skip_addons", False)
        if not isinstance(skip_addons, bool):
            raise InvalidParams("skip_addons must be true or false.")
        try:
            manifest = await asyncio.to_thread(read_manifest, source, platform.settings.builds_dir)
        except AppJsonError as exc:
            raise InvalidParams(str(exc)) from None
        except BuildError as exc:
            raise InvalidParams(f"source_blob: {exc}.") from None
        if skip_addons:
            manifest.addon_specs = []
        for index, spec in enumerate(manifest.addon_specs):
            try:
                platform.addons.resolve_plan(spec.plan)
            except InvalidParams as exc:
                raise InvalidParams(f"app.json: addons[{index}]: {exc.message}") from None
        for ptype, process in manifest.formation.items():
            if process.size is not None:
                try:
                    platform.dyno_size(process.size)
                except InvalidParams as exc:
                    raise InvalidParams(f"app.json: formation.{ptype}.size: {exc.message}") from None
        config, missing = manifest.resolve_env(env)
        if missing:
            names = ", ".join(var.name for var in missing)
            raise InvalidParams(f"app.json: config var{'s' if len(missing) > 1 else ''} {names} "
                                f"{'are' if len(missing) > 1 else 'is'} required: give "
                                f"{'them' if len(missing) > 1 else 'it'} in overrides.env (env.{missing[0].name} "
                                "has no value or generator).")
        validate_config(config)
        app = await platform.create_app(name)
        now = platform.store.now()
        setup = AppSetup(new_id(), app.id, app.name, now, now)
        self.setups[setup.id] = setup
        task = asyncio.create_task(self._run(setup, app, manifest, config, source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return setup

    def _end(self, setup: AppSetup, status: str, failure: str | None = None) -> None:
        setup.status = status
        setup.failure_message = failure[:MAX_FAILURE] if failure else None
        setup.updated_at = self.platform.store.now()
        if failure:
            self.platform.logplex.publish(setup.app_id, "app", "api", f"App setup failed: {failure}")

    async def _run(self, setup: AppSetup, app: App, manifest: Manifest, config: dict[str, str],
                   source: Source) -> None:
        platform = self.platform
        try:
            if config:
                await platform.ledger.set_config(app, config, platform.user)
            for index, spec in enumerate(manifest.addon_specs):
                try:
                    await platform.addons.create(app, spec.plan, as_name=spec.as_name, options=spec.options)
                except PlatformError as exc:
                    raise PlatformError(f"app.json: addons[{index}] ({spec.plan}): {exc.message}") from None
            if manifest.buildpacks:
                await self._set_buildpacks(app, manifest.buildpacks)
            build = await platform.builds.build_from_source(app, source, None)
            setup.build_id = build.id
            setup.updated_at = platform.store.now()
            while build.status == "pending":
                await asyncio.sleep(BUILD_POLL)
                found = await platform.store.get_build(app.id, build.id)
                if found is None:
                    raise PlatformError("the app was destroyed during its setup")
                build = found
            if build.status != "succeeded":
                self._end(setup, "failed", "the build failed: see its output (output_stream_url)")
                return
            await self._scale(app, manifest)
            if manifest.postdeploy:
                code = await self._postdeploy(setup, app, manifest.postdeploy)
                if code != 0:
                    self._end(setup, "failed", f"postdeploy script `{manifest.postdeploy}` exited with status {code}")
                    return
            if manifest.success_url:
                setup.resolved_success_url = urljoin(platform.settings.web_url(app.name), manifest.success_url)
            self._end(setup, "succeeded")
        except PlatformError as exc:
            self._end(setup, "failed", exc.message)
        except Exception:
            log.exception("app setup %s of %s failed", setup.id, app.name)
            self._end(setup, "failed", "herokusim hit an internal error (see the daemon's output)")

    async def _set_buildpacks(self, app: App, urls: list[str]) -> None:
        """Through the API's own endpoint, as a client sets them (`buildpacks:set`)."""
        settings = self.platform.settings
        body = {"updates": [{"buildpack": url} for url in urls]}
        headers = {"Authorization": f"Bearer {self.platform.token}",
                   "Accept": "application/vnd.heroku+json; version=3"}
        async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
            reply = await client.put(f"{settings.api_url}/apps/{app.id}/buildpack-installations", json=body,
                                     headers=headers)
        if reply.status_code == 404 and "endpoint" in reply.text:
            raise PlatformError("app.json: buildpacks cannot be set: this herokusim has no "
                                "/apps/{app}/buildpack-installations endpoint")
        if reply.status_code >= 400:
            try:
                message = reply.json().get("message") or reply.text
            except ValueError:
                message = reply.text
            raise PlatformError(f"app.json: buildpacks: {message}")

    async def _scale(self, app: App, manifest: Manifest) -> None:
        if not manifest.formation:
            return
        known = {f.type for f in await self.platform.store.list_formation(app.id)}
        unknown = [t for t in manifest.formation if t not in known]
        if unknown:
            raise PlatformError(f"app.json: formation.{unknown[0]}: the app has no {unknown[0]} process type "
                                f"(its Procfile has {', '.join(sorted(known)) or 'none'})")
        updates = [{"type": ptype, "quantity": p.quantity, "size": p.size}
                   for ptype, p in manifest.formation.items()]
        await self.platform.scale(app, updates)

    async def _postdeploy(self, setup: AppSetup, app: App, command: str) -> int:
        platform = self.platform
        platform.logplex.publish(app.id, "app", "api", f"Running postdeploy script `{command}` "
                                                        f"by user {platform.user}")
        lines: list[str] = []
        dyno = await platform.dynos.run(app.id, command, platform.user)
        dyno.on_line = lines.append  # before its task runs: nothing of its output is missed
        await dyno.exited.wait()
        if dyno.task is not None:
            await asyncio.shield(dyno.task)
        code = dyno.exit_status if dyno.exit_status is not None else 1
        setup.postdeploy = {"output": "\n".join(lines), "exit_code": code}
        setup.updated_at = platform.store.now()
        return code

    async def to_json(self, setup: AppSetup) -> dict[str, Any]:
        platform = self.platform
        app = await platform.store.get_app(setup.app_id)
        name = app.name if app is not None else setup.app_name
        build = None
        if setup.build_id is not None:
            record = await platform.store.get_build(setup.app_id, setup.build_id)
            status = record.status if record is not None else "failed"
            build = {"id": setup.build_id, "status": status,
                     "output_stream_url": f"{platform.settings.api_url}/apps/{name}/builds/{setup.build_id}/result"}
        return {
            "id": setup.id,
            "app": {"id": setup.app_id, "name": name},
            "build": build,
            "status": setup.status,
            "failure_message": setup.failure_message,
            "manifest_errors": list(setup.manifest_errors),
            "postdeploy": setup.postdeploy,
            "resolved_success_url": setup.resolved_success_url,
            "created_at": setup.created_at,
            "updated_at": setup.updated_at,
        }
