"""A web app that stops when the platform asks: on SIGTERM it stops serving, closes its socket and exits
with status 143 (128 + SIGTERM's 15), well within the 30 seconds Heroku gives it."""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def on_sigterm(signum: int, frame: object) -> None:
    print("SIGTERM received: shutting down", flush=True)
    server.server_close()
    sys.exit(128 + signum)  # 143, as an unhandled SIGTERM would


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Hello from the lab app!\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    port = int(os.environ.get("PORT", "8080"))
    server = HTTPServer(("0.0.0.0", port), Hello)
    print(f"Listening on port {port}", flush=True)
    server.serve_forever()
