"""router/client: the client side — one asyncio.Protocol per client connection, parsing its requests.

`Client` reads requests with httptools, keeps a request head as received when it can (so it is forwarded
without being rebuilt), enforces H25's request limits while the head is still coming, and hands each
parsed request to an `Exchange` (router/exchange.py), one at a time: keep-alive and pipelining, an Upgrade
turned into a raw tunnel, backpressure both ways, a lingering close after the router's last answer, and
the idle checks (H28) the router's sweep asks of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from herokusim.router.errors import (
    H13,
    H25_CONTENT_LENGTH,
    H25_HEADER,
    H25_STATUS_LINE,
    H27,
    H28,
    RouterError,
)
from herokusim.router.exchange import SPECIAL_HEADERS, Exchange
from herokusim.router.limits import MAX_HEAD_BYTES, MAX_HEADER, MAX_HEADER_NAME, MAX_HEADERS, MAX_REQUEST_LINE

if TYPE_CHECKING:
    from herokusim.router.server import Router
    from herokusim.router.upstream import Upstream

log = logging.getLogger(__name__)

MAX_RAW_HEAD = 16 * 1024  # a head kept as received to forward it; a longer one is rebuilt from its parsed parts
# Seconds a connection the router has answered for the last time is still read (and what arrives dropped)
# after it half-closed: closing on unread bytes makes the kernel reset the connection, and the client would
# lose the answer. Apache's lingering close waits as long.
LINGER = 2.0


class _HeadTooLarge(Exception):
    pass


class _Refused(Exception):
    """Raised from a parser callback to stop reading a request the router has refused (H25)."""


class Client(asyncio.Protocol):
    """One client connection: parses its requests and proxies them one at a time (keep-alive, pipelining)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = b""
        self.exchange: Exchange | None = None  # the request being proxied now
        self.waiting: deque[Exchange] = deque()  # pipelined requests behind it
        self.parsing: Exchange | None = None  # the request the parser is reading
        self.upgrading: Exchange | None = None  # an Upgrade request: later bytes are not HTTP
        self.tunnel: Upstream | None = None  # after a 101: raw bytes both ways
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
        self.parsing = Exchange(self)

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
        if lname in SPECIAL_HEADERS:
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

    # used by Exchange and Upstream

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

    def exchange_done(self, ex: Exchange, reuse: bool) -> None:
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

    def _start(self, ex: Exchange) -> None:
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

    def _refuse(self, ex: Exchange) -> None:
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
            ex = Exchange(self)  # garbage where a request should begin: a plain 400, no line
        elif not ex.method:
            ex.method = self.parser.get_method()
        ex.restriction = restriction
        if self.exchange is None:
            ex.refuse(restriction)
            return
        if not self.waiting or self.waiting[-1] is not ex:
            self.waiting.append(ex)
        self.sync_reading()

    def _upstream(self) -> Upstream | None:
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
