"""api/shapes: the JSON shapes of the Platform API — the account, apps, releases, slugs, builds, formation,
dynos, domains, the stack, the regions, buildpack installations, add-ons, their attachments, services and plans, with every field of Heroku's Platform API reference for that
resource (tests/schemas/ holds the reference as JSON Schemas; tests/test_api_schemas.py checks every endpoint
against them), plus a few fields of herokusim's own, named where they are, and the simulated clock.

Plain functions of data: the handlers read the store, the dyno manager and the clock, and pass what a shape
needs in. The CLI, the TUI and the tests read these shapes: a change here is a change of the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from herokusim.addons.provider import Plan, Service
from herokusim.config import STACK, Settings
from herokusim.dynos.dyno import Dyno, sim_datetime
from herokusim.store.models import Addon, App, Attachment, Build, Domain, Formation, Release, Slug

# The fixed things herokusim has one of (its user, its stack, its regions, dyno sizes, the platform
# generation) have ids derived from their names: the same uuid on every machine and every start, as
# Heroku's ids are stable. (The stack's id has been this derivation since herokusim first served it.)
GENERATION = "cedar"  # Heroku's classic platform, the one herokusim simulates (buildpacks and slugs)
# When the catalogue's entries (stack, regions) were "created": a fixed time, so that their shape never
# changes; herokusim does not know Heroku's own dates for them.
CATALOGUE_TIME = "2024-01-01T00:00:00Z"
# Heroku's Common Runtime regions, as `GET /regions` shows them (apps run in `us` unless told otherwise).
REGIONS: dict[str, dict[str, Any]] = {
    "us": {"description": "United States", "country": "United States", "locale": "Virginia",
           "provider": {"name": "amazon-web-services", "region": "us-east-1"}},
    "eu": {"description": "Europe", "country": "Ireland", "locale": "Dublin",
           "provider": {"name": "amazon-web-services", "region": "eu-west-1"}},
}


def stable_id(kind: str, name: str) -> str:
    """The uuid of a fixed thing of herokusim's, from its kind and name (uuid5: the same everywhere)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"herokusim:{kind}:{name}"))


STACK_ID = stable_id("stack", STACK)


def identity(kind: str, name: str) -> dict[str, str]:
    """A nested reference to a fixed thing, `{"id", "name"}`, as Heroku nests stacks, regions and sizes."""
    return {"id": stable_id(kind, name), "name": name}


def user_json(email: str) -> dict[str, str]:
    """A nested user (an app's owner, who made a release or build): `{"id", "email"}`."""
    return {"id": stable_id("user", email), "email": email}


def stamp(when: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 to the second, in UTC with a `Z`."""
    return when.isoformat(timespec="seconds").replace("+00:00", "Z") if when is not None else None


def account_json(email: str, created_at: str) -> dict[str, Any]:
    """herokusim's one user. `created_at`: when this home's database first served the account (stored)."""
    return {
        **user_json(email),
        "name": "herokusim",
        "allow_tracking": True,
        "beta": False,
        "federated": False,
        "identity_provider": None,
        "two_factor_authentication": False,
        "verified": True,
        "sms_number": None,
        "last_login": None,
        "suspended_at": None,
        "delinquent_at": None,
        "country_of_residence": None,
        "default_organization": None,
        "default_team": None,
        "created_at": created_at,
        "updated_at": created_at,  # nothing of the account can be changed
    }


def app_json(app: App, releases: list[Release], slug: Slug | None, settings: Settings, owner: str,
             runtime: str) -> dict[str, Any]:
    """`releases`: all of the app's, oldest first; `slug`: the one its newest release with a slug runs."""
    return {
        "id": app.id,
        "name": app.name,
        "stack": identity("stack", app.stack),
        "build_stack": identity("stack", app.stack),
        "region": identity("region", app.region),
        "generation": identity("generation", GENERATION),
        "maintenance": app.maintenance,
        "acm": False,
        "web_url": settings.web_url(app.name),
        "git_url": settings.git_url(app.name),
        "owner": user_json(owner),
        "organization": None,  # a personal app: no team, no Private Space
        "team": None,
        "space": None,
        "internal_routing": None,
        "archived_at": None,
        "buildpack_provided_description": slug.buildpack if slug else None,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "released_at": releases[-1].created_at if releases else None,
        "slug_size": slug.size if slug else None,
        "repo_size": None,
        # herokusim's own: where its dynos run, `process` or `docker`
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
        "artifacts": [{"type": "slug", "id": r.slug_id}] if r.slug_id else [],
        "addon_plan_names": [],  # herokusim has no add-ons yet
        "eligible_for_rollback": r.slug_id is not None,  # what `rollback` accepts
        "output_stream_url": None,  # a release phase's output goes to the push and the app's log
        "user": user_json(r.user_email),
        "app": {"id": app.id, "name": app.name},
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    } for r in releases]


