"""router/upstream: the dyno side — finding a request an up dyno, connecting to it, and the dyno connection.

`connect()` runs when no kept-alive connection is idle: it waits for a booting app's first dyno (H20 past
the boot wait), tries up to MAX_CONNECT_ATTEMPTS dynos, quarantining one that refuses (H21) or does not
accept in time (H19), and waits while every dyno is quarantined (H99 past the boot wait). `Upstream` is
one connection to a dyno: it carries one request at a time and is parked on its Backend between requests
when the dyno keeps it alive.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, cast

import httptools

from herokusim.router.errors import (
    H10,
    H17,
    H19,
    H20,
    H21,
    H25_RESPONSE_CONTENT_LENGTH,
    H25_RESPONSE_HEADER,
    H25_RESPONSE_STATUS_LINE,
    H99,
    NO_SUCH_APP_PAGE,
    RouterError,
    route_error,
)
from herokusim.router.limits import (
    MAX_CONNECT_ATTEMPTS,
    MAX_HEAD_BYTES,
    MAX_HEADER,
    MAX_HEADER_NAME,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
)
from herokusim.router.line import ms
from herokusim.router.table import Backend

if TYPE_CHECKING:
    from herokusim.router.client import Client
    from herokusim.router.exchange import Exchange

log = logging.getLogger(__name__)

MAX_IDLE_PER_DYNO = 256  # kept-alive connections parked per dyno


async def connect(ex: Exchange) -> None:
    """Find this request a dyno and connect to it (a task: the hot path reuses a kept-alive connection
    instead); whatever goes wrong unexpectedly is H99."""
    try:
        await _wait_and_connect(ex)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("router: request for %s failed", ex.host_header)
        ex.fail(H99)


async def _wait_and_connect(ex: Exchange) -> None:
    router = ex.router
    settings = router.settings
    table = router.table
    loop = asyncio.get_running_loop()
    route = ex.route
    assert route is not None
    # No dyno is up yet (booting, restarting): wait for one, as Heroku does, up to the boot wait.
    deadline = loop.time() + settings.router_boot_wait
    while not route.backends:
        remaining = deadline - loop.time()
        changed = remaining > 0 and await table.wait_for_change(route, remaining)
        if table.get(route.app_id) is not route:  # the app was destroyed meanwhile
            ex.reply(404, NO_SUCH_APP_PAGE)
            return
        error = route_error(route) or (None if changed or route.backends else H20)
        if error is not None:
            ex.fail(error)
            return
    # Try up to MAX_CONNECT_ATTEMPTS dynos, skipping quarantined ones; a dyno that refuses or does
    # not accept in time is quarantined. When every dyno is quarantined, wait (H99 past the boot wait).
    ex.t_connect = loop.time()
    quarantine_deadline = ex.t_connect + settings.router_boot_wait
    error: RouterError | None = None
    tried: set[Backend] = set()
    for _ in range(MAX_CONNECT_ATTEMPTS):
        now = loop.time()
        candidates = [b for b in route.backends if b not in tried and b.quarantined_until <= now]
        while not candidates and error is None:
            if table.get(route.app_id) is not route:
                ex.reply(404, NO_SUCH_APP_PAGE)
                return
            if not route.backends:
                ex.fail(route_error(route) or H10)
                return
            wake = min(b.quarantined_until for b in route.backends)
            if wake > quarantine_deadline:
                ex.fail(H99)
                return
            await table.wait_for_change(route, max(0.0, wake - now) + 0.001)
            now = loop.time()
            candidates = [b for b in route.backends if b not in tried and b.quarantined_until <= now]
        if not candidates:
            break
        backend = random.choice(candidates)
        tried.add(backend)
        idle = backend.idle
        while idle and idle[-1].closing:
            idle.pop()
        if idle:
            ex.reuse(backend, loop.time())
            return
        ex.count(backend)
        try:
            async with asyncio.timeout(settings.router_connect_timeout):
                await loop.create_connection(lambda b=backend: Upstream(ex, b), backend.host, backend.port)  # type: ignore[misc]
            return  # Upstream.connection_made has sent the request
        except TimeoutError:
            error = H19
        except OSError:
            error = H21
        if ex.done or ex.upstream is not None:
            return
        backend.quarantined_until = loop.time() + settings.router_quarantine
        ex.uncount()
    ex.connect_ms = ms(loop.time() - ex.t_connect)
    ex.fail(error or H21)


class Upstream(asyncio.Protocol):
    """One connection to a dyno: carries one request at a time, parked between requests when kept alive.

    Response bytes are held until the first head in them has parsed (so garbage becomes H17 and not a
    half-forwarded mess), then pass through to the client byte for byte as they arrive; the parser runs
    alongside only to see where the response ends.
    """

    def __init__(self, exchange: Exchange, backend: Backend) -> None:
        self.exchange: Exchange | None = exchange  # None while parked
        self.backend = backend
        self.loop = exchange.router.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closing = False
        self.write_paused = False
        self.reused = False  # carried a request before this one
        self.read_paused = False
        self.got_bytes = False
        self.rx = 0  # reads so far; the sweep compares it to find a quiet dyno (H15)
        self.mark_rx = -1
        self.mark_t = 0.0
        self.held = b""  # bytes before the first complete head
        self.passing = False  # a head has parsed: bytes now pass straight through
        self.header_count = 0
        self.framed = False  # the response has Content-Length or Transfer-Encoding
        self.status = 0  # of the final response (1xx interim responses leave it 0)
        self.complete = False  # the parser saw the end of the response
        self.keep_alive = False  # ... and the dyno will keep the connection
        self.restriction: RouterError | None = None  # H25 on the response
        self.tunnel: Client | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ex = self.exchange
        assert ex is not None
        if ex.done:
            self.abort()
            return
        if ex.client.write_paused:
            self.pause_reading()
        ex.connected(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.rx += 1
            self.tunnel.write(data)
            return
        if self.closing:
            return
        ex = self.exchange
        if ex is None:  # a parked connection should be quiet
            self.abort()
            return
        self.rx += 1
        if not self.got_bytes:
            self.got_bytes = True
        passing = self.passing
        if not passing:
            held = self.held = self.held + data
            if len(held) > MAX_HEAD_BYTES:
                ex.fail(H25_RESPONSE_HEADER)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.restriction is not None:
                ex.fail(self.restriction)
                return
            offset = exc.args[0]
            head = self.held[: len(self.held) - len(data) + offset] if not passing else data[:offset]
            self.held = b""
            ex.client.write(head)
            ex.switch_protocols(self, data[offset:])
            return
        except httptools.HttpParserCallbackError as exc:
            log.error("router: failed on a response", exc_info=exc.__context__)
            ex.fail(H99)
            return
        except httptools.HttpParserError as exc:
            if not ex.responded and "Content-Length" in str(exc):
                ex.fail(H25_RESPONSE_CONTENT_LENGTH)
            else:
                ex.fail(H17)
            return
        if self.restriction is not None:
            ex.fail(self.restriction)
            return
        if ex.done:
            return
        if passing:
            ex.client.write(data)
        elif self.passing:
            ex.client.write(self.held)
            self.held = b""
        if self.complete:
            self.complete = False
            ex.response_complete(self.keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.tunnel is not None:
            self.tunnel.close()
            return
        ex = self.exchange
        if ex is None:  # parked: the dyno closed a kept-alive connection
            if self in self.backend.idle:
                self.backend.idle.remove(self)
            return
        if ex.done:
            return
        if self.status and not self.framed:
            ex.response_complete(False)  # a body delimited by the end of the connection
        else:
            ex.upstream_lost(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None:
            self.exchange.client.sync_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.client.sync_reading()

    # httptools callbacks

    # (no on_message_begin: one callback fewer per response; on_message_complete resets the per-message
    # fields instead, and a connection only carries a new message after the previous one completed)

    def on_status(self, reason: bytes) -> None:
        if len(reason) > MAX_REQUEST_LINE - 16:
            self.restriction = H25_RESPONSE_STATUS_LINE

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        size = len(name)
        if size + len(value) > MAX_HEADER - 4 or size > MAX_HEADER_NAME or self.header_count > MAX_HEADERS:
            self.restriction = H25_RESPONSE_HEADER
        elif size == 17 and name.lower() == b"transfer-encoding" or size == 14 and name.lower() == b"content-length":
            self.framed = True

    def on_headers_complete(self) -> None:
        ex = self.exchange
        if self.closing or ex is None or self.restriction is not None:
            return
        self.passing = True
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            return  # 100 Continue and friends pass straight through
        self.status = ex.status = status
        ex.responded = True
        if ex.method == b"HEAD":
            # httptools cannot be told the request was HEAD, so it would wait for the announced body
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is not None and self.restriction is None:
            ex.bytes_out += len(body)

    def on_message_complete(self) -> None:
        self.header_count = 0
        self.framed = False
        if self.closing or self.status in (0, 101):  # an interim response, or a 101 before the tunnel
            return
        if self.exchange is not None and self.exchange.method != b"HEAD":
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()  # only known inside the callback

    # used by Exchange and Client

    def write(self, data: bytes) -> None:
        if not self.closing:
            assert self.transport is not None
            self.transport.write(data)

    def pause_reading(self) -> None:
        if not self.closing and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closing and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    def park(self) -> None:
        """The response is done and the dyno keeps the connection: keep it for the next request."""
        backend = self.backend
        if not backend.keep_alive and self.loop.time() >= backend.keep_alive_after:
            backend.keep_alive = True  # try again: the dyno may have been restarted or only slow
        if self.closing or not backend.keep_alive or len(backend.idle) >= MAX_IDLE_PER_DYNO:
            self.close()
            return
        self.exchange = None
        self.reused = True
        self.got_bytes = False
        self.passing = False
        self.status = 0
        self.mark_rx = -1
        if self.read_paused:
            self.resume_reading()
        backend.idle.append(self)

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.transport is not None
            self.transport.close()

    def abort(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.transport is not None
            self.transport.abort()
