"""A shop's web app that charges cards through a payments provider, with the key each app is given in its
config var PAYMENTS_API_KEY: the same code runs on staging with a test key and on production with the
live one, and the code holds no secret."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(os.environ.get("PORT", "8080"))
PAYMENTS_API_KEY = os.environ["PAYMENTS_API_KEY"]  # config var: one per app, never in the code


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # never show a whole secret: the last 4 characters tell which key is in use
        body = f"Charging cards with the payments key ending in {PAYMENTS_API_KEY[-4:]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    print(f"Listening on port {PORT}", flush=True)
    HTTPServer(("0.0.0.0", PORT), Shop).serve_forever()
