"""router/exchange: one request and its response, from the client's parsed head to the router line.

An `Exchange` builds the head the dyno gets (the client's head as received, with the router's headers
appended; rebuilt only when the client sent headers the router sets itself), routes the request (H10,
H11, H14, H80, H81, no such app), sends it on a kept-alive dyno connection when one is idle (the hot path,
no task) or has router/upstream.py connect one, forwards the request body, checks H12/H15 when the sweep
asks, and ends in one of three ways: the response completed, an H-code page, or cut off. Every routed
request ends in `publish()` (router/line.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from herokusim.router.errors import (
    BAD_REQUEST_PAGE,
    CONNECT_REFUSED_PAGE,
    H11,
    H12,
    H13,
    H15,
    H17,
    H18,
    H27,
    NO_SUCH_APP_PAGE,
    RouterError,
    page_for,
    page_response,
    route_error,
)
from herokusim.router.limits import BACKLOG_PER_DYNO, MAX_CONNECT_ATTEMPTS
from herokusim.router.line import VALID_REQUEST_ID, ms, publish
from herokusim.router.table import AppRoute, Backend
from herokusim.router.upstream import connect

if TYPE_CHECKING:
    from herokusim.router.client import Client
    from herokusim.router.upstream import Upstream

ROUTER_NAME = "herokusim"  # as in `Via: 1.1 herokusim`
# Headers the router sets itself; a client's copies are merged (X-Forwarded-For, Via) or replaced.
ROUTER_HEADERS = frozenset(
    (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port", b"x-request-start", b"via")
)
VIA = b"1.1 " + ROUTER_NAME.encode()
# Request headers prepare() looks at (lower-cased); Client.on_header sets them aside so prepare() need not
# scan all.
SPECIAL_HEADERS = ROUTER_HEADERS | {b"host", b"content-length", b"transfer-encoding", b"x-request-id"}
BODY_BUFFER = 64 * 1024  # request body held while no dyno is connected yet; then the client is paused
# A request on a new connection waiting this long for its first byte while the router keeps other
# connections to the same dyno alive: the dyno may serve one connection at a time (a single-threaded
# HTTP/1.1 server blocks reading an idle kept-alive socket), so the router stops keeping them for it.
STARVED_AFTER = 0.5
KEEP_ALIVE_PAUSE = 30.0  # seconds before the router tries keeping connections to such a dyno again


class Exchange:
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

    def __init__(self, client: Client) -> None:
        self.client = client
        self.router = client.router
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.special: list[tuple[bytes, bytes]] = []  # (lower-cased name, value) of SPECIAL_HEADERS
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
        self.upstream: Upstream | None = None
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
            else:  # one of ROUTER_HEADERS
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
        if ids is not None and len(ids) == 1 and VALID_REQUEST_ID.fullmatch(ids[0]):
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
            via_value = VIA
        else:
            via.append(VIA)
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
                if lname not in ROUTER_HEADERS and not (id_header and lname == b"x-request-id"):
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
        valid = len(ids) == 1 and VALID_REQUEST_ID.fullmatch(ids[0])
        self.request_id = ids[0].decode("latin-1") if valid else self.router.new_request_id()
        self.route = self.router.table.lookup(self.host_header)
        if self.route is not None and not self.router.stopping:
            publish(self)
        client.write(page_response(error.status, page_for(error), head_only=self.method == b"HEAD", close=True))
        client.linger()

    def drop(self, error: RouterError) -> None:
        """A pipelined request whose connection ended before its turn: not answered, but logged."""
        self.done = True
        self.error = error
        self.route = self.router.table.lookup(self.host_header) if self.host_header else None
        if self.route is not None and not self.router.stopping:
            publish(self)

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
                    self.reuse(backend, now)
                    return
        self.task = self.router.spawn(connect(self))

    def reuse(self, backend: Backend, now: float) -> None:
        """Send the request on a kept-alive connection to this dyno (begin()'s hot path; upstream.connect)."""
        upstream: Upstream = backend.idle.pop()
        backend.inflight += 1
        self.backend = backend
        self.dyno = backend.dyno
        upstream.exchange = self
        self.connected(upstream, now)

    def connected(self, upstream: Upstream, now: float = 0.0) -> None:
        """The dyno connection is ours: send the head and whatever body has arrived."""
        if not now:
            assert self.router.loop is not None
            now = self.router.loop.time()
        self.upstream = upstream
        self.responses_at_send = upstream.backend.responses
        # Connected: the task that connected (if any) must not be cancelled from here on, or uvloop's
        # create_connection, still finishing, would close this connection.
        self.task = None
        self.connect_ms = ms(now - self.t_connect)
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
                self.fail(H12, service_ms=ms(timeout))
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

    # response side (called by Upstream)

    def response_complete(self, keep_alive: bool) -> None:
        backend = self.backend
        if backend is not None:
            backend.responses += 1
        self.reusable = keep_alive and self.request_done and not self.upgrade and self.method != b"HEAD"
        self.finish(keep_alive and self.keep_alive and not self.upgrade)

    def switch_protocols(self, upstream: Upstream, early: bytes) -> None:
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

    def upstream_lost(self, upstream: Upstream) -> None:
        if not upstream.got_bytes:
            if upstream.reused and not self.has_body and self.retries < MAX_CONNECT_ATTEMPTS:
                # a kept-alive connection the dyno had already closed: send it on a fresh one
                self.retries += 1
                self.upstream = None
                self.t_wait = 0.0
                self.uncount()
                self.task = self.router.spawn(connect(self))
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
        self.client.write(page_response(error.status, page_for(error), head_only=head_only, close=not reuse))
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
            publish(self)
        self.client.exchange_done(self, reuse)

    # the in-flight count of the dyno being connected to (used by upstream.connect)

    def count(self, backend: Backend) -> None:
        """Count this request on the dyno it is being sent to."""
        backend.inflight += 1
        self.backend = backend
        self.dyno = backend.dyno

    def uncount(self) -> None:
        """That dyno will not get this request after all (it refused, or a kept-alive connection was gone)."""
        assert self.backend is not None
        self.backend.inflight -= 1
        self.backend = None
