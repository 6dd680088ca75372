"""The Platform API answers in Heroku's documented shapes: every endpoint herokusim serves is driven against a
real daemon, and each JSON answer is validated against its resource's JSON Schema in tests/schemas/ (written
from Heroku's Platform API reference; herokusim's own resources have herokusim-*.json). A strict third-party
client decodes these shapes and rejects an answer that lacks a required field: so does this test.

A new endpoint must come with its schema: test_every_route_has_a_schema fails for a route that is neither in
COVERED nor, for a non-JSON answer, in NOT_JSON."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import sqlite3
import tarfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
from conftest import FIXTURES, Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for
from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = Path(__file__).parent / "schemas"
APP = "schema-app"

# Every route of the API (method, aiohttp's path template) -> the schema of its JSON answer; "[name]" is a
# list of name. test_every_route_has_a_schema checks this against the application's router.
COVERED: dict[tuple[str, str], str] = {
    ("GET", "/account"): "account",
    ("GET", "/account/rate-limits"): "account-rate-limit",
    ("GET", "/apps"): "[app]",
    ("POST", "/apps"): "app",
    ("GET", "/apps/{app}"): "app",
    ("PATCH", "/apps/{app}"): "app",
    ("DELETE", "/apps/{app}"): "app",
    ("GET", "/apps/{app}/config-vars"): "config-vars",
    ("PATCH", "/apps/{app}/config-vars"): "config-vars",
    ("GET", "/apps/{app}/releases"): "[release]",
    ("GET", "/apps/{app}/releases/{release}"): "release",
    ("GET", "/apps/{app}/releases/{release}/config-vars"): "config-vars",
    ("POST", "/apps/{app}/releases"): "release",
    ("GET", "/apps/{app}/slugs/{slug}"): "slug",
    ("POST", "/apps/{app}/slugs"): "slug",
    ("POST", "/apps/{app}/builds"): "build",
    ("GET", "/apps/{app}/builds"): "[build]",
    ("GET", "/apps/{app}/builds/{build}"): "build",
    ("GET", "/apps/{app}/buildpack-installations"): "[buildpack-installation]",
    ("PUT", "/apps/{app}/buildpack-installations"): "[buildpack-installation]",
    ("GET", "/apps/{app}/formation"): "[formation]",
    ("GET", "/apps/{app}/formation/{type}"): "formation",
    ("PATCH", "/apps/{app}/formation"): "[formation]",
    ("PATCH", "/apps/{app}/formation/{type}"): "formation",
    ("GET", "/apps/{app}/dynos"): "[dyno]",
    ("GET", "/apps/{app}/dynos/{dyno}"): "dyno",
    ("POST", "/apps/{app}/dynos"): "dyno",
    ("DELETE", "/apps/{app}/dynos"): "dyno-action",
    ("DELETE", "/apps/{app}/dynos/{dyno}"): "dyno-action",
    ("POST", "/apps/{app}/dynos/{dyno}/actions/stop"): "dyno",  # herokusim answers with the stopped dyno
    ("POST", "/apps/{app}/log-sessions"): "log-session",
    ("GET", "/apps/{app}/domains"): "[domain]",
    ("GET", "/apps/{app}/domains/{domain}"): "domain",
    ("POST", "/apps/{app}/domains"): "domain",
    ("DELETE", "/apps/{app}/domains/{domain}"): "domain",
    ("GET", "/stacks"): "[stack]",
    ("GET", "/stacks/{stack}"): "stack",
    ("GET", "/regions"): "[region]",
    ("GET", "/regions/{region}"): "region",
    ("POST", "/app-setups"): "app-setup",
    ("GET", "/app-setups/{id}"): "app-setup",
    ("GET", "/apps/{app}/addons"): "[addon]",
    ("POST", "/apps/{app}/addons"): "addon",
    ("GET", "/apps/{app}/addons/{addon}"): "addon",
    ("PATCH", "/apps/{app}/addons/{addon}"): "addon",
    ("DELETE", "/apps/{app}/addons/{addon}"): "addon",
    ("GET", "/addons"): "[addon]",
    ("GET", "/addons/{addon}"): "addon",
    ("GET", "/addon-attachments"): "[addon-attachment]",
    ("POST", "/addon-attachments"): "addon-attachment",
    ("GET", "/addon-attachments/{attachment}"): "addon-attachment",
    ("DELETE", "/addon-attachments/{attachment}"): "addon-attachment",
    ("GET", "/apps/{app}/addon-attachments"): "[addon-attachment]",
    ("GET", "/addon-services"): "[addon-service]",
    ("GET", "/addon-services/{service}"): "addon-service",
    ("GET", "/addon-services/{service}/plans"): "[plan]",
    # Heroku Postgres's own commands (herokusim serves what Heroku's CLI asks Heroku Postgres's API for)
    ("GET", "/apps/{app}/addons/{addon}/pg-info"): "herokusim-pg-info",
    ("GET", "/apps/{app}/addons/{addon}/pg-credentials"): "herokusim-pg-credentials",
    ("GET", "/apps/{app}/addons/{addon}/pg-psql"): "herokusim-pg-psql-session",
    ("POST", "/apps/{app}/addons/{addon}/pg-psql"): "herokusim-pg-psql-result",
    ("POST", "/apps/{app}/addons/{addon}/pg-reset"): "herokusim-pg-reset",
    ("GET", "/apps/{app}/addons/{addon}/pg-ps"): "herokusim-pg-ps",
    ("POST", "/apps/{app}/addons/{addon}/pg-kill"): "herokusim-pg-kill",
    ("POST", "/apps/{app}/addons/{addon}/pg-promote"): "herokusim-pg-promote",
    # herokusim's own
    ("GET", "/clock"): "herokusim-clock",
    ("POST", "/clock/warp"): "herokusim-clock",
    ("PATCH", "/clock"): "herokusim-clock",
    ("GET", "/apps/{app}/router-metrics"): "herokusim-router-metrics",
    ("GET", "/apps/{app}/router-metrics/stream"): "herokusim-router-metrics",  # each line of the stream
    ("GET", "/apps/{app}/postgres-backups"): "[herokusim-pg-transfer]",
    ("POST", "/apps/{app}/postgres-backups"): "herokusim-pg-transfer",
    ("GET", "/apps/{app}/postgres-backups/{backup}"): "herokusim-pg-transfer",
    ("DELETE", "/apps/{app}/postgres-backups/{backup}"): "herokusim-pg-transfer",
    ("POST", "/apps/{app}/postgres-backups/{backup}/actions/public-url"): "herokusim-pg-backup-url",
    ("POST", "/apps/{app}/postgres-restores"): "herokusim-pg-transfer",
    ("GET", "/apps/{app}/postgres-backup-schedules"): "[herokusim-pg-backup-schedule]",
    ("POST", "/apps/{app}/postgres-backup-schedules"): "herokusim-pg-backup-schedule",
    ("DELETE", "/apps/{app}/postgres-backup-schedules/{database}"): "herokusim-pg-backup-schedule",
    ("GET", "/apps/{app}/addons/{addon}/pg-wait"): "herokusim-pg-wait",
    ("POST", "/apps/{app}/addons/{addon}/pg-unfollow"): "herokusim-pg-unfollow",
    ("GET", "/apps/{app}/addons/{addon}/redis-info"): "herokusim-redis-info",
    ("GET", "/apps/{app}/addons/{addon}/redis-cli"): "herokusim-redis-cli-connection",
    ("POST", "/apps/{app}/addons/{addon}/redis-cli"): "herokusim-redis-cli-reply",
    ("PATCH", "/apps/{app}/addons/{addon}/redis-maxmemory"): "herokusim-redis-maxmemory",
    ("GET", "/apps/{app}/scheduler-jobs"): "[herokusim-scheduler-job]",
    ("POST", "/apps/{app}/scheduler-jobs"): "herokusim-scheduler-job",
    ("GET", "/apps/{app}/scheduler-jobs/{job}"): "herokusim-scheduler-job",
    ("PATCH", "/apps/{app}/scheduler-jobs/{job}"): "herokusim-scheduler-job",
    ("DELETE", "/apps/{app}/scheduler-jobs/{job}"): "herokusim-scheduler-job",
    ("GET", "/labs"): "[herokusim-lab]",
    ("GET", "/labs/{number}"): "herokusim-lab",
    ("PUT", "/labs/{number}"): "herokusim-lab",
    ("DELETE", "/labs/{number}"): "herokusim-lab",
}
# Routes whose answer is not JSON, so no schema applies (each is still checked for its content type).
NOT_JSON: dict[tuple[str, str], str] = {
    ("GET", "/apps/{app}/builds/{build}/result"): "the build's output, text/plain (Heroku's output_stream_url)",
    ("GET", "/log-sessions/{secret}"): "the log stream, text/plain (Heroku's logplex_url)",
    ("GET", "/dyno-attach/{secret}"): "an attached one-off's terminal, a WebSocket (Heroku's attach_url)",
    ("GET", "/blobs/slugs/{slug}"): "a slug's tarball, application/octet-stream (Heroku's blob.url)",
    ("PUT", "/blobs/slugs/{slug}"): "the upload of a slug's tarball: an empty 200 (Heroku's blob.url, method PUT)",
    ("GET", "/blobs/pg-backups/{transfer}"): "a backup's pg_dump file, application/octet-stream (pg:backups:url; "
                                             "tests/test_pg_backups.py fetches it)",
    ("DELETE", "/apps/{app}/build-cache"): "an empty 202, as Heroku's build cache purge answers "
                                           "(tests/test_buildpack_contract.py drives it)",
}


@cache
def schema(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((SCHEMAS / f"{name}.json").read_text()))


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=FormatChecker())


def problems(name: str, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator(name).iter_errors(data)]


def assert_shape(spec: str, data: Any, where: str) -> None:
    """`spec`: a schema name, or "[name]" for a list whose every element follows it."""
    if spec.startswith("["):
        assert isinstance(data, list) and data, f"{where}: expected a non-empty list, got {data!r}"
        items, name = data, spec[1:-1]
    else:
        items, name = [data], spec
    for item in items:
        found = problems(name, item)
        assert not found, f"{where} does not follow tests/schemas/{name}.json:\n  " + "\n  ".join(found)


@pytest.fixture(scope="module")
def api_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with one app, python-hello pushed to it."""
    root = tmp_path_factory.mktemp("api-schemas")
    daemon = start_daemon(root / "home")
    try:
        assert daemon.api("POST", "/apps", json={"name": APP}).status_code == 201
        repo = checkout_of("python-hello", root / "app")
        git("remote", "add", "herokusim", f"http://127.0.0.1:{daemon.git_port}/{APP}.git", cwd=repo)
        helper = f"!f() {{ echo username=x; echo password={daemon.token}; }}; f"
        push = git("-c", f"credential.helper={helper}", "push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        yield daemon
    finally:
        stop_daemon(daemon)


class Driver:
    """Calls endpoints by their route template, checks the status and the answer's shape, and remembers
    which routes it drove."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.driven: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, status: int = 200, body: Any = None,
                 **params: str) -> Any:
        path = template.format(**params)
        response = self.daemon.api(method, path, json=body)
        where = f"{method} {path}"
        assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/json"), where
        data = response.json()
        assert_shape(COVERED[(method, template)], data, where)
        self.driven.add((method, template))
        return data

    def stream_first_line(self, template: str, **params: str) -> None:
        path = template.format(**params)
        d = self.daemon
        headers = {"Authorization": f"Bearer {d.token}", "Accept": "application/vnd.heroku+json; version=3"}
        with httpx.stream("GET", f"http://127.0.0.1:{d.api_port}{path}", headers=headers, timeout=30) as response:
            assert response.status_code == 200, path
            line = next(response.iter_lines())
        assert_shape(COVERED[("GET", template)], json.loads(line), f"GET {path} (first line)")
        self.driven.add(("GET", template))

    def text(self, template: str, **params: str) -> str:
        path = template.format(**params)
        response = self.daemon.api("GET", path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("text/plain"), path
        self.driven.add(("GET", template))
        return response.text


def _drive_pg_backups(call: Driver, app: str) -> None:
    """pg:backups' endpoints, on a real heroku-postgresql add-on (tests/test_pg_backups.py checks what they do)."""
    call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-postgresql:essential-0"}, app=app)
    capture = call("POST", "/apps/{app}/postgres-backups", 201, {"database": "DATABASE"}, app=app)
    assert capture["name"] == "b001" and capture["kind"] == "backup"
    done = wait_for(lambda: (t := call.daemon.api("GET", f"/apps/{app}/postgres-backups/b001").json())["finished_at"]
                    and t, timeout=120, message="the backup to finish")
    assert done["succeeded"], done
    call("GET", "/apps/{app}/postgres-backups/{backup}", app=app, backup="latest")
    url = call("POST", "/apps/{app}/postgres-backups/{backup}/actions/public-url", app=app, backup="b001")
    assert url["backup"]["name"] == "b001"
    restore = call("POST", "/apps/{app}/postgres-restores", 201, {"backup": "b001"}, app=app)
    wait_for(lambda: call.daemon.api("GET", f"/apps/{app}/postgres-backups/{restore['name']}").json()["finished_at"],
             timeout=120, message="the restore to finish")
    call("GET", "/apps/{app}/postgres-backups", app=app)
    call("POST", "/apps/{app}/postgres-backup-schedules", 201, {"at": "02:00 UTC"}, app=app)
    call("GET", "/apps/{app}/postgres-backup-schedules", app=app)
    call("DELETE", "/apps/{app}/postgres-backup-schedules/{database}", app=app, database="DATABASE")
    call("DELETE", "/apps/{app}/postgres-backups/{backup}", app=app, backup="b001")


def test_every_endpoint_answers_in_its_resource_schema(api_daemon: Daemon) -> None:
    call = Driver(api_daemon)
    app = APP

    # account and apps
    account = call("GET", "/account")
    assert call("GET", "/account/rate-limits")["remaining"] > 0
    apps = call("GET", "/apps")
    assert [a["owner"] for a in apps] == [{"id": account["id"], "email": account["email"]}]
    spare = call("POST", "/apps", 201, {"name": "schema-spare"})
    assert spare["region"]["name"] == "us" and spare["stack"]["name"] == "heroku-24"
    call("GET", "/apps/{app}", app=app)
    call("PATCH", "/apps/{app}", body={"maintenance": False}, app=app)
    call("DELETE", "/apps/{app}", app="schema-spare")

    # config vars and releases
    call("PATCH", "/apps/{app}/config-vars", body={"GREETING": "hi"}, app=app)
    assert call("GET", "/apps/{app}/config-vars", app=app) == {"GREETING": "hi"}
    releases = call("GET", "/apps/{app}/releases", app=app)
    assert releases[0]["slug"] is None, "v1 has no slug: the schema's null branch is exercised"
    deployed = next(r for r in releases if r["slug"])
    assert deployed["artifacts"] == [{"type": "slug", "id": deployed["slug"]["id"]}]
    assert deployed["user"]["id"] == account["id"]
    call("GET", "/apps/{app}/releases/{release}", app=app, release="1")
    call("GET", "/apps/{app}/releases/{release}", app=app, release=deployed["id"])
    call("GET", "/apps/{app}/releases/{release}/config-vars", app=app, release=str(deployed["version"]))

    # builds and slugs
    builds = call("GET", "/apps/{app}/builds", app=app)
    build = call("GET", "/apps/{app}/builds/{build}", app=app, build=builds[-1]["id"])
    assert build["source_blob"]["url"] == f"http://127.0.0.1:{api_daemon.git_port}/{APP}.git"
    assert build["app"]["id"] == apps[0]["id"] and build["stack"] == "heroku-24"
    api_url = f"http://127.0.0.1:{api_daemon.api_port}"
    assert build["output_stream_url"] == f"{api_url}/apps/{APP}/builds/{build['id']}/result"
    assert "Python app detected" in call.text("/apps/{app}/builds/{build}/result", app=app, build=build["id"])
    slug = call("GET", "/apps/{app}/slugs/{slug}", app=app, slug=build["slug"]["id"])
    assert slug["blob"]["method"] == "GET" and slug["stack"] == apps[0]["stack"]
    released = call("POST", "/apps/{app}/releases", 201, {"slug": slug["id"]}, app=app)
    assert released["slug"] == {"id": slug["id"]}
    # a third-party client's slug: created, then its tarball PUT to blob.url (herokusim's own, downloaded)
    made = call("POST", "/apps/{app}/slugs", 201, {"process_types": slug["process_types"]}, app=app)
    assert made["blob"]["method"] == "PUT"
    tarball = httpx.get(slug["blob"]["url"], timeout=30)
    assert tarball.status_code == 200 and tarball.headers["content-type"] == "application/octet-stream"
    call.driven.add(("GET", "/blobs/slugs/{slug}"))
    assert httpx.put(made["blob"]["url"], content=tarball.content, timeout=30).status_code == 200
    call.driven.add(("PUT", "/blobs/slugs/{slug}"))
    assert call("GET", "/apps/{app}/slugs/{slug}", app=app, slug=made["id"])["size"] == len(tarball.content)
    # a build from a source tarball, without git: that same tarball, as a file:// URL
    source = api_daemon.home / "schema-source.tgz"
    source.write_bytes(tarball.content)
    from_blob = call("POST", "/apps/{app}/builds", 201, {"source_blob": {"url": source.as_uri(), "version": "v9"}},
                     app=app)
    assert from_blob["source_blob"]["url"] == source.as_uri() and from_blob["status"] == "pending"
    wait_for(lambda: api_daemon.api("GET", f"/apps/{app}/builds/{from_blob['id']}").json()["status"] != "pending",
             timeout=120, message="the source_blob build to finish")
    done = api_daemon.api("GET", f"/apps/{app}/builds/{from_blob['id']}").json()
    assert done["status"] == "succeeded", call.text("/apps/{app}/builds/{build}/result", app=app, build=done["id"])

    # buildpacks set on the app (the list is left empty: later builds detect theirs)
    installed = call("PUT", "/apps/{app}/buildpack-installations", body={"updates": [
        {"buildpack": "heroku/python"}, {"buildpack": "https://github.com/heroku/heroku-buildpack-python"}]}, app=app)
    assert [i["ordinal"] for i in installed] == [0, 1]
    assert call("GET", "/apps/{app}/buildpack-installations", app=app) == installed
    assert api_daemon.api("PUT", f"/apps/{app}/buildpack-installations", json={"updates": []}).json() == []

    # add-ons (deployhooks: the service every herokusim has), attachments, services and plans
    services = call("GET", "/addon-services")
    assert "deployhooks" in {x["name"] for x in services}
    call("GET", "/addon-services/{service}", service="deployhooks")
    plans = call("GET", "/addon-services/{service}/plans", service="deployhooks")
    assert [p["name"] for p in plans] == ["deployhooks:http"]
    addon = call("POST", "/apps/{app}/addons", 201, {"plan": "deployhooks:http",
                                                     "config": {"url": "http://127.0.0.1:9/hook"}}, app=app)
    assert addon["app"]["name"] == APP and addon["state"] == "provisioned" and addon["config_vars"] == []
    call("GET", "/apps/{app}/addons", app=app)
    call("GET", "/apps/{app}/addons/{addon}", app=app, addon=addon["name"])
    call("PATCH", "/apps/{app}/addons/{addon}", body={"plan": "deployhooks:http"}, app=app, addon=addon["id"])
    call("GET", "/addons")
    call("GET", "/addons/{addon}", addon=addon["id"])
    attachment = call("POST", "/addon-attachments", 201, {"addon": addon["name"], "app": APP, "name": "HOOKS2"})
    call("GET", "/addon-attachments")
    call("GET", "/apps/{app}/addon-attachments", app=app)
    call("GET", "/addon-attachments/{attachment}", attachment=attachment["id"])
    call("DELETE", "/addon-attachments/{attachment}", attachment=attachment["id"])
    _drive_pg_backups(call, app)

    # the classroom labs' progress (api/labs_api.py): never started, started, checked, forgotten
    assert call("GET", "/labs/{number}", number="6")["state"] == "not started"
    call("PUT", "/labs/{number}", body={"state": "started", "apps": {"app": "lab6-port-ab12"},
                                        "checkout": "/tmp/lab06-port-r10"}, number="6")
    checked = call("PUT", "/labs/{number}", body={"last_check": {"passed": False, "observation": "R10",
                                                                 "hint": "$PORT", "at": "2026-11-29T05:00:00Z"}},
                   number="6")
    assert checked["apps"] == {"app": "lab6-port-ab12"} and checked["last_check"]["passed"] is False
    assert [lab["number"] for lab in call("GET", "/labs")] == [6]
    assert call("DELETE", "/labs/{number}", number="6")["state"] == "started"
    assert api_daemon.api("GET", "/labs").json() == []
    gone = call("DELETE", "/apps/{app}/addons/{addon}", app=app, addon=addon["id"])
    assert gone["state"] == "deprovisioned"
    # a heroku-redis add-on's own commands (redis:info, redis:cli, redis:maxmemory)
    redis = call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-redis:mini"}, app=app)
    call("GET", "/apps/{app}/addons/{addon}/redis-info", app=app, addon=redis["name"])
    call("GET", "/apps/{app}/addons/{addon}/redis-cli", app=app, addon="REDIS")
    assert call("POST", "/apps/{app}/addons/{addon}/redis-cli", body={"command": ["PING"]}, app=app,
                addon="REDIS_URL")["output"] == "PONG"
    call("PATCH", "/apps/{app}/addons/{addon}/redis-maxmemory", body={"policy": "allkeys-lru"}, app=app,
         addon=redis["id"])
    call("DELETE", "/apps/{app}/addons/{addon}", app=app, addon=redis["id"])
    # Heroku Scheduler's jobs (herokusim's own resource)
    scheduler = call("POST", "/apps/{app}/addons", 201, {"plan": "scheduler:standard"}, app=app)
    job = call("POST", "/apps/{app}/scheduler-jobs", 201, {"command": "echo hi", "every": "10m"}, app=app)
    assert job["at"] is None and job["last_run_at"] is None and job["schedule"] == "every 10 minutes"
    call("GET", "/apps/{app}/scheduler-jobs", app=app)
    call("GET", "/apps/{app}/scheduler-jobs/{job}", app=app, job=str(job["id"]))
    daily = call("PATCH", "/apps/{app}/scheduler-jobs/{job}", body={"every": "1d", "at": "02:30"}, app=app,
                 job=str(job["id"]))
    assert daily["at"] == "02:30" and daily["next_due"].endswith("T02:30:00Z")
    call("DELETE", "/apps/{app}/scheduler-jobs/{job}", app=app, job=str(job["id"]))
    call("DELETE", "/apps/{app}/addons/{addon}", app=app, addon=scheduler["id"])

    # a Postgres follower: pg:wait's status, pg:unfollow (tests/test_pg_follow.py drives them through the CLI)
    leader = call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-postgresql:standard-0"}, app=app)
    follower = call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-postgresql:standard-0",
                                                         "config": {"follow": leader["name"]}}, app=app)
    assert call("GET", "/apps/{app}/addons/{addon}/pg-wait", app=app, addon=leader["name"])["waiting"] is False
    call("GET", "/apps/{app}/addons/{addon}/pg-wait", app=app, addon=follower["name"])
    unfollowed = call("POST", "/apps/{app}/addons/{addon}/pg-unfollow", app=app, addon=follower["name"])
    assert unfollowed["unfollowed"].startswith("HEROKU_POSTGRESQL_")
    for made in (follower, leader):
        call("DELETE", "/apps/{app}/addons/{addon}", app=app, addon=made["id"])

    # formation and dynos
    formation = call("GET", "/apps/{app}/formation", app=app)
    assert [f["dyno_size"]["name"] for f in formation] == [f["size"] for f in formation]
    call("GET", "/apps/{app}/formation/{type}", app=app, type="web")
    call("PATCH", "/apps/{app}/formation", body={"updates": [{"type": "web", "quantity": 1}]}, app=app)
    call("PATCH", "/apps/{app}/formation/{type}", body={"quantity": 1}, app=app, type="web")
    wait_for(lambda: any(d["name"] == "web.1" and d["state"] == "up"
                         for d in api_daemon.api("GET", f"/apps/{app}/dynos").json()),
             timeout=60, message="web.1 up")
    call("GET", "/apps/{app}/dynos", app=app)
    call("GET", "/apps/{app}/dynos/{dyno}", app=app, dyno="web.1")
    call("POST", "/apps/{app}/dynos", 201, {"command": "echo ok"}, app=app)

    # logs, domains, the router's metrics (while web.1 is up)
    call("POST", "/apps/{app}/log-sessions", 201, {"lines": 10}, app=app)
    domains = call("GET", "/apps/{app}/domains", app=app)
    assert [d["kind"] for d in domains] == ["heroku"]
    call("GET", "/apps/{app}/domains/{domain}", app=app, domain=domains[0]["hostname"])
    added = call("POST", "/apps/{app}/domains", 201, {"hostname": "www.schema.example"}, app=app)
    call("GET", "/apps/{app}/domains/{domain}", app=app, domain=added["id"])
    call("DELETE", "/apps/{app}/domains/{domain}", app=app, domain="www.schema.example")
    call("GET", "/apps/{app}/router-metrics", app=app)
    call.stream_first_line("/apps/{app}/router-metrics/stream", app=app)

    # restarts and stops
    call("DELETE", "/apps/{app}/dynos/{dyno}", app=app, dyno="web.1")
    call("DELETE", "/apps/{app}/dynos", app=app)
    call("POST", "/apps/{app}/dynos/{dyno}/actions/stop", 202, app=app, dyno="web.1")

    # the clock, the stack, the regions
    call("GET", "/clock")
    call("POST", "/clock/warp", body={"seconds": 60})
    assert call("PATCH", "/clock", body={"scale": 60})["time_scale"] == 60
    call("PATCH", "/clock", body={"scale": 1})
    stacks = call("GET", "/stacks")
    assert [s["id"] for s in stacks] == [apps[0]["stack"]["id"]]
    call("GET", "/stacks/{stack}", stack="heroku-24")
    call("GET", "/stacks/{stack}", stack=stacks[0]["id"])
    regions = call("GET", "/regions")
    assert {r["name"] for r in regions} == {"us", "eu"}
    assert next(r for r in regions if r["name"] == "us")["id"] == apps[0]["region"]["id"]
    for region in regions:
        assert call("GET", "/regions/{region}", region=region["id"]) == region
        assert call("GET", "/regions/{region}", region=region["name"]) == region

    # the log stream (text): a session's URL, as a client follows it
    session = call("POST", "/apps/{app}/log-sessions", 201, {"lines": 5}, app=app)
    secret = session["logplex_url"].rsplit("/", 1)[1]
    assert session["logplex_url"] == f"{api_url}/log-sessions/{secret}"
    assert "heroku[web.1]" in call.text("/log-sessions/{secret}", secret=secret)

    # an app setup from a tarball with an app.json: pending at once, then succeeded with its postdeploy's result
    setup_source = api_daemon.home / "schema-setup.tgz"
    with tarfile.open(setup_source, "w:gz") as tar:
        tar.add(FIXTURES / "python-hello", arcname="app")
        manifest = json.dumps({"env": {"SECRET": {"generator": "secret"}}, "scripts": {"postdeploy": "echo done"},
                               "success_url": "/welcome"}).encode()
        info = tarfile.TarInfo("app/app.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    made = call("POST", "/app-setups", 201, {"app": {"name": "schema-setup"},
                                              "source_blob": {"url": setup_source.as_uri()}})
    assert made["status"] == "pending" and made["app"]["name"] == "schema-setup" and made["postdeploy"] is None
    done = wait_for(lambda: (s := api_daemon.api("GET", f"/app-setups/{made['id']}").json())["status"] != "pending"
                    and s, timeout=180, message="the app setup to finish")
    assert done["status"] == "succeeded", done
    finished = call("GET", "/app-setups/{id}", id=made["id"])
    assert finished["build"]["status"] == "succeeded" and finished["postdeploy"] == {"output": "done",
                                                                                       "exit_code": 0}
    assert finished["resolved_success_url"].endswith("/welcome")

    # Heroku Postgres's own commands, on a real database (last: its releases restart the app's dynos)
    # the app's DATABASE: the one pg:backups' endpoints made, if they ran first
    pg = next((a for a in call.daemon.api("GET", f"/apps/{app}/addons").json()
               if a["addon_service"]["name"] == "heroku-postgresql"), None) \
        or call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-postgresql"}, app=app)
    info = call("GET", "/apps/{app}/addons/{addon}/pg-info", app=app, addon="DATABASE_URL")
    assert info["attachment_names"][0] == "DATABASE" and info["info"][-1] == {"name": "Add-on",
                                                                              "values": [pg["name"]]}
    creds = call("GET", "/apps/{app}/addons/{addon}/pg-credentials", app=app, addon=pg["name"])
    call("GET", "/apps/{app}/addons/{addon}/pg-psql", app=app, addon="DATABASE")
    ran = call("POST", "/apps/{app}/addons/{addon}/pg-psql", body={"command": "CREATE TABLE t (id int)"},
               app=app, addon="DATABASE")
    assert ran["exit_code"] == 0, ran["stderr"]
    with psycopg.connect(creds["url"], sslmode="require", application_name="schema") as held:
        call("GET", "/apps/{app}/addons/{addon}/pg-ps", app=app, addon="DATABASE")
        call("POST", "/apps/{app}/addons/{addon}/pg-kill", body={"pid": held.info.backend_pid, "force": True},
             app=app, addon="DATABASE")
        held.close()
    call("POST", "/apps/{app}/addons/{addon}/pg-reset", body={"confirm": app}, app=app, addon="DATABASE")
    second = call("POST", "/apps/{app}/addons", 201, {"plan": "heroku-postgresql"}, app=app)
    promoted = call("POST", "/apps/{app}/addons/{addon}/pg-promote", app=app, addon=second["name"])
    assert [r["description"].split(" (")[0] for r in promoted["releases"]] == ["Detach DATABASE", "Attach DATABASE"]

    missing = set(COVERED) - call.driven
    assert not missing, f"COVERED lists routes this test never drove: {sorted(missing)}"


