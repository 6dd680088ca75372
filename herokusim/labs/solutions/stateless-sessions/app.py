"""A tiny app with logins: GET /login?user=NAME logs you in (a session cookie), GET /me says who you are.
The session is the cookie itself, `NAME.SIGNATURE`, signed with SECRET_KEY (a config var every dyno has): any
dyno can check it, and nobody without the key can forge one.

    curl -c jar http://APP.localhost:5000/login?user=ada
    curl -b jar http://APP.localhost:5000/me
"""

import hashlib
import hmac
import os
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

SECRET_KEY = os.environ["SECRET_KEY"].encode()  # herokusim config:set SECRET_KEY=...


def sign(user: str) -> str:
    return hmac.new(SECRET_KEY, user.encode(), hashlib.sha256).hexdigest()


def log_in(user: str) -> str:
    """The value of the `session` cookie for `user`: the name and its signature."""
    return f"{quote(user)}.{sign(user)}"


def user_of(cookie: str) -> str | None:
    """The user a `session` cookie belongs to, or None when its signature is wrong."""
    name, _, signature = cookie.rpartition(".")
    user = unquote(name)
    return user if name and hmac.compare_digest(signature, sign(user)) else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        dyno = os.environ.get("DYNO")
        if url.path == "/login":
            user = parse_qs(url.query).get("user", ["guest"])[0]
            return self.reply(200, f"Logged in as {user} on {dyno}\n", {"Set-Cookie": f"session={log_in(user)}"})
        if url.path == "/me":
            cookies = SimpleCookie(self.headers.get("Cookie", ""))
            user = user_of(cookies["session"].value) if "session" in cookies else None
            if user is None:
                return self.reply(401, f"Not logged in ({dyno})\n")
            return self.reply(200, f"You are {user} ({dyno})\n")
        self.reply(404, "Try /login?user=NAME, then /me\n")

    def reply(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"Listening on port {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
