"""router/table: the routing table dynos/ publishes and the router reads — host -> app -> up web dynos.

dynos/ owns dyno state; this table is its published view for the router. Reads are plain attribute
access on the hot path; writers replace whole lists so a reader never sees half an update.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from herokusim.router.metrics import AppMetrics

APP_HOST_SUFFIX = ".localhost"


@dataclass(eq=False, slots=True)
class Backend:
    """One up web dyno as the router sees it. The fields after `port` belong to the router."""

    dyno: str  # "web.1"
    host: str  # always a loopback address
    port: int
    inflight: int = 0  # requests routed to this dyno and not finished
    quarantined_until: float = 0.0  # loop time before which the router skips this dyno
    idle: list[Any] = field(default_factory=list)  # kept-alive connections to this dyno, free for reuse
    keep_alive: bool = True  # the router may park connections to this dyno for reuse
    keep_alive_after: float = 0.0  # when keep_alive is off: loop time at which the router tries again
    responses: int = 0  # responses completed, to tell a starving dyno from a slow one

    def close_idle(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()


@dataclass(eq=False)
class AppRoute:
    app_id: str
    name: str
    released: bool = False  # has a release with a slug (else H81)
    maintenance: bool = False  # H80
    web_quantity: int = 0  # formation web=N (0 -> H14)
    crashed: bool = False  # every web dyno is crashed (H10)
    backends: list[Backend] = field(default_factory=list)  # web dynos that are `up`
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    metrics: AppMetrics = field(default_factory=AppMetrics)
    domains: set[str] = field(default_factory=set)  # custom hostnames routed to this app

    def notify(self) -> None:
        """Wake requests waiting for a backend; they re-check the route."""
        self.changed.set()
        self.changed = asyncio.Event()


def host_name(host_header: str) -> str:
    """`Demo.localhost:5000` -> `demo.localhost` (IPv6 literals keep their brackets)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0] if ":" in host else host


class RoutingTable:
    def __init__(self) -> None:
        self._by_id: dict[str, AppRoute] = {}
        self._by_host: dict[str, AppRoute] = {}
        self._by_header: dict[str, AppRoute | None] = {}  # Host headers as sent -> route, for the hot path

    def lookup(self, host_header: str) -> AppRoute | None:
        try:
            return self._by_header[host_header]
        except KeyError:
            pass
        route = self._by_host.get(host_name(host_header))
        if len(self._by_header) > 10_000:
            self._by_header.clear()
        self._by_header[host_header] = route
        return route

    def get(self, app_id: str) -> AppRoute | None:
        return self._by_id.get(app_id)

    def routes(self) -> list[AppRoute]:
        return list(self._by_id.values())

    def add_app(self, app_id: str, name: str) -> AppRoute:
        route = self._by_id.get(app_id)
        if route is None:
            route = self._by_id[app_id] = AppRoute(app_id=app_id, name=name)
            self._by_host[name + APP_HOST_SUFFIX] = route
            self._by_header.clear()
        return route

    def rename_app(self, app_id: str, name: str) -> None:
        """The app answers at `<name>.localhost` from now on, and no longer at its old host."""
        route = self._by_id.get(app_id)
        if route is None:
            return
        old_host = route.name + APP_HOST_SUFFIX
        if self._by_host.get(old_host) is route:
            del self._by_host[old_host]
        route.name = name
        self._by_host[name + APP_HOST_SUFFIX] = route
        self._by_header.clear()
        route.notify()

    def update(self, app_id: str, **fields: object) -> None:
        route = self._by_id[app_id]
        for key, value in fields.items():
            setattr(route, key, value)
        route.notify()

    def set_backends(self, app_id: str, backends: list[Backend], crashed: bool) -> None:
        route = self._by_id.get(app_id)
        if route is None:
            return
        # keep in-flight counts of dynos that stay
        previous = {(b.dyno, b.port): b for b in route.backends}
        route.backends = [previous.pop((b.dyno, b.port), b) for b in backends]
        for gone in previous.values():
            gone.close_idle()
        route.crashed = crashed
        route.notify()

    def remove_app(self, app_id: str) -> None:
        route = self._by_id.pop(app_id, None)
        if route is None:
            return
        for host in [h for h, r in self._by_host.items() if r is route]:
            del self._by_host[host]
        self._by_header.clear()
        for backend in route.backends:
            backend.close_idle()
        route.notify()

    def add_domain(self, app_id: str, hostname: str) -> None:
        """Route a custom hostname to this app (api/ has checked nobody else has it)."""
        route = self._by_id.get(app_id)
        if route is not None:
            route.domains.add(hostname)
            self._by_host[hostname] = route
            self._by_header.clear()

    def remove_domain(self, app_id: str, hostname: str) -> None:
        route = self._by_id.get(app_id)
        if route is not None and hostname in route.domains:
            route.domains.discard(hostname)
            if self._by_host.get(hostname) is route:
                del self._by_host[hostname]
            self._by_header.clear()

    async def wait_for_change(self, route: AppRoute, timeout: float) -> bool:
        """Wait until dynos/ publishes a change for this app; False on timeout."""
        try:
            await asyncio.wait_for(route.changed.wait(), timeout)
        except TimeoutError:
            return False
        return True
