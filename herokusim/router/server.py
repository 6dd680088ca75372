"""router/server: the HTTP router — each request goes by its Host to a random up web dyno, as on Heroku.

One asyncio.Protocol per client connection (`_Client`) and one per dyno connection (`_Upstream`), with
httptools parsing both sides: the design TECH-NOTES measured at ~60k req/s. Request heads are forwarded
as received with the router's headers appended; responses pass through byte for byte once their head has
parsed; bodies stream in their own framing, never buffered whole. Connections to a dyno are kept alive and
reused when the dyno allows it. Timeouts (H12, H15, H28) are checked by one sweep a few times a second
rather than a timer per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import resource
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from itertools import count
from typing import Any, cast

import httptools

from herokusim.config import Settings
from herokusim.logplex import LogLine, Logplex
from herokusim.router.table import AppRoute, Backend, RoutingTable, host_name

log = logging.getLogger(__name__)

ROUTER_NAME = "herokusim"  # as in `Via: 1.1 herokusim`
MAX_CONNECT_ATTEMPTS = 10  # dynos tried for one request before H21/H19
BACKLOG_PER_DYNO = 200  # H11: more requests than this per web dyno in flight for an app
# H25: Heroku's request limits
MAX_REQUEST_LINE = 8192
MAX_HEADER = 8192  # one header line, name and value
MAX_HEADER_NAME = 1000
MAX_HEADERS = 1000
MAX_HEAD_BYTES = 256 * 1024  # memory guard: past this a head is not read any further
MAX_RAW_HEAD = 16 * 1024  # a head kept as received to forward it; a longer one is rebuilt from its parsed parts
BODY_BUFFER = 64 * 1024  # request body held while no dyno is connected yet; then the client is paused
MAX_IDLE_PER_DYNO = 256  # kept-alive connections parked per dyno
# Open client connections: at most MAX_CLIENTS, and never so many that the daemon's file descriptors run
# out (the API, the git server, the store and dynos' pipes live in the same process). Each client may hold
# two descriptors (its own and its dyno connection's); FD_RESERVE are kept for everything else.
MAX_CLIENTS = 10_000
FD_RESERVE = 256
# Seconds a connection the router has answered for the last time is still read (and what arrives dropped)
# after it half-closed: closing on unread bytes makes the kernel reset the connection, and the client would
# lose the answer. Apache's lingering close waits as long.
LINGER = 2.0
SWEEP_PERIOD = 0.25  # seconds between timeout checks (shorter when a timeout is set shorter for tests)
# A request on a new connection waiting this long for its first byte while the router keeps other
# connections to the same dyno alive: the dyno may serve one connection at a time (a single-threaded
# HTTP/1.1 server blocks reading an idle kept-alive socket), so the router stops keeping them for it.
STARVED_AFTER = 0.5
KEEP_ALIVE_PAUSE = 30.0  # seconds before the router tries keeping connections to such a dyno again

_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9+/=-]{20,200}")
# Headers the router sets itself; a client's copies are merged (X-Forwarded-For, Via) or replaced.
_ROUTER_HEADERS = frozenset(
    (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port", b"x-request-start", b"via")
)
_VIA = b"1.1 " + ROUTER_NAME.encode()
# Request headers prepare() looks at (lower-cased); on_header sets them aside so prepare() need not scan all.
_SPECIAL = _ROUTER_HEADERS | {b"host", b"content-length", b"transfer-encoding", b"x-request-id"}


@dataclass(frozen=True, slots=True)
class RouterError:
    """An H-code as it appears in the router line, and the status the client gets."""

    code: str
    desc: str
    status: int
    at: str = "error"
    sock: str = ""


H10 = RouterError("H10", "App crashed", 503)
H11 = RouterError("H11", "Backlog too deep", 503)
H12 = RouterError("H12", "Request timeout", 503)
H13 = RouterError("H13", "Connection closed without response", 503)
H14 = RouterError("H14", "No web processes running", 503)
H15 = RouterError("H15", "Idle connection", 503)
H17 = RouterError("H17", "Poorly formatted HTTP response", 503)
H18 = RouterError("H18", "Server Request Interrupted", 503, sock="backend")
H19 = RouterError("H19", "Backend connection timeout", 503)
H20 = RouterError("H20", "App boot timeout", 503)
H21 = RouterError("H21", "Backend connection refused", 503)
# H25 on a request the client sent (400) or on a response the dyno sent (502)
H25_HEADER = RouterError("H25", "HTTP restriction: oversized header", 400)
H25_STATUS_LINE = RouterError("H25", "HTTP restriction: oversized status line", 400)
H25_CONTENT_LENGTH = RouterError("H25", "HTTP restriction: invalid content length", 400)
H25_RESPONSE_HEADER = RouterError("H25", "HTTP restriction: oversized header", 502)
H25_RESPONSE_STATUS_LINE = RouterError("H25", "HTTP restriction: oversized status line", 502)
H25_RESPONSE_CONTENT_LENGTH = RouterError("H25", "HTTP restriction: invalid content length", 502)
H27 = RouterError("H27", "Client Request Interrupted", 499, at="warning", sock="client")
H28 = RouterError("H28", "Client Connection Idle", 499, at="warning")
H80 = RouterError("H80", "Maintenance mode", 503, at="info")
H81 = RouterError("H81", "Blank app", 502, at="info")
H99 = RouterError("H99", "Platform error", 503)


def route_error(route: AppRoute) -> RouterError | None:
    """Why this app cannot take a request right now, in Heroku's order; None when it can (or soon will)."""
    if not route.released:
        return H81
    if route.maintenance:
        return H80
    if route.web_quantity == 0:
        return H14
    if route.crashed and not route.backends:
        return H10
    return None


