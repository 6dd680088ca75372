"""router/: a real Router on a loopback port, real tiny dyno servers behind it, real HTTP in front."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import uvloop

from herokusim.clock import Clock
from herokusim.config import Settings
from herokusim.logplex import Logplex
from herokusim.router.errors import H10, H12, H18, H80, H81, route_error
from herokusim.router.line import request_id_source, router_line
from herokusim.router.server import Router
from herokusim.router.table import AppRoute, Backend, RoutingTable

APP_ID = "0b7f5e52-app"
HOST = "demo.localhost"
UUID_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run(test: Callable[..., Coroutine[object, object, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest-asyncio here), with a hard time limit."""

    @functools.wraps(test)
    def wrapper(*args: object, **kwargs: object) -> None:
        runner = uvloop.run if os.environ.get("ROUTER_TEST_LOOP") == "uvloop" else asyncio.run
        runner(asyncio.wait_for(test(*args, **kwargs), 30))  # a hang guard, generous for a loaded machine

    return wrapper


async def until(condition: Callable[[], bool], message: str = "the router", timeout: float = 10.0) -> None:
    """Wait for something the router does on its own; a generous deadline, as a loaded machine is slow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {message}"
        await asyncio.sleep(0.005)


# --- tiny dynos ---------------------------------------------------------------------------------------


@dataclass
class Seen:
    """A request as the dyno received it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    first, *lines = head.decode("latin-1").split("\r\n")[:-2]
    method, target, _ = first.split(" ")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    body = b""
    if headers.get("expect", "").lower() == "100-continue":
        return Seen(method, target, headers, body)  # the responder decides when to read the body
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    return Seen(method, target, headers, body)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


