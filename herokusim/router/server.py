"""router/server: the HTTP router — each request goes by its Host to a random up web dyno, as on Heroku.

One asyncio.Protocol per client connection (`Client`, router/client.py) and one per dyno connection
(`Upstream`, router/upstream.py), with httptools parsing both sides: the design TECH-NOTES measured at
~60k req/s. Request heads are forwarded as received with the router's headers appended; responses pass
through byte for byte once their head has parsed; bodies stream in their own framing, never buffered
whole. Connections to a dyno are kept alive and reused when the dyno allows it. Timeouts (H12, H15, H28)
are checked by one sweep a few times a second rather than a timer per request.

This module owns the `Router` itself: the listener, the open client connections and their limit (from the
process's open-file limit), and the timeout sweep.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Coroutine
from typing import Any

from herokusim.config import Settings
from herokusim.logplex import Logplex
from herokusim.router.client import Client
from herokusim.router.line import request_id_source
from herokusim.router.table import RoutingTable

log = logging.getLogger(__name__)

# Open client connections: at most MAX_CLIENTS, and never so many that the daemon's file descriptors run
# out (the API, the git server, the store and dynos' pipes live in the same process). Each client may hold
# two descriptors (its own and its dyno connection's); FD_RESERVE are kept for everything else.
MAX_CLIENTS = 10_000
FD_RESERVE = 256
SWEEP_PERIOD = 0.25  # seconds between timeout checks (shorter when a timeout is set shorter for tests)


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
        self.clients: dict[Client, None] = {}
        self.max_clients = MAX_CLIENTS
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the bound port."""
        self.loop = asyncio.get_running_loop()
        self.stopping = False
        self.max_clients = client_limit()
        self._server = await self.loop.create_server(lambda: Client(self), host, port, backlog=1024)
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
