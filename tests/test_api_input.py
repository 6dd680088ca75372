"""Hostile and odd input to the Platform API (issue 9, items 6-9): every case is a clear 4xx in Heroku's
error shape, nothing is written, and the daemon is unharmed (no traceback in its output, /account answers,
no ghost app). Named tests reproduce each finding; property-based tests throw generated paths, bodies and
headers at every endpoint of one daemon started for the module."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

APP = "fuzz-target"  # an app with a slug and a running web dyno: the endpoints reach their deep paths
APP_NAME = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")
LOG_NOISE = ("Traceback", "Error handling request")
CLIENT = httpx.Client(timeout=30)  # keep-alive: thousands of requests, not thousands of connections


@pytest.fixture(scope="module")
def api_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("api-input")
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


@pytest.fixture
def d(api_daemon: Daemon) -> Iterator[Daemon]:
    """The module's daemon; after the test, it must be unharmed."""
    logged = len(api_daemon.output())
    yield api_daemon
    assert_unharmed(api_daemon, logged)


def assert_unharmed(daemon: Daemon, logged: int) -> None:
    new_output = daemon.output()[logged:]
    assert not any(noise in new_output for noise in LOG_NOISE), new_output[-3000:]
    assert daemon.api("GET", "/account").status_code == 200
    apps = daemon.api("GET", "/apps").json()
    ghosts = [a["name"] for a in apps if not APP_NAME.fullmatch(a["name"])
              or not (daemon.home / "repos" / f"{a['name']}.git").is_dir()]
    assert ghosts == [], f"apps that are not whole: {ghosts!r}"
    assert APP in [a["name"] for a in apps]


def raw(daemon: Daemon, method: str, path: str, body: bytes | None = None,
        headers: dict[str, Any] | None = None, auth: bool = True) -> httpx.Response:
    """One request with exactly these bytes (headers may be bytes: httpx sends them as they are)."""
    sent: dict[str, Any] = {"Accept": "application/vnd.heroku+json; version=3"}
    if auth:
        sent["Authorization"] = f"Bearer {daemon.token}"
    sent.update(headers or {})
    return CLIENT.request(method, f"http://127.0.0.1:{daemon.api_port}{path}", content=body, headers=sent)


