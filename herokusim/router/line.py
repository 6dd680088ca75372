"""router/line: the `heroku[router]` line — its format, the request ids in it, and publishing it.

Every request the router routes ends in `publish()`: one line to logplex and one record in the app's
metrics. It runs for every request, so the common line (no H-code) is one f-string rather than a call to
`router_line()`, which formats the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING

from herokusim.logplex import LogLine
from herokusim.router.errors import RouterError
from herokusim.router.table import host_name

if TYPE_CHECKING:
    from herokusim.router.exchange import Exchange

# An X-Request-Id the router keeps as the request's id; any other is replaced with one of its own.
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9+/=-]{20,200}")


def ms(seconds: float) -> int:
    """Seconds as whole milliseconds, as connect= and service= show them."""
    return int(seconds * 1000 + 0.5)


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


def publish(ex: Exchange) -> None:
    """The router line and the metrics of a finished exchange: this runs for every request."""
    route = ex.route
    router = ex.router
    loop = router.loop
    assert route is not None and loop is not None
    now = loop.time()
    error = ex.error
    connect_ms = ex.connect_ms
    service_ms = ex.service_ms
    if ex.upstream is not None:
        if service_ms is None:
            service_ms = int((now - ex.t_sent) * 1000 + 0.5)
        sent: int | None = ex.bytes_out
    else:
        sent = None
    host = ex.host_header
    if not host.islower() or ":" in host or " " in host:
        host = host_name(host)
    dyno = ex.dyno
    if error is None:
        status = ex.status
        # router_line() inlined for the common case (every request pays for this line)
        line = (
            f'at=info method={ex.method.decode("latin-1")} path="{ex.url.decode("latin-1")}" host={host} '
            f'request_id={ex.request_id} fwd="{ex.fwd}" dyno={dyno} '
            f'connect={"" if connect_ms is None else f"{connect_ms}ms"} '
            f'service={"" if service_ms is None else f"{service_ms}ms"} status={status} '
            f'bytes={"" if sent is None else sent} protocol=http'
        )
    else:
        status = error.status
        line = router_line(
            method=ex.method.decode("latin-1"),
            path=ex.url.decode("latin-1"),
            host=host,
            request_id=ex.request_id,
            fwd=ex.fwd,
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
