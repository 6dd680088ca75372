"""store/models: the records herokusim keeps — apps, slugs, releases, builds, formation, dynos and domains —
as frozen dataclasses, and the ids they are known by. Plain data: the store reads and writes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class App:
    id: str
    name: str
    stack: str
    region: str
    maintenance: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Slug:
    id: str
    app_id: str
    checksum: str | None  # None: a slug made by POST /slugs without one, not uploaded yet
    size: int | None  # None until its tarball is uploaded
    process_types: dict[str, str]
    commit_sha: str | None
    stack: str
    buildpack: str | None
    path: str
    created_at: str
    uploaded: bool = True  # False: made by POST /slugs, its tarball not PUT to its blob URL yet


@dataclass(frozen=True)
class Release:
    id: str
    app_id: str
    version: int
    description: str
    slug_id: str | None
    config: dict[str, str]
    status: str  # pending | succeeded | failed
    user_email: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Build:
    id: str
    app_id: str
    status: str  # pending | succeeded | failed
    commit_sha: str | None
    buildpack: str | None
    output: str
    slug_id: str | None
    release_id: str | None
    user_email: str
    created_at: str
    updated_at: str
    source_blob_url: str | None = None  # a build of POST /builds from a tarball (None: a git push)
    source_blob_version: str | None = None


@dataclass(frozen=True)
class Formation:
    id: str
    app_id: str
    type: str
    quantity: int
    size: str
    command: str
    updated_at: str
    created_at: str


@dataclass(frozen=True)
class DynoRecord:
    id: str
    app_id: str
    name: str
    type: str
    state: str
    command: str
    size: str
    release_id: str | None
    runtime: str
    handle: str  # the runtime's way to find the dyno again after a daemon crash (a pgid, a container id)
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Domain:
    """A custom hostname routed to an app (the default `<app>.localhost` is implied, not stored)."""

    id: str
    app_id: str
    hostname: str
    kind: str  # custom
    created_at: str


@dataclass(frozen=True)
class Addon:
    """An add-on: billed to `app_id`, served by the provider of `service`, which knows it by `provider_id`;
    `config` is what provisioning exported, by suffix ({"URL": "postgres://..."})."""

    id: str
    name: str  # postgresql-curved-12345
    app_id: str
    service: str  # heroku-postgresql
    plan: str  # essential-0 (the short name)
    provider_id: str
    state: str  # provisioning | provisioned | deprovisioned
    config: dict[str, str]
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Attachment:
    """An add-on attached to an app under a name: the app's config gets NAME_<suffix> for each of the add-on's
    config suffixes (DATABASE -> DATABASE_URL)."""

    id: str
    addon_id: str
    app_id: str
    name: str
    created_at: str


@dataclass(frozen=True)
class PgTransfer:
    """A Heroku Postgres backup (kind `backup`: b001, or a001 when `scheduled`) or restore (`restore`: r001)
    of one app (addons/pgbackups.py). `status`: running | completed | failed; `logs`: [{created_at, message}]."""

    id: str
    app_id: str
    num: int
    kind: str
    scheduled: bool
    addon_id: str
    addon_name: str
    from_name: str  # a backup's database (DATABASE), a restore's backup (b001 or app::b001)
    to_name: str  # a backup's name (b001), a restore's database
    status: str
    warnings: int
    source_bytes: int
    processed_bytes: int
    path: str
    logs: list[dict[str, str]]
    created_at: str
    started_at: str | None
    finished_at: str | None

    @property
    def name(self) -> str:
        prefix = "r" if self.kind == "restore" else "a" if self.scheduled else "b"
        return f"{prefix}{self.num:03d}"


@dataclass(frozen=True)
class PgSchedule:
    """Daily backups of one database at `hour`:00 in `timezone` (pg:backups:schedule); `name`: DATABASE_URL."""

    id: str
    app_id: str
    addon_id: str
    name: str
    hour: int
    timezone: str
    created_at: str


@dataclass(frozen=True)
class SchedulerJob:
    """A Heroku Scheduler job: `command` in a `scheduler.NNNN` one-off dyno of `dyno_size`, `every` 10m, 1h or 1d,
    `at` the minute of the hour (`:30`) or the UTC time of the day (`02:00`); addons/scheduler.py runs it."""

    id: int
    app_id: str
    addon_id: str  # the app's scheduler add-on
    command: str
    every: str
    at: str | None
    dyno_size: str
    last_run_at: str | None
    created_at: str
    updated_at: str
