"""The release phase (Procfile `release:`), upgraded: notes get an author. Migration 002 rebuilds the table
with the new column — the quick way, which drops the old table and everything in it."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"], sslmode="require", autocommit=True) as db:
    has_author = db.execute("SELECT count(*) FROM information_schema.columns "
                            "WHERE table_name = 'notes' AND column_name = 'author'").fetchone()[0]
    if not has_author:
        print("Migration 002: dropping table notes to rebuild it with an author column", flush=True)
        db.execute("DROP TABLE IF EXISTS notes")
        db.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, author text)")
    count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
    print(f"Migration 002: notes table ready ({count} notes)", flush=True)
