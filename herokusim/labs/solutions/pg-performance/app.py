"""A tiny blog: GET / lists every author with the titles of their posts, from the app's Postgres database
(DATABASE_URL)."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg

PORT = int(os.environ.get("PORT", "8080"))


def authors_and_posts(db: psycopg.Connection) -> list[tuple[str, list[str]]]:
    """Every author and their posts' titles in one query (eager loading), not one query per author."""
    page: dict[int, tuple[str, list[str]]] = {}
    for author_id, name, title in db.execute(
            "SELECT authors.id, authors.name, posts.title FROM authors "
            "LEFT JOIN posts ON posts.author_id = authors.id ORDER BY authors.id, posts.id").fetchall():
        titles = page.setdefault(author_id, (name, []))[1]
        if title is not None:
            titles.append(title)
    return list(page.values())


class Blog(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/":
            self.send_error(404)
            return
        with psycopg.connect(os.environ["DATABASE_URL"], sslmode="require") as db:
            page = authors_and_posts(db)
        body = "".join(f"{name} ({len(titles)} posts): {', '.join(titles)}\n" for name, titles in page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    print(f"Listening on port {PORT}", flush=True)
    HTTPServer(("0.0.0.0", PORT), Blog).serve_forever()