Responder = Callable[["Dyno", Seen, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def hello(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = f"hello from {dyno.name}".encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body))
    if seen.method != "HEAD":
        writer.write(body)


@dataclass
class Dyno:
    """A tiny HTTP server standing in for a web dyno; `respond` answers each request it reads."""

    name: str
    respond: Responder = hello
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> Dyno:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (seen := await read_request(reader)) is not None:
                self.requests.append(seen)
                await self.respond(self, seen, reader, writer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def backend(self) -> Backend:
        return Backend(self.name, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


# --- the platform under test --------------------------------------------------------------------------


@dataclass
class Platform:
    router: Router
    table: RoutingTable
    logplex: Logplex
    dynos: list[Dyno]
    port: int

    @property
    def route(self) -> AppRoute:
        route = self.table.get(APP_ID)
        assert route is not None
        return route

    def lines(self) -> list[str]:
        return [line.message for line in self.logplex.history(APP_ID, num=1500) if line.process == "router"]

    def fields(self, index: int = -1) -> dict[str, str]:
        return parse_line(self.lines()[index])


@contextlib.asynccontextmanager
async def platform(
    tmp_path: Path,
    *responders: Responder,
    up: bool = True,
    router_timeout: float = 5.0,
    boot_wait: float = 5.0,
    **more_settings: float,
) -> AsyncIterator[Platform]:
    """The router in front of app `demo` with one tiny dyno per responder (`web.1`, `web.2`, ...)."""
    settings = Settings(home=tmp_path, router_timeout=router_timeout, router_boot_wait=boot_wait,
                        **more_settings)  # type: ignore[arg-type]
    table = RoutingTable()
    logplex = Logplex(Clock())
    dynos = [await Dyno(f"web.{i}", respond).start() for i, respond in enumerate(responders or (hello,), 1)]
    table.add_app(APP_ID, "demo")
    table.update(APP_ID, released=True, web_quantity=len(dynos))
    if up:
        table.set_backends(APP_ID, [dyno.backend() for dyno in dynos], crashed=False)
    router = Router(table, logplex, settings)
    port = await router.start("127.0.0.1", 0)
    try:
        yield Platform(router, table, logplex, dynos, port)
    finally:
        await router.stop()
        for dyno in dynos:
            await dyno.stop()
    assert not router.tasks and not router.clients


def parse_line(line: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in re.findall(r'(\w+)=("[^"]*"|\S*)', line)}


# --- a raw HTTP client --------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One client connection to the router, speaking HTTP/1.1 byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def request(self, method: str = "GET", target: str = "/", headers: dict[str, str] | None = None,
                body: bytes = b"", host: str = HOST) -> None:  # fmt: skip
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def response(self, head_only: bool = False) -> Response:
        done = asyncio.Event()
        parts: list[bytes] = []
        headers: dict[str, str] = {}

        class Callbacks:
            def on_header(self, name: bytes, value: bytes) -> None:
                headers[name.decode().lower()] = value.decode()

            def on_headers_complete(self) -> None:
                if head_only:
                    done.set()

            def on_body(self, body: bytes) -> None:
                parts.append(body)

            def on_message_complete(self) -> None:
                done.set()

        parser = httptools.HttpResponseParser(Callbacks())
        while not done.is_set():
            data = await self.reader.read(65536)
            assert data, "the router closed the connection before the response was complete"
            parser.feed_data(data)
        return Response(parser.get_status_code(), headers, b"".join(parts))

    async def read_until(self, marker: bytes) -> bytes:
        return await self.reader.readuntil(marker)

    async def closed(self) -> bool:
        """True when the router has closed this connection (after anything still unread)."""
        try:
            return await asyncio.wait_for(self.reader.read(65536), 10) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


async def get(port: int, target: str = "/", **kwargs: object) -> Response:
    client = await Client.open(port)
    try:
        client.request("GET", target, **kwargs)  # type: ignore[arg-type]
        return await client.response()
    finally:
        client.close()


# --- pure parts ---------------------------------------------------------------------------------------


def test_router_line_for_a_served_request() -> None:
    line = router_line(
        method="GET", path="/x?y=1", host="demo.localhost", request_id="abc", fwd="127.0.0.1",
        dyno="web.2", connect_ms=1, service_ms=18, status=200, bytes_sent=13,
    )  # fmt: skip
    assert line == (
        'at=info method=GET path="/x?y=1" host=demo.localhost request_id=abc fwd="127.0.0.1" '
        "dyno=web.2 connect=1ms service=18ms status=200 bytes=13 protocol=http"
    )


def test_router_line_for_errors() -> None:
    common = {"method": "GET", "path": "/", "host": "demo.localhost", "request_id": "r1", "fwd": "127.0.0.1"}
    timeout = router_line(**common, dyno="web.1", connect_ms=0, service_ms=30000, status=503,  # type: ignore[arg-type]
                          bytes_sent=0, error=H12)  # fmt: skip
    assert timeout == (
        'at=error code=H12 desc="Request timeout" method=GET path="/" host=demo.localhost request_id=r1 '
        'fwd="127.0.0.1" dyno=web.1 connect=0ms service=30000ms status=503 bytes=0 protocol=http'
    )
    crashed = router_line(**common, status=503, error=H10)  # type: ignore[arg-type]
    assert crashed.startswith('at=error code=H10 desc="App crashed" method=GET')
    assert crashed.endswith("dyno= connect= service= status=503 bytes= protocol=http")
    maintenance = router_line(**common, status=503, error=H80)  # type: ignore[arg-type]
    assert maintenance.startswith('at=info code=H80 desc="Maintenance mode" ')
    interrupted = router_line(**common, dyno="web.1", connect_ms=1, service_ms=5, status=503, error=H18)  # type: ignore[arg-type]
    assert interrupted.startswith('sock=backend at=error code=H18 desc="Server Request Interrupted" ')


def test_route_error_follows_herokus_order() -> None:
    up = [Backend("web.1", "127.0.0.1", 1)]
    assert route_error(AppRoute("a", "a", released=False, maintenance=True, web_quantity=0)) is H81
    assert route_error(AppRoute("a", "a", released=True, maintenance=True, web_quantity=0)) is H80
    assert route_error(AppRoute("a", "a", released=True, web_quantity=0, crashed=True)).code == "H14"  # type: ignore[union-attr]
    assert route_error(AppRoute("a", "a", released=True, web_quantity=1, crashed=True)) is H10
    assert route_error(AppRoute("a", "a", released=True, web_quantity=2, crashed=True, backends=up)) is None
    assert route_error(AppRoute("a", "a", released=True, web_quantity=1)) is None  # booting: wait


def test_generated_request_ids_are_uuid_shaped_and_unique() -> None:
    new_id = request_id_source()
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(UUID_SHAPE.fullmatch(i) for i in ids)
    assert request_id_source()()[:24] != ids[0][:24]  # another process, another prefix


# --- requests through the router ----------------------------------------------------------------------


@run
async def test_get_is_proxied_and_logged(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        response = await get(p.port, "/x?y=1")
        assert response.status == 200
        assert response.body == b"hello from web.1"
        assert response.headers["content-type"] == "text/plain"
        [line] = p.lines()
        fields = parse_line(line)
        assert line.startswith('at=info method=GET path="/x?y=1" host=demo.localhost request_id=')
        assert fields["fwd"] == "127.0.0.1"
        assert fields["dyno"] == "web.1"
        assert re.fullmatch(r"\d+ms", fields["connect"]) and re.fullmatch(r"\d+ms", fields["service"])
        assert fields["status"] == "200"
        assert fields["bytes"] == str(len(b"hello from web.1"))
        assert fields["protocol"] == "http"
        assert fields["request_id"] == p.dynos[0].requests[0].headers["x-request-id"]
        assert p.route.backends[0].inflight == 0


@run
async def test_dyno_sees_the_routers_headers(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        before = int(time.time() * 1000)
        await get(p.port, "/", host="Demo.localhost:5000")
        after = int(time.time() * 1000)
        seen = p.dynos[0].requests[0]
        assert seen.headers["host"] == "Demo.localhost:5000"
        assert UUID_SHAPE.fullmatch(seen.headers["x-request-id"])
        assert seen.headers["x-forwarded-for"] == "127.0.0.1"
        assert seen.headers["x-forwarded-proto"] == "http"
        assert seen.headers["x-forwarded-port"] == str(p.port)
        assert before <= int(seen.headers["x-request-start"]) <= after
        assert seen.headers["via"] == "1.1 herokusim"
        assert p.fields()["host"] == "demo.localhost"


@run
async def test_client_headers_are_kept_merged_or_replaced(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        valid = "client-id-0123456789+/="
        await get(p.port, headers={"X-Request-Id": valid, "X-Forwarded-For": "10.1.2.3", "Via": "1.0 corp",
                                   "X-Forwarded-Proto": "https", "Accept": "text/html"})  # fmt: skip
        await get(p.port, headers={"X-Request-Id": "too-short"})
        await get(p.port, headers={"X-Request-Id": "has spaces and !punctuation! in it"})
        kept, short, bad = p.dynos[0].requests
        assert kept.headers["x-request-id"] == valid
        assert kept.headers["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
        assert kept.headers["via"] == "1.0 corp, 1.1 herokusim"
        assert kept.headers["x-forwarded-proto"] == "http"
        assert kept.headers["accept"] == "text/html"
        for replaced in (short, bad):
            assert UUID_SHAPE.fullmatch(replaced.headers["x-request-id"])
        first, second, _ = (parse_line(line) for line in p.lines())
        assert first["request_id"] == valid
        assert first["fwd"] == "10.1.2.3, 127.0.0.1"
        assert second["request_id"] == short.headers["x-request-id"]


@run
async def test_unknown_host_gets_no_such_app_and_no_router_line(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        response = await get(p.port, host="nope.localhost")
        assert response.status == 404
        assert b"No such app" in response.body
        assert response.headers["content-length"] == str(len(response.body))
        assert p.logplex.history(APP_ID) == []
        assert p.dynos[0].requests == []


@run
async def test_blank_app_is_h81(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        p.table.update(APP_ID, released=False)
        response = await get(p.port)
        assert response.status == 502
        assert b"Nothing here yet" in response.body
        assert p.lines() == [
            (f'at=info code=H81 desc="Blank app" method=GET path="/" host=demo.localhost '
            f'request_id={p.fields()["request_id"]} fwd="127.0.0.1" dyno= connect= service= status=502 '
            "bytes= protocol=http")
        ]


@run
async def test_maintenance_is_h80(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        p.table.update(APP_ID, maintenance=True)
        response = await get(p.port)
        assert response.status == 503
        assert b"maintenance" in response.body
        assert p.lines()[0].startswith('at=info code=H80 desc="Maintenance mode" method=GET')
        assert p.dynos[0].requests == []


@run
async def test_no_web_dynos_is_h14(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        p.table.update(APP_ID, web_quantity=0)
        p.table.set_backends(APP_ID, [], crashed=False)
        response = await get(p.port)
        assert response.status == 503
        assert b"Application error" in response.body
        assert p.lines()[0].startswith('at=error code=H14 desc="No web processes running" method=GET')
        assert p.lines()[0].endswith("dyno= connect= service= status=503 bytes= protocol=http")


@run
async def test_crashed_app_is_h10(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        p.table.set_backends(APP_ID, [], crashed=True)
        response = await get(p.port)
        assert response.status == 503
        assert b"Application error" in response.body
        assert p.lines()[0].startswith('at=error code=H10 desc="App crashed" method=GET path="/"')


async def never_answers(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the router gives up on us


@run
async def test_slow_dyno_is_h12(tmp_path: Path) -> None:
    async with platform(tmp_path, never_answers, router_timeout=0.3) as p:
        started = time.monotonic()
        response = await get(p.port, "/slow")
        assert time.monotonic() - started >= 0.3
        assert response.status == 503
        assert b"Application error" in response.body
        fields = p.fields()
        assert p.lines()[0].startswith('at=error code=H12 desc="Request timeout" method=GET path="/slow"')
        assert (fields["dyno"], fields["service"], fields["status"], fields["bytes"]) == ("web.1", "300ms", "503", "0")
        assert re.fullmatch(r"\d+ms", fields["connect"])
        assert p.route.backends[0].inflight == 0


@run
async def test_no_dyno_up_in_time_is_h20(tmp_path: Path) -> None:
    async with platform(tmp_path, up=False, boot_wait=0.3) as p:
        started = time.monotonic()
        response = await get(p.port)
        assert time.monotonic() - started >= 0.3
        assert response.status == 503
        assert p.lines()[0].startswith('at=error code=H20 desc="App boot timeout" method=GET')


@run
async def test_request_waits_for_a_booting_dyno(tmp_path: Path) -> None:
    async with platform(tmp_path, up=False) as p:
        dyno = p.dynos[0]
        asyncio.get_running_loop().call_later(0.2, p.table.set_backends, APP_ID, [dyno.backend()], False)
        started = time.monotonic()
        response = await get(p.port)
        assert time.monotonic() - started >= 0.2
        assert (response.status, response.body) == (200, b"hello from web.1")
        assert p.fields()["status"] == "200"


@run
async def test_request_waiting_for_a_dyno_sees_the_app_crash(tmp_path: Path) -> None:
    async with platform(tmp_path, up=False) as p:
        asyncio.get_running_loop().call_later(0.1, p.table.set_backends, APP_ID, [], True)
        response = await get(p.port)
        assert response.status == 503
        assert p.fields()["code"] == "H10"


async def hangs_up(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def not_http(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


@run
async def test_dyno_closing_without_response_is_h13(tmp_path: Path) -> None:
    async with platform(tmp_path, hangs_up) as p:
        response = await get(p.port)
        assert response.status == 503
        assert b"Application error" in response.body
        line = p.lines()[0]
        assert line.startswith('at=error code=H13 desc="Connection closed without response" method=GET')
        assert parse_line(line)["dyno"] == "web.1"


@run
async def test_dyno_speaking_something_else_is_h17(tmp_path: Path) -> None:
    async with platform(tmp_path, not_http) as p:
        response = await get(p.port)
        assert response.status == 503
        assert p.lines()[0].startswith('at=error code=H17 desc="Poorly formatted HTTP response" method=GET')


@run
async def test_refused_connection_is_h21_and_other_dynos_are_tried(tmp_path: Path) -> None:
    async with platform(tmp_path, hello, hello, router_quarantine=0.2) as p:
        await p.dynos[1].stop()
        for _ in range(10):
            response = await get(p.port)
            assert (response.status, response.body) == (200, b"hello from web.1")
        p.table.set_backends(APP_ID, [p.dynos[1].backend()], crashed=False)
        response = await get(p.port)
        assert response.status == 503
        line = p.lines()[-1]
        assert line.startswith('at=error code=H21 desc="Backend connection refused" method=GET')
        assert line.endswith("service= status=503 bytes= protocol=http")
        fields = parse_line(line)
        assert fields["dyno"] == "web.2" and re.fullmatch(r"\d+ms", fields["connect"])
        assert all(backend.inflight == 0 for backend in p.route.backends)


@run
async def test_requests_spread_randomly_over_dynos(tmp_path: Path) -> None:
    async with platform(tmp_path, hello, hello) as p:
        bodies = [(await get(p.port)).body for _ in range(40)]
        assert 5 <= bodies.count(b"hello from web.1") <= 35
        assert bodies.count(b"hello from web.1") + bodies.count(b"hello from web.2") == 40
        dynos = {parse_line(line)["dyno"] for line in p.lines()}
        assert dynos == {"web.1", "web.2"}


@run
async def test_keep_alive_serves_several_requests_on_one_connection(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.request("GET", "/one")
        first = await client.response()
        client.request("HEAD", "/two")
        second = await client.response(head_only=True)
        client.request("GET", "/three", headers={"Connection": "close"})
        third = await client.response()
        assert (first.status, first.body) == (200, b"hello from web.1")
        assert (second.status, second.headers["content-length"]) == (200, "16")
        assert third.body == b"hello from web.1"
        assert await client.closed()
        client.close()
        assert [parse_line(line)["path"] for line in p.lines()] == ["/one", "/two", "/three"]
        assert [parse_line(line)["bytes"] for line in p.lines()] == ["16", "0", "16"]


@run
async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"GET /a HTTP/1.1\r\nHost: demo.localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        data = b""
        while data.count(b"hello from web.1") < 2:
            data += await client.reader.read(65536)
        assert data.count(b"HTTP/1.1 200 OK") == 2
        assert [seen.target for seen in p.dynos[0].requests] == ["/a", "/b"]
        client.close()


def streamer(release: asyncio.Event) -> Responder:
    async def respond(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\npart-1\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\npart-2\r\n0\r\n\r\n")

    return respond


@run
async def test_chunked_response_streams_through(tmp_path: Path) -> None:
    release = asyncio.Event()
    async with platform(tmp_path, streamer(release)) as p:
        client = await Client.open(p.port)
        client.request("GET", "/stream")
        first = await client.read_until(b"part-1\r\n")  # arrives while the dyno still holds part 2
        assert b"transfer-encoding: chunked" in first.lower()
        release.set()
        rest = await client.read_until(b"0\r\n\r\n")
        assert rest == b"6\r\npart-2\r\n0\r\n\r\n"
        assert p.fields()["bytes"] == "12"
        client.close()


async def digest(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = hashlib.sha256(seen.body).hexdigest().encode()
    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@run
async def test_post_bodies_arrive_intact(tmp_path: Path) -> None:
    async with platform(tmp_path, digest) as p:
        payload = os.urandom(3 * 1024 * 1024 + 7)
        client = await Client.open(p.port)
        client.request("POST", "/upload", body=payload)
        response = await client.response()
        assert (response.status, response.body) == (201, hashlib.sha256(payload).hexdigest().encode())

        client.send(b"POST /chunks HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"first ", b"second ", b"third"):
            client.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            await asyncio.sleep(0.02)
        client.send(b"0\r\n\r\n")
        response = await client.response()
        assert response.body == hashlib.sha256(b"first second third").hexdigest().encode()
        first, second = p.dynos[0].requests
        assert first.headers["content-length"] == str(len(payload))
        assert second.headers["transfer-encoding"] == "chunked" and second.body == b"first second third"
        assert parse_line(p.lines()[0])["method"] == "POST"
        client.close()


async def continues(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(int(seen.headers["content-length"]))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@run
async def test_expect_100_continue_passes_through(tmp_path: Path) -> None:
    async with platform(tmp_path, continues) as p:
        client = await Client.open(p.port)
        client.send(b"PUT /x HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert await client.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.send(b"hello")
        response = await client.response()
        assert (response.status, response.body) == (200, b"hello")
        assert p.fields()["status"] == "200"
        client.close()


async def websocket_echo(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    while data := await reader.read(1024):
        writer.write(data.upper())


@run
async def test_upgrade_becomes_a_tunnel(tmp_path: Path) -> None:
    async with platform(tmp_path, websocket_echo) as p:
        client = await Client.open(p.port)
        client.send(b"GET /cable HTTP/1.1\r\nHost: demo.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        head = await client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        client.send(b"ping")
        assert await client.reader.readexactly(4) == b"PING"
        assert p.fields()["status"] == "101"
        client.close()


@run
async def test_connect_is_refused(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"CONNECT demo.localhost:443 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        response = await client.response()
        assert response.status == 405
        assert await client.closed()
        client.close()
        assert p.lines() == [] and p.dynos[0].requests == []


@run
async def test_garbage_gets_400(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"HELLO THERE\r\n\r\n")
        response = await client.response()
        assert response.status == 400
        assert await client.closed()
        client.close()


@run
async def test_client_hanging_up_mid_request_leaks_nothing(tmp_path: Path) -> None:
    async with platform(tmp_path, never_answers) as p:
        client = await Client.open(p.port)
        client.request("GET", "/slow")
        await until(lambda: p.route.backends[0].inflight == 1)
        client.close()
        await until(lambda: p.route.backends[0].inflight == 0)
        assert p.lines()[0].startswith('sock=client at=warning code=H27 desc="Client Request Interrupted"')
        assert p.fields()["status"] == "499"

        # hanging up while waiting for a booting dyno, and halfway through sending a body
        p.table.set_backends(APP_ID, [], crashed=False)
        waiting = await Client.open(p.port)
        waiting.request("GET", "/waits")
        uploading = await Client.open(p.port)
        uploading.send(b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 100\r\n\r\nhalf")
        await until(lambda: len(p.router.tasks) == 2)  # both wait for a dyno
        waiting.close()
        uploading.close()
        await until(lambda: not p.router.tasks)
        assert [parse_line(line)["code"] for line in p.lines()] == ["H27", "H27", "H27"]


@run
async def test_stop_closes_open_connections(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.request()
        await client.response()
        await p.router.stop()
        assert await client.closed()
        client.close()