def assert_error(response: httpx.Response, status: int, error_id: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    data = response.json()
    assert isinstance(data.get("id"), str) and isinstance(data.get("message"), str), data
    if error_id is not None:
        assert data["id"] == error_id, data
    return data


def state(daemon: Daemon) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    return (sorted(a["name"] for a in daemon.api("GET", "/apps").json()),
            daemon.api("GET", f"/apps/{APP}/config-vars").json(),
            [r["version"] for r in daemon.api("GET", f"/apps/{APP}/releases").json()])


# item 6: credentials that are not ASCII
@pytest.mark.parametrize("authorization", [
    "Bearer é".encode(),
    b"Bearer \xff\xfe",
    b"Basic " + base64.b64encode(":é".encode()),
    b"Basic " + base64.b64encode(b":\xff"),
    "Basic é".encode(),
], ids=["bearer-utf8", "bearer-raw-bytes", "basic-utf8-password", "basic-raw-password", "basic-not-base64"])
def test_non_ascii_credentials_are_refused_not_500(d: Daemon, authorization: bytes) -> None:
    before = state(d)
    response = raw(d, "POST", "/apps", b'{"name": "by-intruder"}', {"Authorization": authorization}, auth=False)
    assert_error(response, 401, "unauthorized")
    assert state(d) == before


def test_basic_auth_with_the_token_as_password_still_works(d: Daemon) -> None:
    basic = base64.b64encode(f"anyone:{d.token}".encode())
    assert raw(d, "GET", "/account", headers={"Authorization": b"Basic " + basic}, auth=False).status_code == 200


# item 7: a trailing newline passed `re.match(...$)`
def test_app_name_with_trailing_newline_is_refused_and_leaves_no_ghost(d: Daemon) -> None:
    before = state(d)
    assert_error(d.api("POST", "/apps", json={"name": "abc\n"}), 422, "invalid_params")
    assert state(d) == before
    created = d.api("POST", "/apps", json={"name": "abc"})  # the name without the newline is still free
    assert created.status_code == 201, created.text
    assert d.api("DELETE", "/apps/abc").status_code == 200


def test_config_var_name_with_trailing_newline_is_refused(d: Daemon) -> None:
    before = state(d)
    assert_error(d.api("PATCH", f"/apps/{APP}/config-vars", json={"FOO\n": "x"}), 422, "invalid_params")
    assert state(d) == before


# item 8: config vars beyond Heroku's limits, and NUL
def test_config_var_name_of_10000_characters_is_refused(d: Daemon) -> None:
    before = state(d)
    data = assert_error(d.api("PATCH", f"/apps/{APP}/config-vars", json={"A" * 10_000: "x"}), 422)
    assert "255" in data["message"]
    assert state(d) == before


def test_config_var_name_of_255_characters_is_set_and_a_push_still_builds(d: Daemon, tmp_path: Path) -> None:
    key = "K" * 255
    assert d.api("PATCH", f"/apps/{APP}/config-vars", json={key: "v"}).status_code == 200
    try:
        repo = checkout_of("python-hello", tmp_path / "app")
        git("commit", "-q", "--allow-empty", "-m", "a commit of its own, so the push builds", cwd=repo)
        helper = f"!f() {{ echo username=x; echo password={d.token}; }}; f"
        url = f"http://127.0.0.1:{d.git_port}/{APP}.git"
        push = git("-c", f"credential.helper={helper}", "push", "-f", url, "main", cwd=repo, env=d.env)
        assert push.returncode == 0, push.stderr
        assert "Released v" in push.stderr
    finally:
        d.api("PATCH", f"/apps/{APP}/config-vars", json={key: None})


def test_config_var_value_with_nul_is_refused_not_cut(d: Daemon) -> None:
    before = state(d)
    data = assert_error(d.api("PATCH", f"/apps/{APP}/config-vars", json={"TOKEN": "abc\u0000def"}), 422)
    assert "NUL" in data["message"]
    assert state(d) == before


def test_config_vars_beyond_32_kb_per_app_are_refused(d: Daemon) -> None:
    first = {f"BIG_{i}": "x" * 1000 for i in range(20)}
    assert d.api("PATCH", f"/apps/{APP}/config-vars", json=first).status_code == 200
    try:
        before = state(d)
        # each call alone is under 32 kB; together with what the app holds they are not
        second = {f"MORE_{i}": "y" * 1000 for i in range(20)}
        data = assert_error(d.api("PATCH", f"/apps/{APP}/config-vars", json=second), 422, "invalid_params")
        assert "32 kB" in data["message"]
        assert state(d) == before
    finally:
        d.api("PATCH", f"/apps/{APP}/config-vars", json=dict.fromkeys(first))


def test_one_off_command_or_env_with_nul_is_refused(d: Daemon) -> None:
    assert_error(d.api("POST", f"/apps/{APP}/dynos", json={"command": "echo a\u0000b"}), 422)
    assert_error(d.api("POST", f"/apps/{APP}/dynos", json={"command": "true", "env": {"A": "\u0000"}}), 422)
    assert [x for x in d.api("GET", f"/apps/{APP}/dynos").json() if x["type"] == "run"] == []


def test_attached_terminal_ignores_text_frames_that_are_not_eof(d: Daemon) -> None:
    import aiohttp

    dyno = d.api("POST", f"/apps/{APP}/dynos", json={"command": "cat", "attach": True}).json()

    async def session() -> tuple[bytes, int | None]:
        output, status = b"", None
        async with aiohttp.ClientSession() as client, client.ws_connect(dyno["attach_url"]) as ws:
            for frame in ("not json", "[1]", '{"eof": "yes"}', "[" * 5000):
                await ws.send_str(frame)
            await ws.send_bytes(b"still here\n")
            await ws.send_str(json.dumps({"eof": True}))
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    output += message.data
                elif message.type == aiohttp.WSMsgType.TEXT:
                    status = json.loads(message.data)["exit_status"]
        return output, status

    output, status = asyncio.run(asyncio.wait_for(session(), 60))
    assert b"still here" in output
    assert status == 0


# item 9: bodies the parser choked on. As Heroku: 400 for a body that cannot be read as JSON, 422 for JSON
# that holds the wrong thing.
@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b'{"X": "1"}', "application/json; charset=bogus", 400),
    (b"[" * 50_000 + b"]" * 50_000, "application/json", 400),
    (b'{"X": ' + b"9" * 5000 + b"}", "application/json", 400),
    (b'{"X": NaN}', "application/json", 400),
    (b'{"X": 1e999}', "application/json", 400),
    (b'{"X": "\\ud800"}', "application/json", 422),
    (b'{"X": "\xff"}', "application/json", 400),
    (b'["X"]', "application/json", 422),
], ids=["bogus-charset", "nested-50k", "int-5000-digits", "nan", "infinity", "lone-surrogate", "not-utf8",
        "not-an-object"])