def slug_json(slug: Slug, blob_url: str) -> dict[str, Any]:
    """`blob_url`: where the slug's tarball can be fetched (api/blobs.slug_blob_url)."""
    return {
        "id": slug.id,
        "process_types": slug.process_types,
        "checksum": slug.checksum,
        "size": slug.size,
        "commit": slug.commit_sha,
        "commit_description": None,
        "stack": identity("stack", slug.stack),
        "buildpack_provided_description": slug.buildpack,
        "blob": {"method": "GET", "url": blob_url},
        "created_at": slug.created_at,
        "updated_at": slug.created_at,  # a slug never changes once stored
    }


def build_json(app: App, build: Build, api_url: str, git_url: str = "") -> dict[str, Any]:
    """`git_url`: the app's git URL (settings.git_url), the source of a build a push made; a build from a
    tarball (POST /apps/{app}/builds) has its own source_blob_url."""
    source_url = build.source_blob_url or git_url
    return {
        "id": build.id,
        "status": build.status,
        "buildpacks": [{"name": build.buildpack, "url": build.buildpack}] if build.buildpack else [],
        "slug": {"id": build.slug_id} if build.slug_id else None,
        "release": {"id": build.release_id} if build.release_id else None,
        "source_blob": {"url": source_url, "checksum": None, "version": build.commit_sha,
                        "version_description": None},
        "stack": STACK,  # a plain name here, unlike an app's or a slug's stack
        "output_stream_url": f"{api_url}/apps/{app.name}/builds/{build.id}/result",
        "app": {"id": app.id},
        "user": user_json(build.user_email),
        "created_at": build.created_at,
        "updated_at": build.updated_at,
    }


