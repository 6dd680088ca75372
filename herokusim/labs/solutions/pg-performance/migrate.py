"""The release phase (Procfile `release:`): makes the blog's tables and seeds them once — 1000 authors with 25
posts each."""

import os

import psycopg

AUTHORS, POSTS_EACH = 1000, 25

with psycopg.connect(os.environ["DATABASE_URL"], sslmode="require", autocommit=True) as db:
    db.execute("CREATE TABLE IF NOT EXISTS authors (id serial PRIMARY KEY, name text NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS posts (id serial PRIMARY KEY, "
               "author_id integer NOT NULL REFERENCES authors (id), title text NOT NULL, body text NOT NULL)")
    if db.execute("SELECT count(*) FROM authors").fetchone()[0] == 0:
        db.execute("INSERT INTO authors (name) SELECT 'Author ' || a FROM generate_series(1, %s) a", (AUTHORS,))
        db.execute("INSERT INTO posts (author_id, title, body) "
                   "SELECT a, 'Post ' || p || ' by author ' || a, repeat('Lorem ipsum dolor sit amet. ', 36) "
                   "FROM generate_series(1, %s) p, generate_series(1, %s) a", (POSTS_EACH, AUTHORS))
    # a foreign key does not index itself: looking up an author's posts needs this index
    db.execute("CREATE INDEX IF NOT EXISTS posts_author_id_idx ON posts (author_id)")
    db.execute("ANALYZE authors")  # fresh statistics for the query planner
    db.execute("ANALYZE posts")
    authors = db.execute("SELECT count(*) FROM authors").fetchone()[0]
    posts = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    print(f"Migration: {authors} authors, {posts} posts", flush=True)