def test_bad_json_bodies_are_refused_and_nothing_is_written(d: Daemon, body: bytes, content_type: str,
                                                          status: int) -> None:
    before = state(d)
    assert_error(raw(d, "PATCH", f"/apps/{APP}/config-vars", body, {"Content-Type": content_type}), status)
    assert_error(raw(d, "POST", f"/apps/{APP}/domains", body, {"Content-Type": content_type}), status)
    assert state(d) == before


def test_body_over_the_limit_gets_413_in_herokus_shape(d: Daemon) -> None:
    body = json.dumps({"X": "a" * (2 * 1024 * 1024)}).encode()
    assert_error(raw(d, "PATCH", f"/apps/{APP}/config-vars", body), 413, "request_entity_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(40):
            yield b" " * 65536

    assert_error(raw(d, "PATCH", f"/apps/{APP}/config-vars", chunks()), 413)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["99999999999999999999", "v99999999999999999999", "v²", "١٢", "vv1"])
def test_release_versions_beyond_sqlite_or_not_ascii_are_not_found(d: Daemon, version: str) -> None:
    path = urllib.parse.quote(version, safe="")
    assert_error(d.api("GET", f"/apps/{APP}/releases/{path}"), 404, "not_found")
    assert_error(d.api("GET", f"/apps/{APP}/releases/{path}/config-vars"), 404, "not_found")
    before = state(d)
    assert_error(d.api("POST", f"/apps/{APP}/releases", json={"release": version}), 404, "not_found")
    assert state(d) == before


def test_rollback_to_a_huge_integer_version_is_not_found(d: Daemon) -> None:
    assert_error(d.api("POST", f"/apps/{APP}/releases", json={"release": 10**20}), 404, "not_found")


@pytest.mark.parametrize("header", ["id ..; max=99999999999999999999", "id ..; max=²", "version ²..; max=5"])
def test_range_header_with_huge_or_unicode_numbers_is_not_500(d: Daemon, header: str) -> None:
    response = raw(d, "GET", f"/apps/{APP}/releases", headers={"Range": header.encode()})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, 400, "bad_request")


def test_last_resort_is_a_logged_500_in_herokus_shape(caplog: pytest.LogCaptureFixture) -> None:
    """A bug of ours: the client gets Heroku's internal_server_error, the daemon's log the traceback."""
    from aiohttp.test_utils import TestClient, TestServer

    from herokusim.api import create_api
    from herokusim.config import Settings

    class Stub:
        token = "t"
        ready = asyncio.Event()
        settings = Settings()

        def authenticate(self, offered: bytes | None) -> bool:
            return offered == b"t"

    async def scenario() -> tuple[int, str, dict[str, Any]]:
        Stub.ready.set()
        app = create_api(Stub())  # type: ignore[arg-type]

        async def boom(request: Any) -> Any:
            raise RuntimeError("a bug")

        app.router.add_get("/boom", boom)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/boom", headers={"Authorization": "Bearer t"})
            return response.status, response.headers["Content-Type"], await response.json()

    with caplog.at_level(logging.ERROR, logger="herokusim.api"):
        status, content_type, data = asyncio.run(scenario())
    assert (status, content_type.split(";")[0]) == (500, "application/json")
    assert data["id"] == "internal_server_error" and data["message"]
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


# property-based: generated input at every endpoint
NASTY = ["", " ", "\n", "abc\n", "\u0000", "v1", "v²", "١٢", "99999999999999999999", "v99999999999999999999",
         "-1", "web", "web.1", "run.1", "..", "%", "a" * 300, "é", "😀", "null", "true", "0", APP]
WEIRD_TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=False, allow_infinity=False), WEIRD_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(WEIRD_TEXT, inner, max_size=4)),
                           max_leaves=12)
# a quantity that scales for real would start up to 100 dynos: the generator keeps to 0 and to wrong ones
# (a string the API reads as a number, "3" or "+3", counts as one)
QUANTITY = st.one_of(st.integers(-5, 0), JSON_VALUES.filter(
    lambda v: not (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100)
    and not (isinstance(v, str) and re.fullmatch(r"\+?[0-9]+", v, re.ASCII) and int(v) > 0)))