def _field_ms(ms: int | None) -> str:
    return "" if ms is None else f"{ms}ms"


def router_line(
    *,
    method: str,
    path: str,
    host: str,
    request_id: str,
    fwd: str,
    dyno: str = "",
    connect_ms: int | None = None,
    service_ms: int | None = None,
    status: int,
    bytes_sent: int | None = None,
    error: RouterError | None = None,
) -> str:
    """The `heroku[router]` line for one request; fields that do not apply are left empty."""
    if error is None:
        prefix = "at=info "
    else:
        sock = f"sock={error.sock} " if error.sock else ""
        prefix = f'{sock}at={error.at} code={error.code} desc="{error.desc}" '
    return (
        f'{prefix}method={method} path="{path}" host={host} request_id={request_id} fwd="{fwd}" '
        f"dyno={dyno} connect={_field_ms(connect_ms)} service={_field_ms(service_ms)} status={status} "
        f"bytes={'' if bytes_sent is None else bytes_sent} protocol=http"
    )


def request_id_source() -> Callable[[], str]:
    """UUID-shaped request ids: a random per-process prefix and a counter (uuid4() per request is slow)."""
    prefix = os.urandom(10).hex()
    prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:]}-"
    counter = count(1)
    return lambda: f"{prefix}{next(counter):012x}"


# --- pages the router itself serves -------------------------------------------------------------------

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    499: "Client Closed Request",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _page(title: str, message: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;background:#f7f8fb;color:#3f3f44;margin:0}"
        "main{max-width:560px;margin:12vh auto;padding:0 24px}h1{font-weight:500;color:#79589f}"
        "code{background:#eee;padding:2px 4px}</style>\n</head>\n"
        f"<body><main>\n<h1>{title}</h1>\n<p>{message}</p>\n</main></body>\n</html>\n"
    ).encode()


APPLICATION_ERROR_PAGE = _page(
    "Application error",
    "An error occurred in the application and your page could not be served. If you are the "
    "application owner, check your logs for details. You can do this from the herokusim CLI with the "
    "command <code>herokusim logs --tail</code>.",
)
MAINTENANCE_PAGE = _page(
    "Offline for maintenance",
    "This app is undergoing maintenance right now. Please check back later.",
)
BLANK_APP_PAGE = _page(
    "Nothing here yet",
    "This app has no release yet. Push code to its git remote to deploy it.",
)
NO_SUCH_APP_PAGE = _page(
    "No such app",
    "There is no app configured at that hostname. Perhaps the app owner has renamed it, or you "
    "mistyped the URL.",
)
BAD_REQUEST_PAGE = _page("Bad request", "The router could not parse this HTTP request.")
RESTRICTED_PAGE = _page(
    "Bad request",
    "This request is over the router's limits: a request line or a header of at most 8192 bytes, header "
    "names of at most 1000 bytes, at most 1000 headers, and a valid Content-Length.",
)
CONNECT_REFUSED_PAGE = _page("Method not allowed", "The router does not accept CONNECT requests.")


def _page_for(error: RouterError) -> bytes:
    if error is H80:
        return MAINTENANCE_PAGE
    if error is H81:
        return BLANK_APP_PAGE
    if error.status == 400:
        return RESTRICTED_PAGE
    return APPLICATION_ERROR_PAGE


def page_response(status: int, page: bytes, *, head_only: bool, close: bool) -> bytes:
    """A complete HTTP/1.1 response carrying one of the router's own pages."""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\n"
        "Cache-Control: no-cache, no-store\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    ).encode()
    return head if head_only else head + page


def _ms(seconds: float) -> int:
    return int(seconds * 1000 + 0.5)


