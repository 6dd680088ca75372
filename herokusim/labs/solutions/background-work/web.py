"""A tiny sign-up page: POST /signup with `email=...` creates the account, queues the welcome e-mail (a Redis
list) and answers at once; the worker (worker.py) sends it."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import redis

QUEUE = redis.Redis.from_url(os.environ["REDIS_URL"])  # the heroku-redis add-on


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path != "/signup":
            return self.reply(404, "POST /signup with email=...\n")
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        address = form.get("email", [""])[0]
        if "@" not in address:
            return self.reply(400, "An e-mail address, please\n")
        QUEUE.rpush("emails", address)  # the worker sends it
        self.reply(201, f"Welcome, {address}! Check your inbox.\n")

    def reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"Listening on port {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
