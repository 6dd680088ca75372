"""router/server: the HTTP router — each request goes by its Host to a random up web dyno, as on Heroku.

One asyncio.Protocol per client connection (`_Client`) and one per dyno connection (`_Upstream`), with
httptools parsing both sides: the design TECH-NOTES measured at ~60k req/s. Heads are forwarded as
received with the router's headers appended; bodies stream through in their own framing (Content-Length
bytes as they come, chunked re-chunked piece by piece), never buffered whole.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from itertools import count
from typing import cast

import httptools

from herokusim.config import Settings
from herokusim.logplex import Logplex
from herokusim.router.table import AppRoute, Backend, RoutingTable, host_name

log = logging.getLogger(__name__)

ROUTER_NAME = "herokusim"  # as in `Via: 1.1 herokusim`
CONNECT_TIMEOUT = 5.0  # H19: seconds a dyno has to accept a connection
MAX_CONNECT_ATTEMPTS = 10  # dynos tried for one request before H21/H19
MAX_HEAD_BYTES = 64 * 1024  # memory guard for one head; Heroku's exact limits (H25) are enforced elsewhere
BODY_BUFFER = 64 * 1024  # request body held while no dyno is connected yet; then the client is paused

_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9+/=-]{20,200}")
# Headers the router sets itself; a client's copies are merged (X-Forwarded-For, Via) or replaced.
_ROUTER_HEADERS = frozenset(
    (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port", b"x-request-start", b"via")
)
_VIA = b"1.1 " + ROUTER_NAME.encode()


@dataclass(frozen=True, slots=True)
class RouterError:
    """An H-code as it appears in the router line, and the status the client gets."""

    code: str
    desc: str
    status: int
    at: str = "error"
    sock: str = ""


H10 = RouterError("H10", "App crashed", 503)
H12 = RouterError("H12", "Request timeout", 503)
H13 = RouterError("H13", "Connection closed without response", 503)
H14 = RouterError("H14", "No web processes running", 503)
H17 = RouterError("H17", "Poorly formatted HTTP response", 503)
H18 = RouterError("H18", "Server Request Interrupted", 503, sock="backend")
H19 = RouterError("H19", "Backend connection timeout", 503)
H20 = RouterError("H20", "App boot timeout", 503)
H21 = RouterError("H21", "Backend connection refused", 503)
H27 = RouterError("H27", "Client Request Interrupted", 499, at="warning", sock="client")
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
CONNECT_REFUSED_PAGE = _page("Method not allowed", "The router does not accept CONNECT requests.")


def _page_for(error: RouterError) -> bytes:
    if error is H80:
        return MAINTENANCE_PAGE
    if error is H81:
        return BLANK_APP_PAGE
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
        self.clients: set[_Client] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the bound port."""
        self.loop = asyncio.get_running_loop()
        self.stopping = False
        self._server = await self.loop.create_server(lambda: _Client(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.port_header = b"X-Forwarded-Port: %d\r\n" % self.port
        return self.port

    async def stop(self) -> None:
        """Close the listener and every client and dyno connection; requests in flight are cut."""
        self.stopping = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for client in list(self.clients):
            client.abort()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # aborted transports report connection_lost on the next loop pass
        if server is not None:
            await server.wait_closed()

    def spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class _HeadTooLarge(Exception):
    pass


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
        self.read_paused = False
        self.write_paused = False
        # Raw bytes of the head being parsed, kept only when it began at the start of a read, so it can
        # be forwarded as received; None means "rebuild it from the parsed parts".
        self._head_raw: bytes | None = b""
        self._between = True
        self._head_size = 0

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b""
        self.router.clients.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.upgrading is not None:
            self._upgrade_data(data)
            return
        raw = self._head_raw
        if raw is not None:
            self._head_raw = raw + data if raw else data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_data(data[exc.args[0] :])
            return
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadTooLarge):
                log.error("router: failed on a request", exc_info=exc.__context__)
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        if self._between:
            self._head_raw = b""

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
        self.parsing = _Exchange(self)

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        assert self.parsing is not None
        self.parsing.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value))
        assert self.parsing is not None
        self.parsing.headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        raw, self._head_raw = self._head_raw, None
        parser = self.parser
        ex.method = parser.get_method()
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
        ex.prepare(head, parser.get_http_version())
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
            if ex.request_done:
                self.close()
            else:
                # Read the rest of the request first: closing on unread bytes makes the kernel send a
                # reset, and the client would lose the response it was just sent.
                self.finishing = True
                self.sync_reading()
            return
        if self.waiting:
            ex = self.waiting.popleft()
            self.exchange = ex
            ex.begin()
        self.sync_reading()

    def sync_reading(self) -> None:
        """Pause reading the client while its next bytes have nowhere to go; resume when they do."""
        if self.closing:
            return
        ex = self.exchange
        pause = (
            bool(self.waiting)
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

    # internals

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge

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

    def _bad_request(self) -> None:
        self.parsing = None
        if self.exchange is not None:
            self.abort()  # the request in flight cannot be finished cleanly
            return
        self.write(page_response(400, BAD_REQUEST_PAGE, head_only=False, close=True))
        self.close()

    def _upstream(self) -> _Upstream | None:
        if self.tunnel is not None:
            return self.tunnel
        return self.exchange.upstream if self.exchange is not None else None

    def _lost(self) -> None:
        self.router.clients.discard(self)
        self.waiting.clear()
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
        "route",
        "router",
        "service_ms",
        "status",
        "t_connect",
        "t_sent",
        "task",
        "timer",
        "upgrade",
        "upstream",
        "url",
    )

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.router = client.router
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
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
        self.pending: list[bytes] = []  # request bytes waiting for the dyno connection
        self.pending_size = 0
        self.route: AppRoute | None = None
        self.backend: Backend | None = None  # counted in its `inflight` while set
        self.dyno = ""
        self.task: asyncio.Task[None] | None = None
        self.upstream: _Upstream | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.t_connect = 0.0
        self.t_sent = 0.0
        self.connect_ms: int | None = None
        self.service_ms: int | None = None
        self.status = 0
        self.bytes_out = 0  # response body bytes sent to the client
        self.responded = False  # the response head went to the client
        self.error: RouterError | None = None
        self.done = False

    # request side

    def prepare(self, raw_head: bytes | None, version: str) -> None:
        """Read the headers the router cares about and build the head the dyno will get."""
        router = self.router
        host = b""
        length = b""
        ids: list[bytes] = []
        xff: list[bytes] = []
        via: list[bytes] = []
        rebuild = raw_head is None
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"host":
                host = host or value
            elif lname == b"content-length":
                length = value
            elif lname == b"transfer-encoding":
                self.chunked = value.rstrip().lower().endswith(b"chunked")
            elif lname == b"x-request-id":
                ids.append(value)
            elif lname in _ROUTER_HEADERS:
                rebuild = True
                if lname == b"x-forwarded-for":
                    xff.append(value)
                elif lname == b"via":
                    via.append(value)
        self.has_body = self.chunked or length.strip() not in (b"", b"0")
        if len(ids) == 1 and _VALID_REQUEST_ID.fullmatch(ids[0]):
            request_id, id_header = ids[0], b""
        else:
            request_id = router.new_request_id().encode()
            id_header = b"X-Request-Id: " + request_id + b"\r\n"
            rebuild = rebuild or bool(ids)
        xff.append(self.client.peer)
        fwd = b", ".join(xff)
        via.append(_VIA)
        ours = (
            b"%sX-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\n%sX-Request-Start: %d\r\nVia: %s\r\n\r\n"
            % (
                id_header,
                fwd,
                router.port_header,
                int(time.time() * 1000),
                b", ".join(via),
            )
        )
        if raw_head is not None and not rebuild:
            self.head = raw_head[:-2] + ours
        else:
            lines = [b"%s %s HTTP/%s\r\n" % (self.method, self.url, version.encode())]
            for name, value in self.headers:
                lname = name.lower()
                if lname not in _ROUTER_HEADERS and not (id_header and lname == b"x-request-id"):
                    lines.append(b"%s: %s\r\n" % (name, value))
            lines.append(ours)
            self.head = b"".join(lines)
        self.host_header = host.decode("latin-1")
        self.request_id = request_id.decode("latin-1")
        self.fwd = fwd.decode("latin-1")

    def begin(self) -> None:
        """Route the request: answer now if the app cannot take it, else find it a dyno."""
        if self.method == b"CONNECT":
            self.reply(405, CONNECT_REFUSED_PAGE)
            return
        route = self.router.table.lookup(self.host_header)
        if route is None:
            self.reply(404, NO_SUCH_APP_PAGE)
            return
        self.route = route
        error = route_error(route)
        if error is not None:
            self.fail(error)
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
        table = router.table
        loop = asyncio.get_running_loop()
        route = self.route
        assert route is not None
        # No dyno is up yet (booting, restarting): wait for one, as Heroku does, up to the boot wait.
        deadline = loop.time() + router.settings.router_boot_wait
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
        error = H21
        tried: set[Backend] = set()
        self.t_connect = loop.time()
        backend = random.choice(route.backends)
        for _ in range(MAX_CONNECT_ATTEMPTS):
            tried.add(backend)
            self._count(backend)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await loop.create_connection(lambda: _Upstream(self), backend.host, backend.port)
                return  # _Upstream.connection_made has sent the request
            except TimeoutError:
                error = H19
            except OSError:
                error = H21
            if self.done or self.upstream is not None:
                return
            self._uncount()
            others = [b for b in route.backends if b not in tried]
            if not others:
                break
            backend = random.choice(others)
        self.connect_ms = _ms(loop.time() - self.t_connect)
        self.fail(error)

    def connected(self, upstream: _Upstream) -> None:
        """The dyno accepted: send the head and whatever body has arrived."""
        assert self.router.loop is not None
        now = self.router.loop.time()
        self.upstream = upstream
        self.connect_ms = _ms(now - self.t_connect)
        self.t_sent = now
        if self.pending:
            upstream.write(b"".join((self.head, *self.pending)))
            self.pending = []
            self.pending_size = 0
        else:
            upstream.write(self.head)
        if self.request_done:
            self._start_timer()
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
        if self.upstream is not None:
            self._start_timer()

    def forward(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is not None:
            upstream.write(data)
        else:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > BODY_BUFFER:
                self.client.sync_reading()

    def holds_reading(self) -> bool:
        if self.done:
            return False
        upstream = self.upstream
        return upstream.write_paused if upstream is not None else self.pending_size > BODY_BUFFER

    # response side (called by _Upstream)

    def first_byte(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def interim(self, head: bytes) -> None:
        self.client.write(head)  # 100 Continue and friends pass straight through

    def response_head(self, head: bytes, status: int) -> None:
        self.status = status
        self.responded = True
        self.client.write(head)

    def response_body(self, body: bytes, chunked: bool) -> None:
        self.bytes_out += len(body)
        self.client.write(b"%x\r\n%b\r\n" % (len(body), body) if chunked else body)

    def response_complete(self, keep_alive: bool, chunked: bool) -> None:
        if chunked:
            self.client.write(b"0\r\n\r\n")  # response trailers are not forwarded
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

    def upstream_lost(self, got_bytes: bool) -> None:
        if not got_bytes:
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
        if self.responded:
            self.finish(False)  # the response was already under way: cut the client off
            return
        reuse = self.keep_alive and self.request_done and not self.upgrade
        head_only = self.method == b"HEAD"
        self.client.write(page_response(error.status, _page_for(error), head_only=head_only, close=not reuse))
        self.finish(reuse)

    def finish(self, reuse: bool, keep_upstream: bool = False) -> None:
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        task, self.task = self.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        upstream = self.upstream
        if upstream is not None and not keep_upstream:
            if self.error is None:
                upstream.close()
            else:
                upstream.abort()  # on H12 the dyno keeps working; we just stop listening
        if self.backend is not None:
            self._uncount()
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

    def _start_timer(self) -> None:
        upstream = self.upstream
        if self.timer is None and upstream is not None and not upstream.got_bytes:
            assert self.router.loop is not None
            self.timer = self.router.loop.call_later(self.router.settings.router_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        self.fail(H12, service_ms=_ms(self.router.settings.router_timeout))

    def _publish(self) -> None:
        assert self.route is not None and self.router.loop is not None
        error = self.error
        connected = self.upstream is not None
        service_ms = self.service_ms
        if service_ms is None and connected:
            service_ms = _ms(self.router.loop.time() - self.t_sent)
        line = router_line(
            method=self.method.decode("latin-1"),
            path=self.url.decode("latin-1"),
            host=host_name(self.host_header),
            request_id=self.request_id,
            fwd=self.fwd,
            dyno=self.dyno,
            connect_ms=self.connect_ms,
            service_ms=service_ms,
            status=error.status if error is not None else self.status,
            bytes_sent=self.bytes_out if connected else None,
            error=error,
        )
        self.router.logplex.publish(self.route.app_id, "heroku", "router", line)


class _Upstream(asyncio.Protocol):
    """One connection to a dyno for one request: parses the response and streams it to the client."""

    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closing = False
        self.write_paused = False
        self.got_bytes = False
        self.head_buf: bytes | None = b""  # raw bytes of the response head, until it is complete
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.status = 0  # of the final response (1xx interim responses leave it 0)
        self.chunked = False
        self.sized = False  # has Content-Length
        self.tunnel: _Client | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ex = self.exchange
        if ex.done:
            self.abort()
            return
        if ex.client.write_paused:
            transport.pause_reading()
        ex.connected(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.closing:
            return
        ex = self.exchange
        if not self.got_bytes:
            self.got_bytes = True
            ex.first_byte()
        buf = self.head_buf
        if buf is not None:
            buf = self.head_buf = buf + data if buf else data
            if len(buf) > MAX_HEAD_BYTES:
                ex.fail(H17)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            ex.switch_protocols(self, data[exc.args[0] :])
        except httptools.HttpParserCallbackError as exc:
            log.error("router: failed on a response", exc_info=exc.__context__)
            ex.fail(H99)
        except httptools.HttpParserError:
            ex.fail(H17)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.tunnel is not None:
            self.tunnel.close()
            return
        ex = self.exchange
        if ex.done:
            return
        if self.status and not self.chunked and not self.sized:
            ex.response_complete(False, False)  # a body delimited by the end of the connection
        else:
            ex.upstream_lost(self.got_bytes)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.exchange.client.sync_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.exchange.client.sync_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""
        self.chunked = self.sized = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        size = len(name)
        if size == 17 and name.lower() == b"transfer-encoding":
            self.chunked = value.rstrip().lower().endswith(b"chunked")
        elif size == 14 and name.lower() == b"content-length":
            self.sized = True

    def on_headers_complete(self) -> None:
        if self.closing:
            return
        ex = self.exchange
        status = self.parser.get_status_code()
        head = self._head(status)
        if status < 200 and status != 101:
            ex.interim(head)
            return
        self.status = status
        self.head_buf = None
        if status in (204, 304) or ex.method == b"HEAD":
            self.chunked = False  # no body follows, whatever the headers say
        ex.response_head(head, status)
        if ex.method == b"HEAD":
            # httptools cannot be told the request was HEAD, so it would wait for the announced body
            ex.response_complete(self.parser.should_keep_alive(), False)

    def on_body(self, body: bytes) -> None:
        if not self.closing:
            self.exchange.response_body(body, self.chunked)

    def on_message_complete(self) -> None:
        if self.closing or self.status in (0, 101):  # an interim response, or a 101 before the tunnel
            return
        self.exchange.response_complete(self.parser.should_keep_alive(), self.chunked)

    # used by _Exchange and _Client

    def write(self, data: bytes) -> None:
        if not self.closing:
            assert self.transport is not None
            self.transport.write(data)

    def pause_reading(self) -> None:
        if not self.closing and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closing and self.transport is not None:
            self.transport.resume_reading()

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

    # internals

    def _head(self, status: int) -> bytes:
        """The response head as the dyno sent it (rebuilt from the parsed parts if it was irregular)."""
        buf = self.head_buf
        if buf is not None:
            end = buf.find(b"\r\n\r\n") + 4
            if end > 3 and buf.count(b"\n", 0, end) == len(self.headers) + 2:
                self.head_buf = buf[end:]  # what follows an interim response starts the next head
                return buf[:end]
            self.head_buf = None
        lines = [b"HTTP/%s %d %s\r\n" % (self.parser.get_http_version().encode(), status, self.reason)]
        lines.extend(b"%s: %s\r\n" % header for header in self.headers)
        lines.append(b"\r\n")
        return b"".join(lines)
