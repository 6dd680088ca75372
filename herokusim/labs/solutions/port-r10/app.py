"""A tiny web app that listens where the platform says: $PORT, on every interface (the router reaches the
dyno from outside it)."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(os.environ.get("PORT", "8080"))  # Heroku sets $PORT for every web dyno; 8080 on a laptop


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Hello from the lab app!\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    print(f"Listening on port {PORT}", flush=True)
    HTTPServer(("0.0.0.0", PORT), Hello).serve_forever()
