"""A tiny file-sharing app: upload a file, fetch it back later. The files live in the Redis add-on (REDIS_URL),
which every dyno reaches and which outlives any dyno: a dyno's own disk is private and wiped on every restart.

    curl -X POST --data-binary @notes.txt http://APP.localhost:5000/uploads/notes.txt
    curl http://APP.localhost:5000/uploads/notes.txt
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

STORE = redis.Redis.from_url(os.environ["REDIS_URL"])  # set by the heroku-redis add-on
KEY = "uploads"  # one Redis hash: file name -> file contents


def save(name: str, data: bytes) -> None:
    STORE.hset(KEY, name, data)


def load(name: str) -> bytes | None:
    return STORE.hget(KEY, name)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        name = self.path.removeprefix("/uploads/")
        if not self.path.startswith("/uploads/") or not name or "/" in name:
            return self.reply(404, b"POST /uploads/NAME\n")
        save(name, self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.reply(201, f"{os.environ.get('DYNO')} saved {name}\n".encode())

    def do_GET(self) -> None:
        name = self.path.removeprefix("/uploads/")
        data = load(name) if self.path.startswith("/uploads/") and "/" not in name else None
        if data is None:
            return self.reply(404, f"{os.environ.get('DYNO')} has no {name}\n".encode())
        self.reply(200, data)

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"Listening on port {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
