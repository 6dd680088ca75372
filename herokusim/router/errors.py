"""router/errors: the router's H-codes and the pages it answers with itself.

Each H-code is a `RouterError`: its code and description as the router line shows them, and the status the
client gets. `route_error` picks the code for an app that cannot take a request, in Heroku's order. The
pages are the router's own answers (Heroku's "Application error", maintenance, no such app, 400s), built
once at import and sent as complete HTTP/1.1 responses by `page_response`.
"""

from __future__ import annotations

from dataclasses import dataclass

from herokusim.router.table import AppRoute


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


def page_for(error: RouterError) -> bytes:
    """The page a client gets with this H-code."""
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
