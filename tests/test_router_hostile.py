"""router/: hostile and odd clients — idle connections, the connection limit, heads that never end, broken
chunked bodies, pipelining behind a dyno that closes, garbage behind a request in flight.

Uses the in-process harness of test_router.py (a real Router, tiny dyno servers, raw HTTP clients); the idle
window is shortened through Settings only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_router import (
    APP_ID,
    Client,
    Dyno,
    Responder,
    Seen,
    get,
    hello,
    never_answers,
    parse_line,
    platform,
    run,
)


async def read_all(client: Client) -> bytes:
    """Everything the router sends until it closes the connection."""
    data = b""
    while chunk := await asyncio.wait_for(client.reader.read(65536), 5):
        data += chunk
    return data


# --- idle connections and the connection limit (issue 9, item 10) ----------------------------------------


@run
async def test_a_connection_that_sends_nothing_is_closed_after_the_idle_window(tmp_path: Path) -> None:
    async with platform(tmp_path, router_idle_timeout=0.3) as p:
        silent = await Client.open(p.port)
        kept_alive = await Client.open(p.port)
        kept_alive.request("GET", "/once")
        assert (await kept_alive.response()).status == 200
        assert await silent.closed()  # never sent a byte
        assert await kept_alive.closed()  # sent nothing since its response
        silent.close()
        kept_alive.close()
        assert [parse_line(line)["status"] for line in p.lines()] == ["200"]  # closing idle ones logs nothing


@run
async def test_at_the_connection_limit_idle_connections_make_room_and_busy_ones_are_kept(tmp_path: Path) -> None:
    async with platform(tmp_path, never_answers, hello) as p:
        p.router.max_clients = 4
        p.table.set_backends(APP_ID, [p.dynos[1].backend()], crashed=False)  # web.2 answers
        idle = [await Client.open(p.port) for _ in range(4)]
        while len(p.router.clients) < 4:
            await asyncio.sleep(0.01)
        # a fifth connection: the oldest idle one is closed to make room, and the new one is served
        assert (await get(p.port, "/served")).status == 200
        assert await idle[0].closed()
        # four connections busy with requests: none is closed for a newcomer, which is turned away
        p.table.set_backends(APP_ID, [p.dynos[0].backend()], crashed=False)  # web.1 never answers
        busy = [await Client.open(p.port) for _ in range(4)]
        for client in busy:
            client.request("GET", "/busy")
        while p.route.metrics.inflight < 4:
            await asyncio.sleep(0.01)
        turned_away = await Client.open(p.port)
        turned_away.request("GET", "/one-too-many")
        assert await turned_away.reader.read() == b""
        assert p.route.metrics.inflight == 4
        for client in (*idle, *busy, turned_away):
            client.close()


# --- heads that never end (item 11) ------------------------------------------------------------------------


@run
async def test_a_header_line_that_never_ends_is_refused_once_over_the_limit(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        # 16 KB of one header and no end of line: answered now, not when (if ever) the line ends
        client.send(b"GET /endless HTTP/1.1\r\nHost: demo.localhost\r\nX-Endless: " + b"e" * 16384)
        response = await client.response()
        assert response.status == 400
        assert b"limits" in response.body
        assert await client.closed()
        client.close()
        fields = parse_line(p.lines()[-1])
        assert (fields["code"], fields["desc"], fields["path"]) == ("H25", "HTTP restriction: oversized header",
                                                                    "/endless")
        assert p.dynos[0].requests == []


@run
async def test_a_request_line_that_never_ends_is_refused_once_over_the_limit(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"GET /" + b"a" * 16384)
        response = await client.response()
        assert response.status == 400
        assert await client.closed()
        client.close()
        assert p.lines() == []  # no Host yet: no app to log it to
        assert p.dynos[0].requests == []


@run
async def test_the_refusal_reaches_a_client_that_keeps_sending(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"GET /" + b"a" * 300_000)  # far more than the router reads before it answers
        await client.writer.drain()
        assert (await client.response()).status == 400
        client.close()


# --- broken bodies and pipelining (item 12) ------------------------------------------------------------


@run
async def test_a_bad_chunk_size_is_a_400_with_an_h25_line(tmp_path: Path) -> None:
    async with platform(tmp_path, never_answers) as p:
        client = await Client.open(p.port)
        client.send(b"POST /chunks HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\nzz\r\n")
        response = await client.response()
        assert response.status == 400
        assert await client.closed()
        client.close()
        fields = parse_line(p.lines()[-1])
        assert (fields["code"], fields["desc"], fields["method"], fields["path"], fields["status"]) == (
            "H25", "HTTP restriction: invalid content length", "POST", "/chunks", "400")
        assert p.route.backends[0].inflight == 0


async def http10(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Like Python's http.server: HTTP/1.0, one request per connection."""
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold school")
    await writer.drain()
    writer.close()


@run
async def test_pipelined_requests_behind_an_http10_reply_are_logged(tmp_path: Path) -> None:
    async with platform(tmp_path, http10) as p:
        client = await Client.open(p.port)
        client.send(b"".join(b"GET /%s HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" % path for path in (b"a", b"b", b"c")))
        data = await read_all(client)
        client.close()
        assert data.startswith(b"HTTP/1.0 200 OK") and data.endswith(b"old school")
        assert data.count(b"HTTP/") == 1  # the reply ends by closing: nothing can follow it
        lines = [parse_line(line) for line in p.lines()]
        assert [(f["path"], f["status"], f.get("code")) for f in lines] == [
            ("/a", "200", None), ("/b", "503", "H13"), ("/c", "503", "H13")]


@run
async def test_garbage_behind_a_request_in_flight_waits_for_its_response(tmp_path: Path) -> None:
    async with platform(tmp_path) as p:
        client = await Client.open(p.port)
        client.send(b"GET /first HTTP/1.1\r\nHost: demo.localhost\r\n\r\nNOT HTTP AT ALL\r\n\r\n")
        data = await read_all(client)
        client.close()
        first, _, rest = data.partition(b"hello from web.1")
        assert first.startswith(b"HTTP/1.1 200 OK")
        assert rest.startswith(b"HTTP/1.1 400 Bad Request")
        assert [parse_line(line)["status"] for line in p.lines()] == ["200"]


def after(seconds: float) -> Responder:
    async def respond(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        await hello(dyno, seen, reader, writer)

    return respond


@run
async def test_a_deep_pipeline_behind_a_slow_request_is_answered_in_order(tmp_path: Path) -> None:
    async with platform(tmp_path, after(0.2)) as p:
        client = await Client.open(p.port)
        count = 1000  # answered by the router itself (no such app), one after another once /slow is done
        client.send(b"GET /slow HTTP/1.1\r\nHost: demo.localhost\r\n\r\n"
                    + b"GET /nope HTTP/1.1\r\nHost: nope.localhost\r\n\r\n" * count)
        data = b""
        while data.count(b"HTTP/1.1 404") < count:
            chunk = await asyncio.wait_for(client.reader.read(65536), 5)
            assert chunk, "the router closed the connection"
            data += chunk
        client.close()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert [parse_line(line)["path"] for line in p.lines()] == ["/slow"]
