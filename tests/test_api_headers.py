"""The Platform API's headers as Heroku sends and accepts them (issue 13, item 3): `Range` read as real clients
write it, lists paged with 206 and `Next-Range`, `Request-Id` on every answer, the account's rate limit
(`RateLimit-Remaining`, 429 `rate_limit`, `GET /account/rate-limits`), the `Accept` variants, and Heroku's
error ids. A third-party client relies on each of these without knowing it talks to herokusim."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import Daemon, start_daemon, stop_daemon

APPS = [f"range-{c}" for c in "abcdefg"]  # seven apps: lists longer than the pages the tests ask for
APP = APPS[0]
DOMAINS = [f"www{i}.example.com" for i in range(4)]
RELEASES = 12  # APP's releases: v1, v2 and ten config changes
CLIENT = httpx.Client(timeout=30)
SCHEMAS = Path(__file__).parent / "schemas"
ACCEPT = "application/vnd.heroku+json; version=3"


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("headers") / "home")
    try:
        for name in APPS:
            assert daemon.api("POST", "/apps", json={"name": name}).status_code == 201
        for i in range(RELEASES - 2):
            assert daemon.api("PATCH", f"/apps/{APP}/config-vars", json={f"V{i}": "x"}).status_code == 200
        for hostname in DOMAINS:
            assert daemon.api("POST", f"/apps/{APP}/domains", json={"hostname": hostname}).status_code == 201
        yield daemon
    finally:
        stop_daemon(daemon)


def call(daemon: Daemon, method: str, path: str, headers: dict[str, Any] | None = None, auth: bool = True,
         accept: str | None = ACCEPT, **kwargs: Any) -> httpx.Response:
    sent: dict[str, Any] = {}
    if accept is not None:
        sent["Accept"] = accept
    if auth:
        sent["Authorization"] = f"Bearer {daemon.token}"
    sent.update(headers or {})
    return CLIENT.request(method, f"http://127.0.0.1:{daemon.api_port}{path}", headers=sent, **kwargs)


def assert_error(response: httpx.Response, status: int, error_id: str) -> str:
    assert response.status_code == status, response.text
    data = response.json()
    assert data["id"] == error_id and isinstance(data["message"], str) and data["message"], data
    return data["message"]


def ranged(daemon: Daemon, path: str, header: str) -> httpx.Response:
    return call(daemon, "GET", path, {"Range": header})


# --- Range ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "name ..; max=1000;", "name ..", "name ..;", "name   ..  ;  max = 1000 ;", "name ..; order=asc",
    "name ..; max=1000, order=asc", "name ..; order=asc; max=1000;", "name ..,max=1000", "name ..; max=5000",
], ids=repr)
def test_range_forms_real_clients_send_are_read(d: Daemon, header: str) -> None:
    response = ranged(d, "/apps", header)
    assert response.status_code == 200, response.text
    assert [a["name"] for a in response.json()] == APPS
    assert "Next-Range" not in response.headers


def test_range_with_a_trailing_semicolon_on_every_list(d: Daemon) -> None:
    """The header one widely used client sends on every list request."""
    for path in ("/apps", f"/apps/{APP}/releases", f"/apps/{APP}/domains", f"/apps/{APP}/formation",
                 f"/apps/{APP}/dynos", f"/apps/{APP}/builds", "/stacks"):
        response = ranged(d, path, "id ..; max=1000;")
        assert response.status_code == 200, (path, response.text)
        assert isinstance(response.json(), list)


def test_range_order_desc_and_max(d: Daemon) -> None:
    response = ranged(d, "/apps", "name ..; order=desc, max=10;")
    assert [a["name"] for a in response.json()] == APPS[::-1]
    response = ranged(d, "/apps", "name ..; max=3")
    assert response.status_code == 206
    assert [a["name"] for a in response.json()] == APPS[:3]
    response = ranged(d, "/apps", "name ..; order=desc")
    assert [a["name"] for a in response.json()] == APPS[::-1]


@pytest.mark.parametrize(("header", "expected"), [
    ("name range-c..", APPS[2:]),
    ("name ..range-c", APPS[:3]),
    ("name range-b..range-d", APPS[1:4]),
    ("name ]range-b..", APPS[2:]),
    ("name ..range-d[", APPS[:3]),
    ("name ]range-b..range-e[", APPS[2:4]),
    ("name range-e..; order=desc", APPS[4::-1]),
    ("name ..range-e; order=desc", APPS[:3:-1]),
    ("version 3..5", [3, 4, 5]),
    ("version ]10..", [11, 12]),
], ids=repr)
def test_range_bounds_select_what_they_say(d: Daemon, header: str, expected: list[Any]) -> None:
    path = f"/apps/{APP}/releases" if header.startswith("version") else "/apps"
    key = header.split()[0]
    assert [x[key] for x in ranged(d, path, header).json()] == expected


def test_range_by_id_with_bounds(d: Daemon) -> None:
    ids = sorted(a["id"] for a in call(d, "GET", "/apps").json())
    assert [a["id"] for a in ranged(d, "/apps", f"id {ids[2]}..").json()] == ids[2:]
    assert [a["id"] for a in ranged(d, "/apps", f"id ..{ids[2]}").json()] == ids[:3]
    assert [a["id"] for a in ranged(d, "/apps", f"id {ids[1]}..{ids[4]}").json()] == ids[1:5]


@pytest.mark.parametrize(("header", "says"), [
    ("colour ..", "colour"),
    ("name ..; max=abc", "max"),
    ("name ..; max=0", "max"),
    ("name ..; max=-3", "max"),
    ("name ..; order=sideways", "order"),
    ("name ..; limit=5", "limit"),
    ("name ..; max", "max"),
    ("name", ".."),
    ("name range-a", ".."),
    ("..", "cannot read"),
    ("name a..b..c", "cannot read"),
    (b"name \xff\xfe..", "ASCII"),
    ("version abc..", "number"),
], ids=repr)
def test_garbage_range_is_a_400_that_says_what_is_wrong(d: Daemon, header: str | bytes, says: str) -> None:
    path = f"/apps/{APP}/releases" if header.startswith(b"version" if isinstance(header, bytes) else "version") \
        else "/apps"
    message = assert_error(ranged(d, path, header), 400, "bad_request")  # type: ignore[arg-type]
    assert says in message and message.startswith("Range:"), message


def pages(daemon: Daemon, path: str, header: str) -> Iterator[httpx.Response]:
    """Every page of a list, following Next-Range as a client does."""
    for _ in range(100):
        response = ranged(daemon, path, header)
        yield response
        if "Next-Range" not in response.headers:
            return
        header = response.headers["Next-Range"]
    raise AssertionError(f"{path}: more than 100 pages")


@pytest.mark.parametrize(("path", "field"), [
    ("/apps", "id"), ("/apps", "name"), (f"/apps/{APP}/releases", "version"), (f"/apps/{APP}/releases", "id"),
    (f"/apps/{APP}/domains", "hostname"), (f"/apps/{APP}/domains", "id"), ("/stacks", "name"),
    (f"/apps/{APP}/formation", "type"), (f"/apps/{APP}/dynos", "name"), (f"/apps/{APP}/builds", "id"),
])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_next_range_pages_through_the_whole_list_once(d: Daemon, path: str, field: str, order: str) -> None:
    whole = call(d, "GET", path)
    assert whole.status_code == 200 and "Next-Range" not in whole.headers, whole.headers
    assert field in whole.headers["Accept-Ranges"].replace(" ", "").split(",")
    everything = sorted(x["id"] for x in whole.json())
    answers = list(pages(d, path, f"{field} ..; max=2, order={order}"))
    assert [r.status_code for r in answers] == [206] * (len(answers) - 1) + [200]
    assert all(len(r.json()) == 2 for r in answers[:-1])
    sent = [x for r in answers for x in r.json()]
    assert sorted(x["id"] for x in sent) == everything, "no item lost, none repeated"
    values = [x[field] for x in sent]
    assert values == sorted(values, reverse=order == "desc")


def test_paging_keeps_an_upper_bound(d: Daemon) -> None:
    answers = list(pages(d, f"/apps/{APP}/releases", "version 2..9; max=3"))
    assert [x["version"] for r in answers for x in r.json()] == list(range(2, 10))
    assert [r.status_code for r in answers] == [206, 206, 200]
    answers = list(pages(d, f"/apps/{APP}/releases", "version ..8[; max=3, order=desc"))
    assert [x["version"] for r in answers for x in r.json()] == list(range(12, 8, -1))


def test_a_cut_list_says_where_the_next_page_starts(d: Daemon) -> None:
    response = ranged(d, f"/apps/{APP}/releases", "version ..; max=5")
    assert response.status_code == 206
    assert response.headers["Next-Range"] == "version ]5..; max=5, order=asc"
    assert response.headers["Content-Range"].startswith("version 1..5")
    assert response.headers["Accept-Ranges"] == "id, version"


# --- Request-Id -------------------------------------------------------------------------------------------


def fresh_uuid(response: httpx.Response) -> str:
    value = response.headers.get("Request-Id")
    assert value is not None, (response.status_code, dict(response.headers))
    assert str(uuid.UUID(value)) == value, value
    return value


def test_every_answer_has_its_own_request_id(d: Daemon) -> None:
    answers = [
        call(d, "GET", "/apps"),  # 200
        ranged(d, "/apps", "name ..; max=1"),  # 206
        call(d, "POST", "/apps", json={"name": "made-for-request-id"}),  # 201
        call(d, "GET", "/apps/no-such-app"),  # 404
        call(d, "GET", "/no/such/endpoint"),  # 404, no route
        call(d, "GET", "/apps", auth=False),  # 401
        call(d, "POST", "/apps", json={"name": "Not A Name"}),  # 422
        ranged(d, "/apps", "colour .."),  # 400
        call(d, "GET", "/apps", accept="application/vnd.heroku+json; version=2"),  # 406
        call(d, "PUT", "/apps"),  # wrong verb
        call(d, "GET", "/account/rate-limits"),
    ]
    assert [r.status_code for r in answers] == [200, 206, 201, 404, 404, 401, 422, 400, 406, 404, 200]
    ids = [fresh_uuid(r) for r in answers]
    assert len(set(ids)) == len(ids)
    call(d, "DELETE", "/apps/made-for-request-id")


def test_log_stream_has_a_request_id(d: Daemon) -> None:
    session = call(d, "POST", f"/apps/{APP}/log-sessions", json={"lines": 5}).json()
    with CLIENT.stream("GET", session["logplex_url"]) as stream:
        assert stream.status_code == 200
        fresh_uuid(stream)
        stream.read()


@pytest.mark.parametrize("given", ["my-request-1", str(uuid.uuid4()), "a" * 200, "tracking id: 42/x"])
def test_a_clients_request_id_is_echoed(d: Daemon, given: str) -> None:
    assert call(d, "GET", "/apps", {"Request-Id": given}).headers["Request-Id"] == given
    assert call(d, "GET", "/apps/nope", {"Request-Id": given}).headers["Request-Id"] == given


@pytest.mark.parametrize("given", ["a" * 201, b"caf\xc3\xa9", b"\xff\xfe", "tab\there"], ids=repr)
def test_a_request_id_that_is_not_a_sane_token_gets_a_fresh_one(d: Daemon, given: str | bytes) -> None:
    response = call(d, "GET", "/apps", {"Request-Id": given})
    assert response.status_code == 200
    fresh_uuid(response)


# --- rate limit -------------------------------------------------------------------------------------------

LIMIT = 40


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose bucket holds LIMIT tokens (refilled over an hour: none come back during the test)."""
    daemon = start_daemon(tmp_path_factory.mktemp("limited") / "home", HEROKUSIM_API_RATE_LIMIT=str(LIMIT))
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