def test_errors_answer_in_herokus_error_shape(api_daemon: Daemon) -> None:
    for method, path, status in [("GET", "/apps/no-such-app", 404), ("GET", "/regions/mars", 404),
                                 ("GET", "/stacks/cedar-14", 404), ("GET", "/no/such/endpoint", 404),
                                 ("POST", "/apps", 422)]:
        response = api_daemon.api(method, path, json={"name": "Not A Name!"} if method == "POST" else None)
        assert response.status_code == status, (path, response.text)
        assert_shape("error", response.json(), f"{method} {path}")


def test_every_route_has_a_schema() -> None:
    from types import SimpleNamespace

    from herokusim.api.server import create_api
    from herokusim.config import Settings

    # the routes only: no platform behind them, only the settings create_api reads
    application = create_api(cast(Any, SimpleNamespace(settings=Settings())))
    routes = {(r.method, r.resource.canonical) for r in application.router.routes()
              if r.method != "HEAD" and r.resource is not None}
    assert not set(COVERED) & set(NOT_JSON)
    unlisted = routes - set(COVERED) - set(NOT_JSON)
    assert not unlisted, ("routes without a schema: add each to COVERED with its tests/schemas/ file (and drive "
                          f"it in test_every_endpoint_answers_in_its_resource_schema): {sorted(unlisted)}")
    gone = (set(COVERED) | set(NOT_JSON)) - routes
    assert not gone, f"COVERED/NOT_JSON list routes the API no longer has: {sorted(gone)}"
    for spec in COVERED.values():
        assert (SCHEMAS / f"{spec.strip('[]')}.json").exists(), spec


