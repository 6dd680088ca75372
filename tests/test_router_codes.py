"""router/: every H-code provoked for real, quarantine, kept-alive dyno connections, streaming, metrics.

Uses the in-process harness of test_router.py (a real Router, tiny dyno servers, raw HTTP clients);
timeouts are shortened through Settings only.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import resource
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path

import uvloop
from test_router import (
    APP_ID,
    Client,
    Dyno,
    Seen,
    digest,
    get,
    hello,
    never_answers,
    parse_line,
    platform,
    run,
    websocket_echo,
)

from herokusim.router.limits import BACKLOG_PER_DYNO
from herokusim.router.table import Backend


def assert_line(line: str, expected: str) -> None:
    """`expected` is the exact router line with `<id>` for a request id, `<ms>` for a duration, `<n>` a number."""
    pattern = re.escape(expected).replace("<id>", r"[0-9a-f-]{36}").replace("<ms>", r"\d+ms").replace("<n>", r"\d+")
    assert re.fullmatch(pattern, line), f"\n{line}\n!=\n{expected}"


def run_long(seconds: float) -> Callable[..., Callable[..., None]]:
    """Like test_router.run, with a longer limit, for tests that move a lot of bytes."""

    def decorate(test: Callable[..., Coroutine[object, object, None]]) -> Callable[..., None]:
        @functools.wraps(test)
        def wrapper(*args: object, **kwargs: object) -> None:
            uvloop.run(asyncio.wait_for(test(*args, **kwargs), seconds))

        return wrapper

    return decorate


# --- H11 -------------------------------------------------------------------------------------------------


@run
async def test_more_than_200_requests_per_dyno_in_flight_is_h11(tmp_path: Path) -> None:
    async with platform(tmp_path, never_answers) as p:
        clients = []
        for i in range(BACKLOG_PER_DYNO):
            client = await Client.open(p.port)
            client.request("GET", f"/busy/{i}")
            clients.append(client)
        while p.route.metrics.inflight < BACKLOG_PER_DYNO:
            await asyncio.sleep(0.01)
        response = await get(p.port, "/one-too-many")
        assert response.status == 503
        assert b"Application error" in response.body
        assert_line(p.lines()[-1], 'at=error code=H11 desc="Backlog too deep" method=GET path="/one-too-many" '
                    'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno= connect= service= status=503 bytes= '
                    "protocol=http")
        for client in clients:
            client.close()
        while p.route.metrics.inflight:
            await asyncio.sleep(0.01)


# --- H15: the dyno goes quiet mid-response; bytes that keep flowing are never cut ------------------------


async def goes_quiet(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
    await writer.drain()
    await reader.read()


async def trickles(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.2)  # under the 0.3 s first-byte timeout
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(15):  # 1.5 s in all, far past the 0.4 s idle window, one byte every 0.1 s
        writer.write(b"1\r\n.\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
    writer.write(b"0\r\n\r\n")


@run
async def test_dyno_going_quiet_mid_response_is_h15(tmp_path: Path) -> None:
    async with platform(tmp_path, goes_quiet, router_idle_timeout=0.4) as p:
        client = await Client.open(p.port)
        client.request("GET", "/quiet")
        await client.read_until(b"first\r\n")
        assert await client.closed()  # cut off: the response can never complete
        client.close()
        assert_line(p.lines()[-1], 'at=error code=H15 desc="Idle connection" method=GET path="/quiet" '
                    'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno=web.1 connect=<ms> service=<ms> '
                    "status=503 bytes=5 protocol=http")
        service = int(parse_line(p.lines()[-1])["service"].removesuffix("ms"))
        assert service >= 400


@run
async def test_a_response_that_keeps_streaming_is_never_cut(tmp_path: Path) -> None:
    async with platform(tmp_path, trickles, router_timeout=0.3, router_idle_timeout=0.4) as p:
        client = await Client.open(p.port)
        client.request("GET", "/stream")
        response = await client.response()
        assert (response.status, response.body) == (200, b"." * 15)
        client.close()
        assert_line(p.lines()[-1], 'at=info method=GET path="/stream" host=demo.localhost request_id=<id> '
                    'fwd="127.0.0.1" dyno=web.1 connect=<ms> service=<ms> status=200 bytes=15 protocol=http')


# --- H28: the client stops sending its request; an upload that keeps coming is never cut ----------------


@run
async def test_client_going_quiet_mid_upload_is_h28(tmp_path: Path) -> None:
    async with platform(tmp_path, digest, router_idle_timeout=0.4) as p:
        client = await Client.open(p.port)
        client.send(b"POST /upload HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 100\r\n\r\nhalf")
        assert await client.closed()
        client.close()
        assert_line(p.lines()[-1], 'at=warning code=H28 desc="Client Connection Idle" method=POST path="/upload" '
                    'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno=web.1 connect=<ms> service=<ms> '
                    "status=499 bytes=0 protocol=http")
        assert p.route.backends[0].inflight == 0


@run
async def test_a_head_that_never_finishes_is_dropped_without_a_line(tmp_path: Path) -> None:
    async with platform(tmp_path, router_idle_timeout=0.3) as p:
        client = await Client.open(p.port)
        client.send(b"GET /slowloris HTTP/1.1\r\nHost: demo.localhost\r\n")
        assert await client.closed()
        client.close()
        assert p.lines() == [] and p.dynos[0].requests == []


@run
async def test_an_upload_that_keeps_coming_is_never_cut(tmp_path: Path) -> None:
    async with platform(tmp_path, digest, router_timeout=0.3, router_idle_timeout=0.4) as p:
        client = await Client.open(p.port)
        client.send(b"POST /upload HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 15\r\n\r\n")
        for _ in range(15):
            client.send(b".")
            await asyncio.sleep(0.1)
        response = await client.response()
        assert (response.status, response.body) == (201, hashlib.sha256(b"." * 15).hexdigest().encode())
        client.close()


# --- H18 ---------------------------------------------------------------------------------------------------


async def dies_mid_body(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()


@run
async def test_dyno_closing_mid_response_is_h18(tmp_path: Path) -> None:
    async with platform(tmp_path, dies_mid_body) as p:
        client = await Client.open(p.port)
        client.request("GET", "/partial")
        head = await client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await client.reader.readexactly(10) == b"0123456789"
        assert await client.closed()
        client.close()
        assert_line(p.lines()[-1], 'sock=backend at=error code=H18 desc="Server Request Interrupted" method=GET '
                    'path="/partial" host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno=web.1 connect=<ms> '
                    "service=<ms> status=503 bytes=10 protocol=http")


# --- H19, quarantine, H99 ------------------------------------------------------------------------------


def not_accepting() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket whose accept queue is full: the kernel leaves new connections hanging."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)
    return listener, fillers


@run
async def test_dyno_not_accepting_is_h19_then_quarantined(tmp_path: Path) -> None:
    listener, fillers = not_accepting()
    try:
        async with platform(tmp_path, router_connect_timeout=0.3, router_quarantine=60, boot_wait=0.5) as p:
            stuck = Backend("web.1", "127.0.0.1", listener.getsockname()[1])
            p.table.set_backends(APP_ID, [stuck], crashed=False)
            response = await get(p.port, "/")
            assert response.status == 503
            assert b"Application error" in response.body
            assert_line(p.lines()[-1], 'at=error code=H19 desc="Backend connection timeout" method=GET path="/" '
                        'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno=web.1 connect=<ms> service= '
                        "status=503 bytes= protocol=http")
            assert int(parse_line(p.lines()[-1])["connect"].removesuffix("ms")) >= 300
            # quarantined for longer than a request may wait: H99 at once, no new connection attempt
            response = await get(p.port, "/again")
            assert response.status == 503
            assert_line(p.lines()[-1], 'at=error code=H99 desc="Platform error" method=GET path="/again" '
                        'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno= connect= service= status=503 '
                        "bytes= protocol=http")
            assert stuck.inflight == 0
    finally:
        for sock in (listener, *fillers):
            sock.close()


@run
async def test_a_refusing_dyno_is_quarantined_and_skipped(tmp_path: Path) -> None:
    async with platform(tmp_path, hello, hello, router_quarantine=60) as p:
        await p.dynos[0].stop()  # web.1 now refuses connections
        loop = asyncio.get_running_loop()
        for _ in range(20):
            response = await get(p.port)
            assert (response.status, response.body) == (200, b"hello from web.2")
        refusing = p.route.backends[0]
        assert refusing.dyno == "web.1" and refusing.quarantined_until > loop.time() + 50
        assert all(parse_line(line)["status"] == "200" for line in p.lines())


@run
async def test_quarantine_ends_and_the_dyno_is_tried_again(tmp_path: Path) -> None:
    async with platform(tmp_path, hello, router_quarantine=0.3) as p:
        port = p.dynos[0].port
        await p.dynos[0].stop()
        assert (await get(p.port)).status == 503  # refused: H21, and quarantined
        assert parse_line(p.lines()[-1])["code"] == "H21"
        p.dynos[0].server = await asyncio.start_server(p.dynos[0]._serve, "127.0.0.1", port)
        response = await get(p.port)  # waits out the quarantine, then gets through
        assert (response.status, response.body) == (200, b"hello from web.1")


# --- H25 -------------------------------------------------------------------------------------------------


H25_TAIL = 'host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno= connect= service= status=400 bytes= protocol=http'


async def send_raw(port: int, head: bytes) -> tuple[int, bytes]:
    client = await Client.open(port)
    client.send(head)
    response = await client.response()
    closed = await client.closed()
    client.close()
    assert closed, "the router closes the connection after refusing a request"
    return response.status, response.body


@run
async def test_oversized_request_line_is_h25(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        status, body = await send_raw(p.port, b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        assert status == 400 and b"limits" in body
        line = p.lines()[-1]
        assert line.startswith('at=error code=H25 desc="HTTP restriction: oversized status line" method=GET path="/aaa')
        assert line.endswith(H25_TAIL.replace("<id>", parse_line(line)["request_id"]))
        assert p.dynos[0].requests == []


@run
async def test_oversized_headers_are_h25(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        heads = [
            b"GET /big HTTP/1.1\r\nHost: demo.localhost\r\nX-Big: " + b"b" * 8200 + b"\r\n\r\n",
            b"GET /name HTTP/1.1\r\nHost: demo.localhost\r\n" + b"X" * 1001 + b": v\r\n\r\n",
            b"GET /many HTTP/1.1\r\nHost: demo.localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(1001)) + b"\r\n",
        ]
        for head in heads:
            status, _ = await send_raw(p.port, head)
            assert status == 400
        paths = ["/big", "/name", "/many"]
        for line, path in zip(p.lines(), paths, strict=True):
            assert_line(line, f'at=error code=H25 desc="HTTP restriction: oversized header" method=GET path="{path}" '
                        + H25_TAIL)
        assert p.dynos[0].requests == []


@run
async def test_invalid_content_length_is_h25(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        status, _ = await send_raw(p.port, b"POST /up HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: ten\r\n\r\n")
        assert status == 400
        assert_line(p.lines()[-1], 'at=error code=H25 desc="HTTP restriction: invalid content length" method=POST '
                    'path="/up" ' + H25_TAIL)


async def huge_header(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nSet-Cookie: " + b"c" * 9000 + b"\r\nContent-Length: 2\r\n\r\nok")


@run
async def test_oversized_response_header_is_h25_502(tmp_path: Path) -> None:
    async with platform(tmp_path, huge_header) as p:
        response = await get(p.port, "/cookie")
        assert response.status == 502
        assert b"Application error" in response.body
        assert_line(p.lines()[-1], 'at=error code=H25 desc="HTTP restriction: oversized header" method=GET '
                    'path="/cookie" host=demo.localhost request_id=<id> fwd="127.0.0.1" dyno=web.1 connect=<ms> '
                    "service=<ms> status=502 bytes=0 protocol=http")


# --- kept-alive dyno connections -------------------------------------------------------------------------


@run
async def test_dyno_connections_are_kept_alive_and_reused(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        for _ in range(5):
            assert (await get(p.port)).status == 200
        assert p.dynos[0].connections == 1
        assert all(parse_line(line)["connect"] == "0ms" for line in p.lines()[1:])


@run
async def test_a_dyno_serving_one_connection_at_a_time_is_not_starved(tmp_path: Path) -> None:
    # Like a single-threaded HTTP/1.1 server: it reads the next request on the same connection until that
    # connection closes, and only then accepts another.
    turn = asyncio.Lock()

    async def one_at_a_time(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:  # fmt: skip
        await asyncio.sleep(0.1)
        await hello(dyno, seen, reader, writer)

    async with platform(tmp_path, one_at_a_time) as p:
        dyno = p.dynos[0]
        serve = dyno._serve

        async def serialised(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with turn:
                await serve(reader, writer)

        assert dyno.server is not None
        dyno.server.close()
        dyno.server = await asyncio.start_server(serialised, "127.0.0.1", dyno.port)
        responses = await asyncio.gather(*(get(p.port, f"/{i}") for i in range(4)))
        assert [r.status for r in responses] == [200] * 4
        assert not p.route.backends[0].keep_alive


# --- domains and metrics -----------------------------------------------------------------------------------


@run
async def test_custom_domains_route_to_the_app(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        p.table.add_domain(APP_ID, "www.example.com")
        response = await get(p.port, "/", host="WWW.example.com:8080")
        assert (response.status, response.body) == (200, b"hello from web.1")
        assert parse_line(p.lines()[-1])["host"] == "www.example.com"
        p.table.remove_domain(APP_ID, "www.example.com")
        response = await get(p.port, "/", host="www.example.com")
        assert response.status == 404 and b"No such app" in response.body


@run
async def test_metrics_snapshot(tmp_path: Path) -> None:
    async with platform(tmp_path, hello, never_answers, router_timeout=0.2) as p:
        responses = [await get(p.port, f"/{i}") for i in range(12)]
        p.table.update(APP_ID, maintenance=True)
        assert (await get(p.port)).status == 503
        snap = p.router.metrics(APP_ID)
        assert snap is not None
        assert list(snap) == ["app", "time", "window_seconds", "requests_per_second", "inflight", "requests",
                              "connect_ms", "service_ms", "status", "codes", "dynos"]
        ok = sum(r.status == 200 for r in responses)
        timeouts = len(responses) - ok
        assert snap["app"] == "demo" and snap["window_seconds"] == 60 and snap["inflight"] == 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", snap["time"])
        assert snap["requests"] == 13
        assert snap["status"] == {"2xx": ok, "3xx": 0, "4xx": 0, "5xx": timeouts + 1}
        assert snap["codes"] == {"H80": 1, **({"H12": timeouts} if timeouts else {})}
        assert snap["requests_per_second"] > 0
        assert set(snap["service_ms"]) == {"p50", "p95", "p99"}
        if timeouts:
            assert snap["service_ms"]["p99"] >= 150  # the 200 ms timeouts (buckets are within ~12 %)
        names = [d["name"] for d in snap["dynos"]]
        assert names == ["web.1", "web.2"]
        assert sum(d["requests"] for d in snap["dynos"]) == 12
        assert set(snap["dynos"][0]) == {"name", "inflight", "requests", "requests_per_second", "connect_ms",
                                         "service_ms"}
        assert p.router.metrics("no-such-app") is None


# --- big bodies ----------------------------------------------------------------------------------------

GIGABYTE = 1024**3
PIECE = 1024 * 1024


async def gigabyte(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % GIGABYTE)
    piece = b"x" * PIECE
    for _ in range(GIGABYTE // PIECE):
        writer.write(piece)
        await writer.drain()


async def counts_body(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # the request says `Expect: 100-continue`, so the harness left the body for us to read as it comes
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    size = int(seen.headers["content-length"])
    left = size
    while left:
        left -= len(await reader.read(min(left, PIECE)))
    body = str(size).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@run_long(120)
async def test_a_gigabyte_streams_both_ways_without_buffering(tmp_path: Path) -> None:
    before = _max_rss_mb()
    async with platform(tmp_path, gigabyte, router_timeout=5.0) as p:
        client = await Client.open(p.port)
        client.request("GET", "/download")
        head = await client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        received = 0
        while received < GIGABYTE:
            data = await client.reader.read(4 * PIECE)
            assert data
            received += len(data)
        assert received == GIGABYTE
        client.close()
        assert parse_line(p.lines()[-1])["bytes"] == str(GIGABYTE)

    async with platform(tmp_path, counts_body) as p:
        client = await Client.open(p.port)
        client.send(b"PUT /upload HTTP/1.1\r\nHost: demo.localhost\r\nExpect: 100-continue\r\n"
                    b"Content-Length: %d\r\n\r\n" % GIGABYTE)
        piece = b"y" * PIECE
        for _ in range(GIGABYTE // PIECE):
            client.send(piece)
            await client.writer.drain()
        assert await client.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        response = await client.response()
        assert (response.status, response.body) == (200, str(GIGABYTE).encode())
        client.close()
    # the router, the dyno and the client share this process: none of them held the gigabyte
    assert _max_rss_mb() - before < 200


@run
async def test_a_kept_alive_connection_the_dyno_just_closed_is_retried_on_a_new_one(tmp_path: Path) -> None:
    served: dict[int, int] = {}

    async def one_per_connection(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:  # fmt: skip
        key = id(writer)
        served[key] = served.get(key, 0) + 1
        if served[key] > 1:  # a keep-alive timeout that fired just as the next request came in
            writer.transport.abort()
            return
        await hello(dyno, seen, reader, writer)

    async with platform(tmp_path, one_per_connection) as p:
        for _ in range(3):
            response = await get(p.port)
            assert (response.status, response.body) == (200, b"hello from web.1")
        assert [parse_line(line)["status"] for line in p.lines()] == ["200", "200", "200"]
        assert p.dynos[0].connections == 3


@run
async def test_a_websocket_is_closed_after_the_idle_window_and_kept_while_it_talks(tmp_path: Path) -> None:
    async with platform(tmp_path, websocket_echo, router_idle_timeout=0.4) as p:
        client = await Client.open(p.port)
        client.send(b"GET /cable HTTP/1.1\r\nHost: demo.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert (await client.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
        for _ in range(8):  # 0.8 s of traffic: twice the idle window, never cut
            client.send(b"ping")
            assert await client.reader.readexactly(4) == b"PING"
            await asyncio.sleep(0.1)
        assert await client.closed()  # then quiet: closed after the idle window
        client.close()
        assert [parse_line(line)["status"] for line in p.lines()] == ["101"]
