"""A tiny reporting app: every request builds a 10 MB report and answers with its summary. The report is
not kept: once the answer is sent it is freed, so the process stays the same size however many requests come."""

import hashlib
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(os.environ.get("PORT", "8080"))
REPORT_ROWS = 100_000  # 100 bytes a row: a 10 MB report

reports_made = 0  # a count is all the audit needs: not the reports themselves


def build_report(number: int) -> str:
    return "".join(f"{row:>10} {number:>10} {'report row':<78}\n" for row in range(REPORT_ROWS))


class Reports(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        global reports_made
        report = build_report(reports_made)
        reports_made += 1
        digest = hashlib.sha256(report.encode()).hexdigest()[:12]
        body = f"Report of {len(report)} bytes, sha256 {digest}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the router logs every request already


if __name__ == "__main__":
    print(f"Listening on port {PORT}", flush=True)
    HTTPServer(("0.0.0.0", PORT), Reports).serve_forever()