# the fields each endpoint reads, with wrong types, extremes, unicode and NUL
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "app": {"name": WEIRD_TEXT, "maintenance": JSON_VALUES},
    "config": {},
    "release": {"release": JSON_VALUES, "slug": JSON_VALUES},
    "formation": {"updates": st.lists(st.fixed_dictionaries({}, optional={
        "type": st.one_of(st.just("web"), WEIRD_TEXT), "quantity": QUANTITY,
        "size": JSON_VALUES}), max_size=3)},
    "scale": {"quantity": QUANTITY, "size": JSON_VALUES},
    # one-offs run only harmless commands: every other command is a wrong type or carries a NUL
    "dyno": {"command": st.one_of(st.sampled_from(["true", "echo ok"]), st.just("echo \u0000"), JSON_VALUES.filter(
        lambda v: not isinstance(v, str))), "env": JSON_VALUES, "size": JSON_VALUES, "attach": st.just(False)},
    "warp": {"seconds": JSON_VALUES, "duration": JSON_VALUES},
    "logs": {"lines": JSON_VALUES, "source": JSON_VALUES, "dyno": JSON_VALUES, "ps": JSON_VALUES,
             "tail": st.just(False)},
    "domain": {"hostname": JSON_VALUES},
}
ENDPOINTS = [  # (method, path template, body shape or None)
    ("GET", "/account", None), ("GET", "/apps", None), ("POST", "/apps", "app"),
    ("GET", "/apps/{app}", None), ("PATCH", "/apps/{app}", "app"), ("DELETE", "/apps/{other}", None),
    ("GET", "/apps/{app}/config-vars", None), ("PATCH", "/apps/{app}/config-vars", "config"),
    ("GET", "/apps/{app}/releases", None), ("GET", "/apps/{app}/releases/{x}", None),
    ("GET", "/apps/{app}/releases/{x}/config-vars", None), ("POST", "/apps/{app}/releases", "release"),
    ("GET", "/apps/{app}/slugs/{x}", None), ("GET", "/apps/{app}/builds", None),
    ("GET", "/apps/{app}/builds/{x}", None), ("GET", "/apps/{app}/builds/{x}/result", None),
    ("GET", "/apps/{app}/formation", None), ("GET", "/apps/{app}/formation/{x}", None),
    ("PATCH", "/apps/{app}/formation", "formation"), ("PATCH", "/apps/{app}/formation/{x}", "scale"),
    ("GET", "/apps/{app}/dynos", None), ("GET", "/apps/{app}/dynos/{x}", None),
    ("POST", "/apps/{app}/dynos", "dyno"), ("POST", "/apps/{app}/dynos/{x}/actions/stop", None),
    ("DELETE", "/apps/{app}/dynos/{x}", None),
    ("GET", "/clock", None), ("POST", "/clock/warp", "warp"),
    ("POST", "/apps/{app}/log-sessions", "logs"), ("GET", "/log-sessions/{x}", None),
    ("GET", "/dyno-attach/{x}", None),
    ("GET", "/apps/{app}/domains", None), ("POST", "/apps/{app}/domains", "domain"),
    ("GET", "/apps/{app}/domains/{x}", None), ("DELETE", "/apps/{app}/domains/{x}", None),
    ("GET", "/apps/{app}/router-metrics", None),
]
SEGMENTS = [s for s in [*NASTY, "v2", "1", "2"] if s not in ("", "..")]  # "" and ".." change the route itself
SEGMENT = st.one_of(st.sampled_from(SEGMENTS), st.text(min_size=1, max_size=60)).filter(
    lambda s: s not in (".", ".."))
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def body_for(shape: str | None) -> st.SearchStrategy[Any]:
    if shape is None:
        return st.none()
    fields = FIELDS[shape]
    shaped = st.fixed_dictionaries({}, optional=fields) if fields else st.dictionaries(WEIRD_TEXT, SCALARS,
                                                                                       max_size=5)
    return st.one_of(shaped, JSON_VALUES)


@st.composite
def requests(draw: st.DrawFn, endpoint: tuple[str, str, str | None] | None = None
             ) -> tuple[str, str, bytes | None]:
    method, template, shape = endpoint or draw(st.sampled_from(ENDPOINTS))
    app = draw(st.one_of(st.just(APP), SEGMENT))
    path = template.format(app=urllib.parse.quote(app, safe=""),
                           other=urllib.parse.quote(draw(SEGMENT.filter(lambda s: s != APP)), safe=""),
                           x=urllib.parse.quote(draw(SEGMENT), safe=""))
    body = draw(body_for(shape))
    return method, path, None if body is None else json.dumps(body).encode()


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {t}" for m, t, _ in ENDPOINTS])
def test_generated_requests_never_get_a_5xx(d: Daemon, endpoint: tuple[str, str, str | None]) -> None:
    @settings(FUZZ, max_examples=25)
    @given(request=requests(endpoint))
    def each(request: tuple[str, str, bytes | None]) -> None:
        method, path, body = request
        assert_answered(raw(d, method, path, body, {"Content-Type": "application/json"}))

    each()


