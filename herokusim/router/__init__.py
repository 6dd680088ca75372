"""router/: the HTTP router room — each request goes by its Host to a random up web dyno, as on Heroku.

    server.py    the Router: listener, open client connections, the timeout sweep
    client.py    the client side: one protocol per client connection, parsing its requests
    exchange.py  one request and its response: the forwarded head, routing, forwarding, how it ends
    upstream.py  the dyno side: finding an up dyno, connecting to it, the dyno connection
    errors.py    the H-codes and the pages the router answers with itself
    line.py      the `heroku[router]` line and request ids; publishing the line and the metrics
    limits.py    Heroku's router limits (connect attempts, backlog, H25's request limits)
    table.py     the routing table dynos/ publishes: host -> app -> up web dynos
    metrics.py   what the router counts per app and per dyno

Other rooms import the Router and the routing table from here (or from their modules).
"""

from herokusim.router.errors import RouterError, route_error
from herokusim.router.line import request_id_source, router_line
from herokusim.router.server import Router, raise_open_file_limit
from herokusim.router.table import APP_HOST_SUFFIX, AppRoute, Backend, RoutingTable

__all__ = [
    "APP_HOST_SUFFIX",
    "AppRoute",
    "Backend",
    "Router",
    "RouterError",
    "RoutingTable",
    "raise_open_file_limit",
    "request_id_source",
    "route_error",
    "router_line",
]