def formation_json(app: App, formation: Iterable[Formation]) -> list[dict[str, Any]]:
    return [{
        "id": f.id,
        "type": f.type,
        "quantity": f.quantity,
        "size": f.size,
        "dyno_size": identity("dyno-size", f.size),
        "command": f.command,
        "app": {"id": app.id, "name": app.name},
        "created_at": f.created_at,
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


def default_domain_json(app: App, hostname: str) -> dict[str, Any]:
    """The app's default domain (`<app>.localhost`, kind `heroku`): implied, never stored."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{app.id}.{hostname}")),
        "hostname": hostname,
        "kind": "heroku",
        "cname": None,
        "status": "none",
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": None,
        "app": {"id": app.id, "name": app.name},
        "created_at": app.created_at,
        "updated_at": app.created_at,
    }


def domain_json(app: App, domain: Domain, cname: str) -> dict[str, Any]:
    """A custom domain; `cname`: where the name should point (the router, like the default domain)."""
    return {
        "id": domain.id,
        "hostname": domain.hostname,
        "kind": domain.kind,
        "cname": cname,
        "status": "succeeded",
        "acm_status": None,  # no certificates: the router speaks plain HTTP on loopback
        "acm_status_reason": None,
        "sni_endpoint": None,
        "app": {"id": app.id, "name": app.name},
        "created_at": domain.created_at,
        "updated_at": domain.created_at,
    }


def stack_json(image: dict[str, Any] | None) -> dict[str, Any]:
    """herokusim's one stack. `image`, herokusim's own: the Docker runtime's stack image and its state
    (null on the process runtime, which needs no image)."""
    return {"id": STACK_ID, "name": STACK, "state": "public", "default": True,
            "created_at": CATALOGUE_TIME, "updated_at": CATALOGUE_TIME, "image": image}


def region_json(name: str) -> dict[str, Any]:
    """One of REGIONS (herokusim runs every app on this machine, whatever its region says)."""
    return {**identity("region", name), **REGIONS[name], "private_capable": False,
            "created_at": CATALOGUE_TIME, "updated_at": CATALOGUE_TIME}


def buildpack_installation_json(ordinal: int, url: str, name: str) -> dict[str, Any]:
    """One buildpack set on an app: `ordinal` its place in the order they run (0 first), `name` its registry
    name (heroku/python) or, for any other, its URL."""
    return {"ordinal": ordinal, "buildpack": {"url": url, "name": name}}


# add-ons: services and plans are fixed things of herokusim's (stable ids from their names)
def _price(cents: int) -> dict[str, Any]:
    return {"cents": cents, "contract": False, "unit": "month"}


def addon_service_json(service: Service) -> dict[str, Any]:
    return {
        **identity("addon-service", service.name),
        "human_name": service.human_name,
        "cli_plugin_name": None,
        "state": "ga",
        "supports_multiple_installations": True,
        "supports_sharing": True,
        "supported_generations": [identity("generation", GENERATION)],
        "created_at": CATALOGUE_TIME,
        "updated_at": CATALOGUE_TIME,
    }


def plan_json(service: Service, plan: Plan) -> dict[str, Any]:
    full = f"{service.name}:{plan.name}"
    return {
        **identity("plan", full),
        "addon_service": identity("addon-service", service.name),
        "human_name": plan.human_name,
        "description": f"{service.human_name} {plan.human_name}",
        "default": plan.default,
        "price": _price(plan.price_cents),
        "compliance": None,
        "installable_inside_private_network": False,
        "installable_outside_private_network": True,
        "space_default": False,
        "state": "public",
        "visible": True,
        "created_at": CATALOGUE_TIME,
        "updated_at": CATALOGUE_TIME,
        # herokusim's own: what the provider enforces (connections, storage, memory)
        "limits": dict(plan.limits),
    }


def addon_json(addon: Addon, app: App, plan: Plan | None, config_vars: list[str]) -> dict[str, Any]:
    """`app`: the billing app; `config_vars`: the vars its attachments to that app export."""
    full = f"{addon.service}:{addon.plan}"
    return {
        "id": addon.id,
        "name": addon.name,
        "actions": [],
        "addon_service": identity("addon-service", addon.service),
        "billing_entity": {"id": app.id, "name": app.name, "type": "app"},
        "app": {"id": app.id, "name": app.name},
        "billed_price": _price(plan.price_cents if plan else 0),
        "config_vars": config_vars,
        "plan": identity("plan", full) | {"name": full},
        "provider_id": addon.provider_id,
        "state": addon.state,
        "web_url": None,  # no add-on dashboard in herokusim
        "created_at": addon.created_at,
        "updated_at": addon.updated_at,
    }


def attachment_json(attachment: Attachment, addon: Addon, billing: App, app: App) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "name": attachment.name,
        "addon": {"id": addon.id, "name": addon.name, "app": {"id": billing.id, "name": billing.name}},
        "app": {"id": app.id, "name": app.name},
        "namespace": None,
        "web_url": None,
        "log_input_url": None,
        "created_at": attachment.created_at,
        "updated_at": attachment.created_at,  # an attachment never changes
    }