NASTY_BODIES = [
    b"", b"{", b"null", b"[]", b'"x"', b"1", b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b"[" * 3000,
    b"[" * 3000 + b"]" * 3000, b'{"a": ' + b"9" * 5000 + b"}", b'{"name": "\\udc80"}', b"\xef\xbb\xbf{}",
    b'{"a": 1}{"b": 2}', b'{"\xff": 1}']
RAW_BODIES = st.one_of(st.binary(max_size=200), st.sampled_from(NASTY_BODIES))
BODY_ENDPOINTS = [e for e in ENDPOINTS if e[2] is not None]


def test_every_endpoint_with_every_nasty_segment_and_body(d: Daemon) -> None:
    """The known-bad values, each at every endpoint, before the generated ones explore around them."""
    for method, template, shape in ENDPOINTS:
        for segment in SEGMENTS if "{" in template else []:
            quoted = urllib.parse.quote(segment, safe="")
            if template == "/apps/{other}" and segment == APP:
                continue
            path = template.format(app=APP, other=quoted, x=quoted)
            assert_answered(raw(d, method, path, None if shape is None else b"{}"))
            assert_answered(raw(d, method, template.format(app=quoted, other=quoted, x="v1")))
        for body in NASTY_BODIES if shape is not None else []:
            assert_answered(raw(d, method, template.format(app=APP, other="nope", x="v1"), body))


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=[f"{m} {t}" for m, t, _ in BODY_ENDPOINTS])
def test_generated_raw_bodies_never_get_a_5xx(d: Daemon, endpoint: tuple[str, str, str | None]) -> None:
    @settings(FUZZ, max_examples=25)
    @given(request=requests(endpoint), body=RAW_BODIES)
    def each(request: tuple[str, str, bytes | None], body: bytes) -> None:
        method, path, _ = request
        assert_answered(raw(d, method, path, body, {"Content-Type": "application/json"}))

    each()


def header_safe(value: bytes) -> bytes:
    """What an HTTP client can send in a header value: no control bytes, no edge whitespace; any other byte
    (non-ASCII, non-UTF-8) stays."""
    return bytes(b for b in value if b >= 0x20 and b != 0x7F).strip(b" ")


HEADER_VALUE = st.one_of(st.binary(max_size=60), WEIRD_TEXT.map(str.encode)).map(header_safe)


@FUZZ
@given(request=requests(), headers=st.fixed_dictionaries({}, optional={
    "Range": st.one_of(HEADER_VALUE, st.builds(
        lambda field, start, option: header_safe(b"%s %s..; %s" % (field, start, option)),
        st.sampled_from([b"id", b"name", b"version", b"type", b"x"]), HEADER_VALUE,
        st.sampled_from([b"max=2", b"order=desc", b"max=0", b"max=1001", b"order=up", b"max=-1",
                         b"max=99999999999999999999"]))),
    "Accept": st.one_of(HEADER_VALUE, st.sampled_from([b"application/vnd.heroku+json; version=2",
                                                       b"application/vnd.heroku+json; version=", b"*/*"])),
    "Content-Type": st.one_of(HEADER_VALUE, st.sampled_from([
        b"application/json; charset=bogus", b"application/json; charset=latin-1", b"text/plain",
        b"application/json; charset=utf-16", b"multipart/form-data; boundary=x"])),
    "Authorization": st.builds(lambda scheme, value: header_safe(scheme + value),
                               st.sampled_from([b"Bearer ", b"Basic ", b"", b"bearer  "]), HEADER_VALUE),
}))
def test_generated_headers_never_get_a_5xx(d: Daemon, request: tuple[str, str, bytes | None],
                                           headers: dict[str, bytes]) -> None:
    method, path, body = request
    assert_answered(raw(d, method, path, body, {"Content-Type": "application/json", **headers}))


@FUZZ
@given(method=st.sampled_from(["PUT", "OPTIONS", "PROPFIND", "TRACE", "LINK", "PURGE", "PATCH", "DELETE"]),
       request=requests())
def test_other_methods_get_a_4xx_in_herokus_shape(d: Daemon, method: str,
                                                  request: tuple[str, str, bytes | None]) -> None:
    _, path, body = request
    assert_answered(raw(d, method, path, body))