def raise_open_file_limit() -> None:
    """Raise this process's soft limit on open files to its hard limit (the daemon calls it at start): the
    default soft limit (often 1024) is far below what a router with many clients needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit (macOS) cannot be the soft limit: keep it
            log.info("router: could not raise the open-file limit from %d", soft)


def client_limit() -> int:
    """How many client connections the router keeps open, given this process's open-file limit."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return MAX_CLIENTS
    return max(16, min(MAX_CLIENTS, (soft - FD_RESERVE) // 2))


# --- the router ---------------------------------------------------------------------------------------


class Router:
    """The router room: `port = await Router(table, logplex, settings).start(host, port)`, then `stop()`."""

    def __init__(self, table: RoutingTable, logplex: Logplex, settings: Settings) -> None:
        self.table = table
        self.logplex = logplex
        self.settings = settings
        self.port = 0
        self.new_request_id = request_id_source()
        self.port_header = b""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        # every open client connection, oldest first (a dict keeps the order)
        self.clients: dict[_Client, None] = {}
        self.max_clients = MAX_CLIENTS
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the bound port."""
        self.loop = asyncio.get_running_loop()
        self.stopping = False
        self.max_clients = client_limit()
        self._server = await self.loop.create_server(lambda: _Client(self), host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self.port_header = b"X-Forwarded-Port: %d\r\n" % self.port
        self._sweeper = self.loop.create_task(self._sweep())
        return self.port

    async def stop(self) -> None:
        """Close the listener and every client and dyno connection; requests in flight are cut."""
        self.stopping = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
        for client in list(self.clients):
            client.abort()
        for route in self.table.routes():
            for backend in route.backends:
                backend.close_idle()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *([sweeper] if sweeper else []), return_exceptions=True)
        await asyncio.sleep(0)  # aborted transports report connection_lost on the next loop pass
        if server is not None:
            await server.wait_closed()

    def spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def metrics(self, app_id: str) -> dict[str, Any] | None:
        """The router's metrics for one app (see router/metrics.py for the shape); None for no such app."""
        route = self.table.get(app_id)
        if route is None:
            return None
        assert self.loop is not None
        inflight = {b.dyno: b.inflight for b in route.backends}
        return route.metrics.snapshot(route.name, self.loop.time(), inflight)

    def make_room(self) -> bool:
        """At the limit of open connections: close the oldest one that has no request under way (an idle
        kept-alive connection, or one that never sent a request), as nginx does; False when every connection
        is busy."""
        for client in self.clients:
            if client.exchange is None and client.parsing is None and client.tunnel is None and not client.closing:
                del self.clients[client]
                client.close()
                return True
        return False

    async def _sweep(self) -> None:
        """H12, H15 and H28 for every connection, a few times a second: no timer per request."""
        settings = self.settings
        period = min(SWEEP_PERIOD, settings.router_timeout / 10, settings.router_idle_timeout / 10)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for client in list(self.clients):
                try:
                    client.check(now, settings.router_timeout, settings.router_idle_timeout)
                except Exception:
                    log.exception("router: timeout check failed")


class _HeadTooLarge(Exception):
    pass


class _Refused(Exception):
    """Raised from a parser callback to stop reading a request the router has refused (H25)."""


class _Client(asyncio.Protocol):
    """One client connection: parses its requests and proxies them one at a time (keep-alive, pipelining)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = b""
        self.exchange: _Exchange | None = None  # the request being proxied now
        self.waiting: deque[_Exchange] = deque()  # pipelined requests behind it
        self.parsing: _Exchange | None = None  # the request the parser is reading
        self.upgrading: _Exchange | None = None  # an Upgrade request: later bytes are not HTTP
        self.tunnel: _Upstream | None = None  # after a 101: raw bytes both ways
        self.closing = False
        self.finishing = False  # a response said `Connection: close`: close once its request is read
        self.broken = False  # the parser failed: nothing more is read; the failed request is the last queued
        self.lingering = 0.0  # when the router half-closed after its last answer (0: it has not)
        self.starting = False  # exchange_done() is taking the queued requests in turn
        self.read_paused = False
        self.write_paused = False
        self.rx = 0  # reads so far; the sweep compares it to find an idle client (H28)
        self.mark_rx = -1
        self.mark_t = 0.0
        # Raw bytes of the head being parsed, kept only when it began at the start of a read, so it can
        # be forwarded as received; None means "rebuild it from the parsed parts".
        self._head_raw: bytes | None = b""
        self._between = True
        self._head_size = 0
        self._head_rx = 0  # the read in which the head being parsed began
        self._tail = 0  # bytes of the head's unfinished last line so far (httptools holds a header's bytes)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        router = self.router
        if len(router.clients) >= router.max_clients and not router.make_room():
            log.warning("router: %d client connections are busy, the most it keeps open; closing a new one",
                        router.max_clients)
            self.closing = True
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b""
        router.clients[self] = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.rx += 1
        if self.upgrading is not None:
            self._upgrade_data(data)
            return
        raw = self._head_raw
        if raw is not None:
            if not raw:
                self._head_raw = data
            else:
                self._head_raw = raw + data if len(raw) + len(data) <= MAX_RAW_HEAD else None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_data(data[exc.args[0] :])
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refused):
                return
            too_large = isinstance(cause, _HeadTooLarge)
            if not too_large:
                log.error("router: failed on a request", exc_info=cause)
            self._bad_request(H25_HEADER if too_large else None)
            return
        except httptools.HttpParserError as exc:
            if "Content-Length" in str(exc):
                self._bad_request(H25_CONTENT_LENGTH)
            elif self.parsing is not None and self.parsing.head:
                # The body broke its framing (a bad chunk size, no CRLF after a chunk). Heroku logs a request
                # its HTTP validation blocks as H25, and of H25's reasons this is "invalid content length":
                # a chunk size is the chunked framing's content length.
                self._bad_request(H25_CONTENT_LENGTH)
            else:
                self._bad_request(None)
            return
        if self._between:
            self._head_raw = b""
            return
        parsing = self.parsing
        if parsing is not None and not parsing.head:
            # A head is still coming. httptools holds an unfinished header line whole, so the line may not
            # grow past the limit: refuse as soon as it does, without reading on.
            nl = data.rfind(b"\n")
            if self._head_rx != self.rx:  # the head began in an earlier read
                tail = self._tail + len(data) if nl < 0 else len(data) - nl - 1
            elif raw == b"":  # it began with this read
                tail = len(data) if nl < 0 else len(data) - nl - 1
            else:  # it began after another request in this read, where is not known: counted from the next
                tail = 0
            self._tail = tail
            if tail > MAX_HEADER:
                self._bad_request(parsing.restriction or H25_HEADER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        upstream = self._upstream()
        if upstream is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        upstream = self._upstream()
        if upstream is not None:
            upstream.resume_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._between = False
        self._head_size = 0
        self._head_rx = self.rx
        self.parsing = _Exchange(self)

    def on_url(self, url: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        if len(ex.url) + len(url) > MAX_REQUEST_LINE:
            ex.restriction = H25_STATUS_LINE
            url = url[: max(0, MAX_REQUEST_LINE - len(ex.url))]  # keep what the router line can show
        ex.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        headers = ex.headers
        size = len(name) + len(value)
        head_size = self._head_size = self._head_size + size
        if size > MAX_HEADER - 4 or len(name) > MAX_HEADER_NAME or len(headers) >= MAX_HEADERS:
            ex.restriction = H25_HEADER
            if len(name) != 4 or name.lower() != b"host":
                if any(n == b"host" for n, _ in ex.special):
                    self._refuse(ex)  # the app is known: answer now rather than read on
                return
        if head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        headers.append((name, value))
        lname = name.lower()
        if lname in _SPECIAL:
            ex.special.append((lname, value))
            if ex.restriction is not None and lname == b"host":
                self._refuse(ex)  # over a limit already (the request line): now the app is known

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        raw, self._head_raw = self._head_raw, None
        parser = self.parser
        ex.method = parser.get_method()
        if ex.restriction is not None:
            self._refuse(ex)
        ex.keep_alive = parser.should_keep_alive()
        if parser.should_upgrade():
            ex.upgrade = True
            self.upgrading = ex
        head = None
        if raw is not None:
            end = raw.find(b"\r\n\r\n") + 4
            # CRLF line endings and no leading blank line or folded header: the raw head is what we parsed
            if end > 3 and raw.count(b"\n", 0, end) == len(ex.headers) + 2:
                head = raw[:end]
        ex.prepare(head)
        if ex.has_body:
            self._start(ex)  # now, so the body streams (and `Expect: 100-continue` reaches the dyno)

    def on_body(self, body: bytes) -> None:
        assert self.parsing is not None
        self.parsing.request_body(body)

    def on_message_complete(self) -> None:
        ex, self.parsing = self.parsing, None
        assert ex is not None
        self._head_raw = None
        self._between = True
        if ex.has_body:
            ex.request_complete()
        else:
            ex.request_done = True
            self._start(ex)
        if self.finishing:
            self.close()

    # used by _Exchange and _Upstream

    def write(self, data: bytes) -> None:
        if not self.closing:
            assert self.transport is not None
            self.transport.write(data)

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.transport is not None
            self.transport.close()

    def linger(self) -> None:
        """Close after the router's last answer while the client may still be sending: half-close, then read
        and drop what arrives until the client closes too, or for LINGER seconds."""
        if self.closing:
            return
        self.closing = True  # data_received drops everything from here on
        assert self.transport is not None and self.router.loop is not None
        self.lingering = self.router.loop.time()
        self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.tunnel is not None:
            self.tunnel.abort()
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
        self._lost()

    def exchange_done(self, ex: _Exchange, reuse: bool) -> None:
        if self.exchange is ex:
            self.exchange = None
        if self.tunnel is not None:
            self.sync_reading()
            return
        if not reuse:
            # pipelined requests behind a response that closes the connection (`Connection: close`, an
            # HTTP/1.0 dyno): the client was told the connection ends, so they are not answered; logged
            self._drop_waiting(H13)
            if self.broken:
                self.linger()
            elif ex.request_done:
                self.close()
            else:
                # Read the rest of the request first: closing on unread bytes makes the kernel send a
                # reset, and the client would lose the response it was just sent.
                self.finishing = True
                self.sync_reading()
            return
        if self.waiting and not self.starting:
            # A loop, not a call per request: a request the router answers itself finishes inside begin(),
            # and a deep pipeline of those would otherwise nest one call in the next until Python's limit.
            self.starting = True
            try:
                while self.exchange is None and self.waiting and not self.closing:
                    ex = self.waiting.popleft()
                    if self.broken and not self.waiting:  # the request the parser failed on: refuse it now
                        ex.refuse(ex.restriction)
                        return
                    self.exchange = ex
                    ex.begin()
            finally:
                self.starting = False
        if self.read_paused or self.exchange is not None:  # else sync_reading() would find nothing to do
            self.sync_reading()

    def sync_reading(self) -> None:
        """Pause reading the client while its next bytes have nowhere to go; resume when they do."""
        if self.closing:
            return
        ex = self.exchange
        pause = (
            self.broken
            or bool(self.waiting)
            or (self.tunnel is not None and self.tunnel.write_paused)
            or (ex is not None and ex.holds_reading())
        )
        if pause is not self.read_paused:
            self.read_paused = pause
            assert self.transport is not None
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def check(self, now: float, timeout: float, idle: float) -> None:
        """The sweep's visit: H28 when a request stopped arriving, then the exchange's own timeouts; a
        WebSocket tunnel with no byte either way for the idle window is closed, as Heroku does."""
        if self.closing:
            if self.lingering and now - self.lingering >= LINGER:
                self.abort()
            return
        tunnel = self.tunnel
        if tunnel is not None:
            moved = self.rx + tunnel.rx
            if moved != self.mark_rx:
                self.mark_rx = moved
                self.mark_t = now
            elif now - self.mark_t >= idle:
                self.abort()
            return
        if self.rx != self.mark_rx or self.read_paused:
            self.mark_rx = self.rx
            self.mark_t = now
        elif now - self.mark_t >= idle:
            receiving = self.parsing
            if receiving is not None:
                if receiving is self.exchange and not receiving.done:
                    receiving.fail(H28)  # the body stopped coming: log it, then drop the client
                self.abort()  # (a head that never finished was not routed: nothing to log)
                return
            if self.exchange is None:
                # no request under way: idle since its last response, or since it connected without sending
                # one; Heroku closes both after the idle window
                self.close()
                return
        ex = self.exchange
        if ex is not None:
            ex.check(now, timeout, idle)

    # internals

    def _start(self, ex: _Exchange) -> None:
        if self.closing or self.finishing:
            return
        if self.exchange is None:
            self.exchange = ex
            ex.begin()
        else:
            self.waiting.append(ex)
            self.sync_reading()

    def _upgrade_data(self, data: bytes) -> None:
        if not data:
            return
        if self.tunnel is not None:
            self.tunnel.write(data)
        elif self.upgrading is not None and not self.upgrading.done:
            self.upgrading.forward(data)  # sent before the dyno answered the upgrade

    def _refuse(self, ex: _Exchange) -> None:
        """Stop reading a request over the router's limits (H25) and answer it in its turn."""
        self._bad_request(ex.restriction)
        raise _Refused

    def _bad_request(self, restriction: RouterError | None) -> None:
        """The parser cannot go on: answer the requests before this one, then this one with a 400 (and an H25
        line where `restriction` names it and its Host is an app), then close."""
        ex, self.parsing = self.parsing, None
        self.broken = True
        self._head_raw = None  # (it may hold a read of the refused head)
        if ex is not None and ex.done:  # its answer went out already; the rest of its body is not read
            self.linger()
            return
        if ex is not None and ex is self.exchange:  # its body broke off after it was sent to a dyno
            ex.fail(restriction or H25_CONTENT_LENGTH)
            return
        if ex is None:
            ex = _Exchange(self)  # garbage where a request should begin: a plain 400, no line
        elif not ex.method:
            ex.method = self.parser.get_method()
        ex.restriction = restriction
        if self.exchange is None:
            ex.refuse(restriction)
            return
        if not self.waiting or self.waiting[-1] is not ex:
            self.waiting.append(ex)
        self.sync_reading()

    def _upstream(self) -> _Upstream | None:
        if self.tunnel is not None:
            return self.tunnel
        return self.exchange.upstream if self.exchange is not None else None

    def _drop_waiting(self, error: RouterError) -> None:
        waiting = self.waiting
        while waiting:
            waiting.popleft().drop(error)

    def _lost(self) -> None:
        self.router.clients.pop(self, None)
        self._drop_waiting(H27)
        ex = self.exchange
        if ex is not None:
            ex.client_lost()
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            tunnel.close()


class _Exchange:
    """One request and its response, from the client's head to the router line."""

    __slots__ = (
        "backend",
        "bytes_out",
        "chunked",
        "client",
        "connect_ms",
        "counted",
        "done",
        "dyno",
        "error",
        "fwd",
        "has_body",
        "head",
        "headers",
        "host_header",
        "keep_alive",
        "method",
        "pending",
        "pending_size",
        "request_done",
        "request_id",
        "responded",
        "responses_at_send",
        "restriction",
        "retries",
        "reusable",
        "route",
        "router",
        "service_ms",
        "special",
        "status",
        "t_connect",
        "t_sent",
        "t_wait",
        "task",
        "upgrade",
        "upstream",
        "url",
    )

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.router = client.router
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.special: list[tuple[bytes, bytes]] = []  # (lower-cased name, value) of the _SPECIAL headers
        self.method = b""
        self.keep_alive = False
        self.upgrade = False
        self.has_body = False
        self.chunked = False  # the request body is chunked
        self.request_done = False
        self.host_header = ""
        self.request_id = ""
        self.fwd = ""
        self.head = b""  # the head as forwarded to the dyno
        self.pending: list[bytes] | tuple[()] = ()  # request bytes waiting for the dyno connection
        self.pending_size = 0
        self.route: AppRoute | None = None  # set once routed: the request gets a router line
        self.counted: AppRoute | None = None  # the app whose in-flight count includes this request
        self.backend: Backend | None = None  # counted in its `inflight` while set
        self.dyno = ""
        self.task: asyncio.Task[None] | None = None
        self.upstream: _Upstream | None = None
        self.t_connect = 0.0
        self.t_sent = 0.0
        self.t_wait = 0.0  # when the request was fully sent: the 30 s to a first byte start here
        self.connect_ms: int | None = None
        self.service_ms: int | None = None
        self.status = 0
        self.bytes_out = 0  # response body bytes sent to the client
        self.responded = False  # the response head went to the client
        self.reusable = False  # the dyno connection may carry another request
        self.retries = 0
        self.responses_at_send = 0
        self.restriction: RouterError | None = None  # H25: an over-limit request line or header
        self.error: RouterError | None = None
        self.done = False

    # request side

    def prepare(self, raw_head: bytes | None) -> None:
        """Read the headers the router cares about and build the head the dyno will get."""
        router = self.router
        host = b""
        length = b""
        ids: list[bytes] | None = None
        xff: list[bytes] | None = None
        via: list[bytes] | None = None
        rebuild = raw_head is None
        for lname, value in self.special:
            if lname == b"host":
                host = host or value
            elif lname == b"content-length":
                length = value
            elif lname == b"transfer-encoding":
                self.chunked = value.rstrip().lower().endswith(b"chunked")
            elif lname == b"x-request-id":
                if ids is None:
                    ids = [value]
                else:
                    ids.append(value)
            else:  # one of _ROUTER_HEADERS
                rebuild = True
                if lname == b"x-forwarded-for":
                    if xff is None:
                        xff = [value]
                    else:
                        xff.append(value)
                elif lname == b"via":
                    if via is None:
                        via = [value]
                    else:
                        via.append(value)
        self.has_body = self.chunked or (length != b"" and length.strip() not in (b"", b"0"))
        if ids is not None and len(ids) == 1 and _VALID_REQUEST_ID.fullmatch(ids[0]):
            request_id = ids[0]
            self.request_id = request_id.decode("latin-1")
            id_header = b""
        else:
            self.request_id = request_id_str = router.new_request_id()
            request_id = request_id_str.encode()
            id_header = b"X-Request-Id: " + request_id + b"\r\n"
            rebuild = rebuild or ids is not None
        peer = self.client.peer
        if xff is None:
            fwd = peer
        else:
            xff.append(peer)
            fwd = b", ".join(xff)
        if via is None:
            via_value = _VIA
        else:
            via.append(_VIA)
            via_value = b", ".join(via)
        ours = b"%sX-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\n%sX-Request-Start: %d\r\nVia: %s\r\n\r\n" % (
            id_header,
            fwd,
            router.port_header,
            int(time.time() * 1000),
            via_value,
        )
        if raw_head is not None and not rebuild:
            self.head = raw_head[:-2] + ours
        else:
            version = self.client.parser.get_http_version().encode()
            lines = [b"%s %s HTTP/%s\r\n" % (self.method, self.url, version)]
            for name, value in self.headers:
                lname = name.lower()
                if lname not in _ROUTER_HEADERS and not (id_header and lname == b"x-request-id"):
                    lines.append(b"%s: %s\r\n" % (name, value))
            lines.append(ours)
            self.head = b"".join(lines)
        self.host_header = host.decode("latin-1")
        self.fwd = fwd.decode("latin-1")

    def refuse(self, error: RouterError | None) -> None:
        """A request the router will not read to its end: answer 400, log it if `error` names it (H25) and its
        Host is an app, close."""
        self.done = True
        self.error = error
        client = self.client
        if error is None:
            client.write(page_response(400, BAD_REQUEST_PAGE, head_only=False, close=True))
            client.linger()
            return
        host = next((v for n, v in self.headers if n.lower() == b"host"), b"")
        self.host_header = host.decode("latin-1")
        xff = [v for n, v in self.headers if n.lower() == b"x-forwarded-for"]
        self.fwd = b", ".join([*xff, client.peer]).decode("latin-1")
        ids = [v for n, v in self.headers if n.lower() == b"x-request-id"]
        valid = len(ids) == 1 and _VALID_REQUEST_ID.fullmatch(ids[0])
        self.request_id = ids[0].decode("latin-1") if valid else self.router.new_request_id()
        self.route = self.router.table.lookup(self.host_header)
        if self.route is not None and not self.router.stopping:
            self._publish()
        client.write(page_response(error.status, _page_for(error), head_only=self.method == b"HEAD", close=True))
        client.linger()

    def drop(self, error: RouterError) -> None:
        """A pipelined request whose connection ended before its turn: not answered, but logged."""
        self.done = True
        self.error = error
        self.route = self.router.table.lookup(self.host_header) if self.host_header else None
        if self.route is not None and not self.router.stopping:
            self._publish()

    def begin(self) -> None:
        """Route the request: answer now if the app cannot take it, else find it a dyno."""
        if self.method == b"CONNECT":
            self.reply(405, CONNECT_REFUSED_PAGE)
            return
        route = self.router.table.lookup(self.host_header)
        if route is None:
            self.reply(404, NO_SUCH_APP_PAGE)
            return
        self.route = self.counted = route
        metrics = route.metrics
        metrics.inflight += 1
        error = route_error(route)
        if error is None and metrics.inflight > BACKLOG_PER_DYNO * route.web_quantity:
            error = H11
        if error is not None:
            self.fail(error)
            return
        backends = route.backends
        if backends:
            # the hot path: a kept-alive connection to a random up dyno, no task needed
            backend = backends[0] if len(backends) == 1 else random.choice(backends)
            idle = backend.idle
            while idle and idle[-1].closing:
                idle.pop()
            if idle:
                assert self.router.loop is not None
                now = self.router.loop.time()
                if backend.quarantined_until <= now:
                    self.t_connect = now
                    self._reuse(backend, now)
                    return
        self.task = self.router.spawn(self._connect())

    async def _connect(self) -> None:
        try:
            await self._wait_and_connect()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("router: request for %s failed", self.host_header)
            self.fail(H99)

    async def _wait_and_connect(self) -> None:
        router = self.router
        settings = router.settings
        table = router.table
        loop = asyncio.get_running_loop()
        route = self.route
        assert route is not None
        # No dyno is up yet (booting, restarting): wait for one, as Heroku does, up to the boot wait.
        deadline = loop.time() + settings.router_boot_wait
        while not route.backends:
            remaining = deadline - loop.time()
            changed = remaining > 0 and await table.wait_for_change(route, remaining)
            if table.get(route.app_id) is not route:  # the app was destroyed meanwhile
                self.reply(404, NO_SUCH_APP_PAGE)
                return
            error = route_error(route) or (None if changed or route.backends else H20)
            if error is not None:
                self.fail(error)
                return
        # Try up to MAX_CONNECT_ATTEMPTS dynos, skipping quarantined ones; a dyno that refuses or does
        # not accept in time is quarantined. When every dyno is quarantined, wait (H99 past the boot wait).
        self.t_connect = loop.time()
        quarantine_deadline = self.t_connect + settings.router_boot_wait
        error: RouterError | None = None
        tried: set[Backend] = set()
        for _ in range(MAX_CONNECT_ATTEMPTS):
            now = loop.time()
            candidates = [b for b in route.backends if b not in tried and b.quarantined_until <= now]
            while not candidates and error is None:
                if table.get(route.app_id) is not route:
                    self.reply(404, NO_SUCH_APP_PAGE)
                    return
                if not route.backends:
                    self.fail(route_error(route) or H10)
                    return
                wake = min(b.quarantined_until for b in route.backends)
                if wake > quarantine_deadline:
                    self.fail(H99)
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
                self._reuse(backend, loop.time())
                return
            self._count(backend)
            try:
                async with asyncio.timeout(settings.router_connect_timeout):
                    await loop.create_connection(lambda b=backend: _Upstream(self, b), backend.host, backend.port)  # type: ignore[misc]
                return  # _Upstream.connection_made has sent the request
            except TimeoutError:
                error = H19
            except OSError:
                error = H21
            if self.done or self.upstream is not None:
                return
            backend.quarantined_until = loop.time() + settings.router_quarantine
            self._uncount()
        self.connect_ms = _ms(loop.time() - self.t_connect)
        self.fail(error or H21)

    def _reuse(self, backend: Backend, now: float) -> None:
        """Send the request on a kept-alive connection to this dyno."""
        upstream: _Upstream = backend.idle.pop()
        backend.inflight += 1
        self.backend = backend
        self.dyno = backend.dyno
        upstream.exchange = self
        self.connected(upstream, now)

    def connected(self, upstream: _Upstream, now: float = 0.0) -> None:
        """The dyno connection is ours: send the head and whatever body has arrived."""
        if not now:
            assert self.router.loop is not None
            now = self.router.loop.time()
        self.upstream = upstream
        self.responses_at_send = upstream.backend.responses
        # Connected: the task that connected (if any) must not be cancelled from here on, or uvloop's
        # create_connection, still finishing, would close this connection.
        self.task = None
        self.connect_ms = _ms(now - self.t_connect)
        self.t_sent = now
        if self.pending:
            upstream.write(b"".join((self.head, *self.pending)))
            self.pending = ()
            self.pending_size = 0
        else:
            upstream.write(self.head)
        if self.request_done:
            self.t_wait = now
        if self.client.read_paused:
            self.client.sync_reading()

    def request_body(self, body: bytes) -> None:
        if not self.done:
            self.forward(b"%x\r\n%b\r\n" % (len(body), body) if self.chunked else body)

    def request_complete(self) -> None:
        self.request_done = True
        if self.done:
            return
        if self.chunked:
            self.forward(b"0\r\n\r\n")  # request trailers are not forwarded
        if self.upstream is not None and self.router.loop is not None:
            self.t_wait = self.router.loop.time()

    def forward(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is not None:
            upstream.write(data)
        else:
            pending = self.pending
            if not pending:
                pending = self.pending = []
            pending.append(data)  # type: ignore[union-attr]
            self.pending_size += len(data)
            if self.pending_size > BODY_BUFFER:
                self.client.sync_reading()

    def holds_reading(self) -> bool:
        if self.done:
            return False
        upstream = self.upstream
        return upstream.write_paused if upstream is not None else self.pending_size > BODY_BUFFER

    def check(self, now: float, timeout: float, idle: float) -> None:
        """H12: no first byte within `timeout` of the request being sent; H15: the dyno went quiet."""
        upstream = self.upstream
        if upstream is None or self.done:
            return
        if not upstream.got_bytes:
            if self.t_wait and now - self.t_wait >= timeout:
                self.fail(H12, service_ms=_ms(timeout))
            elif not upstream.reused and now - self.t_sent >= STARVED_AFTER:
                backend = upstream.backend
                # starving, not merely slow: the dyno answered others since this request was sent
                if backend.keep_alive and backend.responses > self.responses_at_send:
                    backend.keep_alive = False
                    backend.keep_alive_after = now + KEEP_ALIVE_PAUSE
                    backend.close_idle()
            return
        if upstream.rx != upstream.mark_rx or self.client.write_paused:
            upstream.mark_rx = upstream.rx
            upstream.mark_t = now
        elif now - upstream.mark_t >= idle:
            self.fail(H15)

    # response side (called by _Upstream)

    def response_complete(self, keep_alive: bool) -> None:
        backend = self.backend
        if backend is not None:
            backend.responses += 1
        self.reusable = keep_alive and self.request_done and not self.upgrade and self.method != b"HEAD"
        self.finish(keep_alive and self.keep_alive and not self.upgrade)

    def switch_protocols(self, upstream: _Upstream, early: bytes) -> None:
        """The dyno answered an Upgrade with 101: from now on both sockets are one raw tunnel."""
        if not self.upgrade:
            self.fail(H17)
            return
        client = self.client
        client.tunnel = upstream
        upstream.tunnel = client
        if early:
            client.write(early)
        self.finish(False, keep_upstream=True)

    def upstream_lost(self, upstream: _Upstream) -> None:
        if not upstream.got_bytes:
            if upstream.reused and not self.has_body and self.retries < MAX_CONNECT_ATTEMPTS:
                # a kept-alive connection the dyno had already closed: send it on a fresh one
                self.retries += 1
                self.upstream = None
                self.t_wait = 0.0
                self._uncount()
                self.task = self.router.spawn(self._connect())
                return
            self.fail(H13)
        elif not self.responded:
            self.fail(H17)
        else:
            self.fail(H18)

    def client_lost(self) -> None:
        self.fail(H27)

    # endings

    def reply(self, status: int, page: bytes) -> None:
        """Answer with one of the router's own pages, without a router line (the request was not routed)."""
        self.route = None
        self.status = status
        reuse = self.keep_alive and self.request_done and not self.upgrade and status != 405
        head_only = self.method == b"HEAD"
        self.client.write(page_response(status, page, head_only=head_only, close=not reuse))
        self.finish(reuse)

    def fail(self, error: RouterError, service_ms: int | None = None) -> None:
        if self.done:
            return
        self.error = error
        self.service_ms = service_ms
        if self.responded or error.status == 499:
            self.finish(False)  # the response was under way, or the client is gone or idle: cut it off
            return
        reuse = self.keep_alive and self.request_done and not self.upgrade
        head_only = self.method == b"HEAD"
        self.client.write(page_response(error.status, _page_for(error), head_only=head_only, close=not reuse))
        self.finish(reuse)

    def finish(self, reuse: bool, keep_upstream: bool = False) -> None:
        if self.done:
            return
        self.done = True
        task, self.task = self.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        upstream = self.upstream
        if upstream is not None and not keep_upstream:
            if self.error is not None:
                upstream.abort()  # on H12 the dyno keeps working; we just stop listening
            elif self.reusable:
                upstream.park()
            else:
                upstream.close()
        backend = self.backend
        if backend is not None:
            backend.inflight -= 1
            self.backend = None
        counted = self.counted
        if counted is not None:
            counted.metrics.inflight -= 1
        if self.route is not None and not self.router.stopping:
            self._publish()
        self.client.exchange_done(self, reuse)

    # internals

    def _count(self, backend: Backend) -> None:
        backend.inflight += 1
        self.backend = backend
        self.dyno = backend.dyno

    def _uncount(self) -> None:
        assert self.backend is not None
        self.backend.inflight -= 1
        self.backend = None

    def _publish(self) -> None:
        """The router line and the metrics: this runs for every request."""
        route = self.route
        router = self.router
        loop = router.loop
        assert route is not None and loop is not None
        now = loop.time()
        error = self.error
        connect_ms = self.connect_ms
        service_ms = self.service_ms
        if self.upstream is not None:
            if service_ms is None:
                service_ms = int((now - self.t_sent) * 1000 + 0.5)
            sent: int | None = self.bytes_out
        else:
            sent = None
        host = self.host_header
        if not host.islower() or ":" in host or " " in host:
            host = host_name(host)
        dyno = self.dyno
        if error is None:
            status = self.status
            # router_line() inlined for the common case (every request pays for this line)
            line = (
                f'at=info method={self.method.decode("latin-1")} path="{self.url.decode("latin-1")}" host={host} '
                f'request_id={self.request_id} fwd="{self.fwd}" dyno={dyno} '
                f'connect={"" if connect_ms is None else f"{connect_ms}ms"} '
                f'service={"" if service_ms is None else f"{service_ms}ms"} status={status} '
                f'bytes={"" if sent is None else sent} protocol=http'
            )
        else:
            status = error.status
            line = router_line(
                method=self.method.decode("latin-1"),
                path=self.url.decode("latin-1"),
                host=host,
                request_id=self.request_id,
                fwd=self.fwd,
                dyno=dyno,
                connect_ms=connect_ms,
                service_ms=service_ms,
                status=status,
                bytes_sent=sent,
                error=error,
            )
        logplex = router.logplex
        if len(line) < 4000:  # surely under Logplex's 10,000-byte split (at most 2 UTF-8 bytes a character here)
            logplex.publish_line(route.app_id, LogLine(logplex.clock.now(), "heroku", "router", line))
        else:
            logplex.publish(route.app_id, "heroku", "router", line)
        route.metrics.record(now, status, None if error is None else error.code, dyno, connect_ms, service_ms)


class _Upstream(asyncio.Protocol):
    """One connection to a dyno: carries one request at a time, parked between requests when kept alive.

    Response bytes are held until the first head in them has parsed (so garbage becomes H17 and not a
    half-forwarded mess), then pass through to the client byte for byte as they arrive; the parser runs
    alongside only to see where the response ends.
    """

    def __init__(self, exchange: _Exchange, backend: Backend) -> None:
        self.exchange: _Exchange | None = exchange  # None while parked
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
        self.tunnel: _Client | None = None

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

    # used by _Exchange and _Client

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
