"""api/shapes: the JSON shapes of the Platform API — apps, releases, slugs, builds, formation, dynos and the
simulated clock, as Heroku's API v3 shows them (plus a few fields of herokusim's own, named where they are).

Plain functions of data: the handlers read the store, the dyno manager and the clock, and pass what a shape
needs in. The CLI, the TUI and the tests read these shapes: a change here is a change of the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from herokusim.config import Settings
from herokusim.dynos.dyno import Dyno, sim_datetime
from herokusim.store.models import App, Build, Formation, Release, Slug


def stamp(when: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 to the second, in UTC with a `Z`."""
    return when.isoformat(timespec="seconds").replace("+00:00", "Z") if when is not None else None


def app_json(app: App, releases: list[Release], slug: Slug | None, settings: Settings, owner: str,
             runtime: str) -> dict[str, Any]:
    """`releases`: all of the app's, oldest first; `slug`: the one its newest release with a slug runs."""
    return {
        "id": app.id,
        "name": app.name,
        "stack": {"name": app.stack},
        "build_stack": {"name": app.stack},
        "region": {"name": app.region},
        "maintenance": app.maintenance,
        "web_url": settings.web_url(app.name),
        "git_url": settings.git_url(app.name),
        "owner": {"email": owner},
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "released_at": releases[-1].created_at if releases else None,
        "slug_size": slug.size if slug else None,
        "repo_size": None,
        "runtime": runtime,
    }


def releases_json(app: App, releases: list[Release], current: Release) -> list[dict[str, Any]]:
    """`current`: the release the app runs (its newest succeeded one)."""
    return [{
        "id": r.id,
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "current": r.id == current.id,
        "slug": {"id": r.slug_id} if r.slug_id else None,
        "addon_plan_names": [],  # herokusim has no add-ons yet
        "eligible_for_rollback": r.slug_id is not None,  # what `rollback` accepts
        "user": {"email": r.user_email},
        "app": {"id": app.id, "name": app.name},
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    } for r in releases]


def slug_json(slug: Slug) -> dict[str, Any]:
    return {
        "id": slug.id,
        "process_types": slug.process_types,
        "checksum": slug.checksum,
        "size": slug.size,
        "commit": slug.commit_sha,
        "stack": {"name": slug.stack},
        "buildpack_provided_description": slug.buildpack,
        "created_at": slug.created_at,
    }


def build_json(app: App, build: Build, api_url: str) -> dict[str, Any]:
    return {
        "id": build.id,
        "status": build.status,
        "buildpacks": [{"name": build.buildpack, "url": build.buildpack}] if build.buildpack else [],
        "slug": {"id": build.slug_id} if build.slug_id else None,
        "release": {"id": build.release_id} if build.release_id else None,
        "source_blob": {"version": build.commit_sha},
        "output_stream_url": f"{api_url}/apps/{app.name}/builds/{build.id}/result",
        "user": {"email": build.user_email},
        "created_at": build.created_at,
        "updated_at": build.updated_at,
    }


def formation_json(app: App, formation: Iterable[Formation]) -> list[dict[str, Any]]:
    return [{
        "id": f.id,
        "type": f.type,
        "quantity": f.quantity,
        "size": f.size,
        "command": f.command,
        "app": {"id": app.id, "name": app.name},
        "updated_at": f.updated_at,
    } for f in formation]


def dyno_json(app: App, d: Dyno, memory_quota_mb: float) -> dict[str, Any]:
    """`memory_quota_mb`: the quota of the dyno's size (DynoManager.memory_quota_mb)."""
    return {
        "id": d.id,
        "name": d.name,
        "type": d.type,
        "state": d.state,
        "command": d.command,
        "size": d.size,
        "release": {"id": d.release.id, "version": d.release.version},
        "app": {"id": app.id, "name": app.name},
        "attach_url": None,
        "created_at": stamp(d.created_at),
        "updated_at": stamp(d.state_since or d.created_at),
        # herokusim's own: what Heroku shows only in logs and `ps`, for the CLI and the TUI
        "state_since": stamp(d.state_since or d.created_at),
        "memory_mb": round(d.memory_mb, 1) if d.memory_mb is not None else None,
        "memory_quota_mb": memory_quota_mb,
        "crashes": d.crashes,
        "restart_at": stamp(sim_datetime(d.restart_at)),
        "cycle_at": stamp(sim_datetime(d.cycle_at)),
        "exit_status": d.exit_status,
    }


def dynos_json(app: App, dynos: Iterable[Dyno],
               memory_quota_mb: Callable[[Dyno], float]) -> list[dict[str, Any]]:
    return [dyno_json(app, d, memory_quota_mb(d)) for d in dynos]


def clock_json(now: datetime, time_scale: float, timers: int) -> dict[str, Any]:
    """herokusim's own: the simulated clock's time, its scale and how many timers wait on it."""
    return {"now": stamp(now), "time_scale": time_scale, "timers": timers}