def remaining(response: httpx.Response) -> int:
    return int(response.headers["RateLimit-Remaining"])


def rate_limits(daemon: Daemon) -> int:
    response = call(daemon, "GET", "/account/rate-limits")
    assert response.status_code == 200, response.text
    schema = json.loads((SCHEMAS / "account-rate-limit.json").read_text())
    jsonschema.validate(response.json(), schema)
    assert remaining(response) == response.json()["remaining"]
    return response.json()["remaining"]


def test_rate_limit_counts_down_then_answers_429(limited: Daemon) -> None:
    start = rate_limits(limited)
    assert 0 < start <= LIMIT
    assert rate_limits(limited) == start, "reading the rate limit costs nothing"
    seen = [remaining(call(limited, "GET", "/apps")) for _ in range(3)]
    assert seen == [start - 1, start - 2, start - 3]
    assert remaining(call(limited, "GET", "/apps/nope")) == start - 4, "an error costs a token too"
    assert remaining(call(limited, "GET", "/apps", auth=False)) == start - 4, "an unauthenticated one does not"
    assert remaining(call(limited, "GET", "/apps", {"User-Agent": "herokusim-tui"})) == start - 4, \
        "the TUI's polling does not count"
    answers = [call(limited, "GET", "/apps") for _ in range(start - 4)]
    assert [r.status_code for r in answers] == [200] * (start - 4)
    assert remaining(answers[-1]) == 0
    refused = call(limited, "POST", "/apps", json={"name": "too-late"})
    message = assert_error(refused, 429, "rate_limit")
    assert message.startswith("Your account reached the API rate limit")
    assert remaining(refused) == 0 and fresh_uuid(refused)
    assert rate_limits(limited) == 0, "the rate limit still answers"
    assert_error(call(limited, "GET", "/account/rate-limits", auth=False), 401, "unauthorized")
    assert call(limited, "GET", "/apps/too-late", {"User-Agent": "herokusim-tui"}).status_code == 404, \
        "nothing was created"
    # the CLI says why, in Heroku's words
    result = limited.cli("apps")
    assert result.returncode == 1 and "API rate limit" in result.stderr, (result.stdout, result.stderr)