def test_every_schema_is_a_valid_draft_2020_12_schema_that_names_its_source() -> None:
    files = sorted(SCHEMAS.glob("*.json"))
    assert len(files) >= 20
    for path in files:
        data = json.loads(path.read_text())
        Draft202012Validator.check_schema(data)
        assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema", path.name
        assert data["$comment"].strip(), f"{path.name}: say where the shape comes from"


def test_the_format_checker_really_checks_uuids_and_times() -> None:
    """Without rfc3339-validator, jsonschema skips date-time silently: the schema test would check less."""
    checker = FormatChecker()
    assert checker.conforms("2012-01-01T12:00:00Z", "date-time")
    assert not checker.conforms("2012-01-01 12:00", "date-time")
    assert not checker.conforms("yesterday", "date-time")
    assert checker.conforms("01234567-89ab-cdef-0123-456789abcdef", "uuid")
    assert not checker.conforms("0123456789abcdef", "uuid")


def _without_each_required(name: str, sample: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The sample with one required field removed, for each required field and each required field of a
    nested object the sample has (app.owner.id, release.user.id, ...)."""
    spec = schema(name)
    for field in spec.get("required", []):
        broken = copy.deepcopy(sample)
        del broken[field]
        yield field, broken
        nested = spec["properties"][field]
        if isinstance(sample[field], dict) and "required" in nested:
            for inner in nested["required"]:
                broken = copy.deepcopy(sample)
                del broken[field][inner]
                yield f"{field}.{inner}", broken


def test_a_response_missing_a_required_field_fails_validation(api_daemon: Daemon) -> None:
    """The guard: the schemas reject what a strict client rejects, so removing a field from a shape fails."""
    d = api_daemon
    build = d.api("GET", f"/apps/{APP}/builds").json()[-1]
    samples = {
        "account": d.api("GET", "/account").json(),
        "app": d.api("GET", f"/apps/{APP}").json(),
        "release": d.api("GET", f"/apps/{APP}/releases").json()[-1],
        "build": build,
        "slug": d.api("GET", f"/apps/{APP}/slugs/{build['slug']['id']}").json(),
        "formation": d.api("GET", f"/apps/{APP}/formation").json()[0],
        "dyno": d.api("GET", f"/apps/{APP}/dynos").json()[0],
        "domain": d.api("GET", f"/apps/{APP}/domains").json()[0],
        "stack": d.api("GET", "/stacks").json()[0],
        "region": d.api("GET", "/regions").json()[0],
        "log-session": d.api("POST", f"/apps/{APP}/log-sessions", json={}).json(),
        "herokusim-clock": d.api("GET", "/clock").json(),
    }
    for name, sample in samples.items():
        assert not problems(name, sample), (name, problems(name, sample))
        checked = 0
        for field, broken in _without_each_required(name, sample):
            assert problems(name, broken), f"{name} without {field} still passes tests/schemas/{name}.json"
            checked += 1
        assert checked >= 3, name
    # a wrong type fails as well: an app's stack as a plain name (a build's stack is one, an app's is not)
    app = samples["app"]
    assert problems("app", {**app, "stack": app["stack"]["name"]})
    assert problems("build", {**samples["build"], "stack": {"name": "heroku-24"}})
    assert problems("app", {**app, "id": "not-a-uuid"})
    assert problems("release", {**samples["release"], "created_at": "2012-01-01 12:00"})


def test_ids_are_stable_across_homes_and_restarts(api_daemon: Daemon, tmp_path: Path) -> None:
    """The stack's, regions' and the user's ids are the same on every machine; the account's too after a
    restart, with its created_at."""
    other = start_daemon(tmp_path / "home")
    try:
        first = {path: other.api("GET", path).json() for path in ("/account", "/stacks", "/regions")}
        for path in ("/stacks", "/regions"):
            assert [x["id"] for x in first[path]] == [x["id"] for x in api_daemon.api("GET", path).json()]
        assert first["/account"]["id"] == api_daemon.api("GET", "/account").json()["id"]
    finally:
        stop_daemon(other)
    again = start_daemon(tmp_path / "home")
    try:
        assert again.api("GET", "/account").json() == first["/account"]
        assert again.api("GET", "/regions").json() == first["/regions"]
    finally:
        stop_daemon(again)


def test_an_older_database_gets_the_new_fields(tmp_path: Path) -> None:
    """A database from before formation.created_at and the account record opens, and has both."""
    from herokusim.clock import Clock
    from herokusim.store.schema import MIGRATIONS
    from herokusim.store.sqlite import Store

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO apps VALUES ('a1', 'old', 'heroku-24', 'us', 0, '2020-05-01T10:00:00Z',"
               " '2020-05-01T10:00:00Z')")
    db.execute("INSERT INTO formation VALUES ('f1', 'a1', 'web', 1, 'standard-1X', 'python app.py',"
               " '2020-06-01T10:00:00Z')")
    db.commit()
    db.close()

    async def scenario() -> None:
        store = await Store.open(path, Clock())
        try:
            [web] = await store.list_formation("a1")
            assert web.created_at == "2020-06-01T10:00:00Z", "its last change: the nearest time known"
            assert await store.account_created_at() == "2020-05-01T10:00:00Z", "as old as its first app"
            assert await store.account_created_at() == "2020-05-01T10:00:00Z"
        finally:
            await store.close()

    asyncio.run(scenario())
