"""A tiny reporting app: GET /report queues a report to build and answers at once (202) with where to find it;
GET /report/ID returns it once the worker (worker.py) has built it. The queue is a Redis list."""

import os
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

QUEUE = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)  # the heroku-redis add-on


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/report":
            job = secrets.token_hex(4)
            QUEUE.rpush("reports", job)
            return self.reply(202, f"Report {job} queued: GET /report/{job} in a minute\n")
        if self.path.startswith("/report/"):
            report = QUEUE.get(f"report:{self.path.removeprefix('/report/')}")
            if report is None:
                return self.reply(202, "Still building, try again soon\n")
            return self.reply(200, report)
        self.reply(404, "Try /report\n")

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