def test_rate_limit_is_on_every_answer(d: Daemon) -> None:
    for response in (call(d, "GET", "/apps"), call(d, "GET", "/apps/nope"), call(d, "GET", "/apps", auth=False)):
        assert remaining(response) > 0


def test_rate_limit_bucket_refills_and_zero_turns_it_off() -> None:
    from herokusim.api.account_api import RateLimit

    clock = [0.0]
    bucket = RateLimit(3, refill_seconds=30, now=lambda: clock[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock[0] += 10
    assert bucket.remaining == 1 and bucket.take() and not bucket.take()
    off = RateLimit(0)
    assert all(off.take() for _ in range(10_000))


# --- Accept -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [
    "application/vnd.heroku+json; version=3", "application/vnd.heroku+json;version=3",
    "application/vnd.heroku+json; version=3.cedar-acm", "application/vnd.heroku+json; version=3.variant",
    "application/json", "*/*", None, "application/vnd.heroku+json",
    "application/vnd.heroku+json; version=2, application/json",
], ids=repr)
def test_accepted_versions(d: Daemon, accept: str | None) -> None:
    response = call(d, "GET", "/apps", accept=accept)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("accept", ["application/vnd.heroku+json; version=2",
                                    "application/vnd.heroku+json; version=30",
                                    "application/vnd.heroku+json; version=1.0"])
