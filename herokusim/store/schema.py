"""store/schema: the sqlite schema, one migration per PRAGMA user_version step, and the step-by-step
migration of a database to the newest version."""

from __future__ import annotations

import aiosqlite

MIGRATIONS: list[str] = [
    # v1: the walking skeleton
    """
    CREATE TABLE apps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        stack TEXT NOT NULL,
        region TEXT NOT NULL,
        maintenance INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE slugs (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        checksum TEXT NOT NULL,
        size INTEGER NOT NULL,
        process_types TEXT NOT NULL,
        commit_sha TEXT,
        stack TEXT NOT NULL,
        buildpack TEXT,
        path TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        description TEXT NOT NULL,
        slug_id TEXT REFERENCES slugs(id),
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        user_email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (app_id, version)
    );
    CREATE TABLE builds (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        commit_sha TEXT,
        buildpack TEXT,
        output TEXT NOT NULL DEFAULT '',
        slug_id TEXT REFERENCES slugs(id),
        release_id TEXT REFERENCES releases(id),
        user_email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE formation (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        size TEXT NOT NULL,
        command TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (app_id, type)
    );
    CREATE TABLE dynos (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        command TEXT NOT NULL,
        size TEXT NOT NULL,
        release_id TEXT,
        runtime TEXT NOT NULL,
        handle TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE domains (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        hostname TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # v2: the simulated clock, so a restarted daemon goes on from where it was (one row)
    """
    CREATE TABLE clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        sim REAL NOT NULL,
        real REAL NOT NULL,
        scale REAL NOT NULL,
        running INTEGER NOT NULL
    );
    """,
    # v3: slugs made by POST /apps/{app}/slugs wait for their tarball (uploaded = 0 until it is PUT to the
    # blob URL; every slug before this was built here, so uploaded); builds from a source tarball (POST
    # /apps/{app}/builds) keep its URL and version
    """
    ALTER TABLE slugs ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE builds ADD COLUMN source_blob_url TEXT;
    ALTER TABLE builds ADD COLUMN source_blob_version TEXT;
    """,
    # v4: what the Platform API's shapes need and the store lacked: when a formation entry was created
    # (an older one gets its last change, the nearest known), and when the account was first served (one row)
    """
    ALTER TABLE formation ADD COLUMN created_at TEXT NOT NULL DEFAULT '';
    UPDATE formation SET created_at = updated_at WHERE created_at = '';
    CREATE TABLE account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        created_at TEXT NOT NULL
    );
    """,
    # v5: the buildpacks set on an app (buildpacks:set/add, PUT /apps/{app}/buildpack-installations), in the
    # order they run; none: the next build detects one, as on Heroku
    """
    CREATE TABLE buildpack_installations (
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (app_id, ordinal)
    );
    """,
    # v6: add-ons (billed to one app, served by a provider of addons/) and their attachments to apps, each
    # exporting the add-on's config under its name (DATABASE -> DATABASE_URL)
    """
    CREATE TABLE addons (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        service TEXT NOT NULL,
        plan TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        state TEXT NOT NULL,
        config TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE addon_attachments (
        id TEXT PRIMARY KEY,
        addon_id TEXT NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, name)
    );
    """,
    # v7: Heroku Postgres backups and restores (pg:backups; addons/pgbackups.py), numbered per app (b001,
    # a001 for scheduled ones, r001 for restores); a backup outlives its add-on (addon_id is no reference)
    # and goes with its app; daily backup schedules, one per database, go with the add-on
    """
    CREATE TABLE pg_transfers (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        num INTEGER NOT NULL,
        kind TEXT NOT NULL,
        scheduled INTEGER NOT NULL DEFAULT 0,
        addon_id TEXT NOT NULL,
        addon_name TEXT NOT NULL,
        from_name TEXT NOT NULL,
        to_name TEXT NOT NULL,
        status TEXT NOT NULL,
        warnings INTEGER NOT NULL DEFAULT 0,
        source_bytes INTEGER NOT NULL DEFAULT 0,
        processed_bytes INTEGER NOT NULL DEFAULT 0,
        path TEXT NOT NULL DEFAULT '',
        logs TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        UNIQUE (app_id, num)
    );
    CREATE TABLE pg_backup_schedules (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        addon_id TEXT NOT NULL UNIQUE REFERENCES addons(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        hour INTEGER NOT NULL,
        timezone TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # v8: Heroku Scheduler's jobs, each of an app and of the scheduler add-on it needs (destroying the add-on
    # or the app removes its jobs); `every` is 10m, 1h or 1d, `at` ':30' (hourly) or '02:00' (daily, UTC)
    """
    CREATE TABLE scheduler_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        addon_id TEXT NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
        command TEXT NOT NULL,
        every TEXT NOT NULL,
        at TEXT,
        dyno_size TEXT NOT NULL,
        last_run_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # v9: the classroom labs' progress (herokusim/labs/, api/labs_api.py): one row per lab started, with its
    # state (started, passed), its apps by role (JSON), the student's checkout and the last check's result
    """
    CREATE TABLE lab_progress (
        number INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        apps TEXT NOT NULL DEFAULT '{}',
        checkout TEXT,
        last_check TEXT,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
]


async def migrate(db: aiosqlite.Connection) -> None:
    """Bring the database at `db` from its PRAGMA user_version to the newest schema."""
    async with db.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()  # type: ignore[misc]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # one transaction per step, so a failed migration leaves the previous version intact
        statements = [s for s in script.split(";") if s.strip()]
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