def test_another_api_version_is_406(d: Daemon, accept: str) -> None:
    message = assert_error(call(d, "GET", "/apps", accept=accept), 406, "not_acceptable")
    assert "version=3" in message


# --- error ids --------------------------------------------------------------------------------------------


def test_errors_carry_herokus_ids(d: Daemon) -> None:
    assert_error(call(d, "GET", "/apps/no-such-app"), 404, "not_found")
    assert_error(call(d, "GET", "/no/such/endpoint"), 404, "not_found")
    assert_error(call(d, "PUT", f"/apps/{APP}"), 404, "not_found")  # Heroku: a wrong verb is no endpoint
    assert_error(call(d, "GET", "/apps", {"Authorization": "Bearer wrong"}, auth=False), 401, "unauthorized")
    assert_error(call(d, "POST", "/apps", json={"name": "-bad-"}), 422, "invalid_params")
    taken = assert_error(call(d, "POST", "/apps", json={"name": APP}), 422, "invalid_params")
    assert "already taken" in taken
    in_use = call(d, "POST", f"/apps/{APPS[1]}/domains", json={"hostname": DOMAINS[0]})
    assert "in use" in assert_error(in_use, 422, "invalid_params")
    body = call(d, "PATCH", f"/apps/{APP}/config-vars", content=b"{not json", headers={
        "Content-Type": "application/json"})
    assert_error(body, 400, "bad_request")
    assert_error(call(d, "PATCH", f"/apps/{APP}/config-vars", json=["X"]), 422, "invalid_params")


def test_error_answers_are_json_with_only_id_and_message(d: Daemon) -> None:
    response = call(d, "GET", "/apps/no-such-app")
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(response.json()) <= {"id", "message", "url"}
    assert re.fullmatch(r"[a-z_]+", response.json()["id"])
