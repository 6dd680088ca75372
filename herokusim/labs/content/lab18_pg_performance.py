"""Lab 18: Postgres performance — one query per author (N+1) on an unindexed foreign key makes a page slow."""

from __future__ import annotations

import re
import statistics
import time

from herokusim.client import app_path
from herokusim.labs.context import CheckContext, parse_router_line
from herokusim.labs.lab import CheckResult, Lab

PATH = "/"
REQUESTS = 3  # one after another: the page's own time, not a queue's
THRESHOLD_MS = 500  # the median service= a page may take
MAX_SCANS = 10  # reads of posts a page: one JOIN needs 1 (3 with parallel workers), N+1 one per author
# the query the page runs for each author, on the posts' foreign key
LOOKUP = "SELECT title FROM posts WHERE author_id = 1 ORDER BY id"
INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


def _psql(ctx: CheckContext, sql: str) -> str:
    answer = ctx.api.post(app_path(ctx.app, "addons", "DATABASE", "pg-psql"), {"command": sql})
    return str(answer.get("stdout", "")) + str(answer.get("stderr", ""))


def _scans(ctx: CheckContext) -> int | None:
    """How many times posts has been read, by a sequential or an index scan (pg_stat_user_tables)."""
    found = re.search(r"scans=(\d+)", _psql(ctx, "SELECT 'scans=' || (coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) "
                                                 "FROM pg_stat_user_tables WHERE relname = 'posts'"))
    return int(found.group(1)) if found else None


def _router_lines(ctx: CheckContext) -> list[tuple[str, int]]:
    """The running release's router lines for GET PATH: (message, service in ms)."""
    found = []
    for line in ctx.logs(source="heroku", since=ctx.released_at()):
        if "heroku[router]: " in line:
            message = line.split("heroku[router]: ", 1)[1]
            fields = parse_router_line(message)
            if fields.get("path", "").split("?")[0] == PATH and fields.get("service", "").endswith("ms"):
                found.append((message, int(fields["service"][:-2] or 0)))
    return found


def check(ctx: CheckContext) -> CheckResult:
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("web.1 is not up yet: look at `herokusim ps`, then check again.")
    before = _scans(ctx)
    if before is None:
        return CheckResult.undecided("The posts table is not there yet: has the release phase (migrate.py) run?")
    seen = len(_router_lines(ctx))
    ctx.say(f"Requesting GET {PATH} {REQUESTS} times, one after another...")
    answers = ctx.load(REQUESTS, PATH, concurrency=1, timeout=ctx.settings.router_timeout + 30)
    failed = [a for a in answers if isinstance(a, Exception) or a.status_code != 200]
    if failed:
        first = failed[0]
        what = str(first) if isinstance(first, Exception) else f"HTTP {first.status_code}"
        return CheckResult.fail(f"{len(failed)} of {REQUESTS} requests to GET {PATH} failed ({what})",
                                "Look at `herokusim logs`: what does the web dyno say?")
    deadline = time.monotonic() + 10
    while len(lines := _router_lines(ctx)) < seen + REQUESTS and time.monotonic() < deadline:
        time.sleep(0.25)
    lines = lines[seen:]
    if len(lines) < REQUESTS:
        return CheckResult.undecided(f"Only {len(lines)} router lines for {REQUESTS} requests so far: check again.")
    median = statistics.median(ms for _, ms in lines)
    slowest = max(lines, key=lambda line: line[1])
    if median > THRESHOLD_MS:
        return CheckResult.fail(f"GET {PATH} takes {median:.0f}ms (median service= of {REQUESTS} requests; over "
                                f"{THRESHOLD_MS}ms): {slowest[0]}",
                                "How many queries does one page run? Each reads the whole posts table: "
                                "EXPLAIN one of them with `herokusim pg:psql`.")
    ctx.say("Counting the page's reads of posts (pg_stat_user_tables)...")
    deadline, scans = time.monotonic() + 10, 0
    while time.monotonic() < deadline:  # a backend's counters reach the view when it goes idle or exits
        scans = (_scans(ctx) or 0) - before
        if scans >= REQUESTS:
            break
        time.sleep(0.5)
    if scans < REQUESTS:
        return CheckResult.undecided(f"Postgres counted {scans} reads of posts for {REQUESTS} pages: check again.")
    if scans / REQUESTS > MAX_SCANS:
        return CheckResult.fail(f"GET {PATH} answers in {median:.0f}ms but reads posts {scans / REQUESTS:.0f} times "
                                "a page (pg_stat_user_tables): one query per author.",
                                "Load the authors and their posts together, in one query.")
    ctx.say(f"EXPLAIN {LOOKUP}")
    plan = _psql(ctx, f"EXPLAIN {LOOKUP}")
    if not (any(node in plan for node in INDEX_NODES) and re.search(r"Index Cond: \(+author_id = ", plan)):
        scan = next((line.strip() for line in plan.splitlines() if "Scan" in line), plan.strip()[:200])
        return CheckResult.fail(f"GET {PATH} is fast now, but looking up an author's posts reads the whole table: "
                                f"EXPLAIN {LOOKUP} shows `{scan}`.",
                                "A foreign key is not indexed by itself. Which column do you look posts up by?")
    node = next(line.strip().lstrip("-> ") for line in plan.splitlines() if any(n in line for n in INDEX_NODES))
    return CheckResult.ok(f"GET {PATH} answers in {median:.0f}ms (median service=), reads posts "
                          f"{scans / REQUESTS:.0f} time(s) a page, and EXPLAIN {LOOKUP} shows `{node}`.")


LAB = Lab(
    number=18,
    slug="pg-performance",
    title="Postgres performance",
    lesson=("A page that runs one query per row it shows (N+1) is slow, and slower still when each query reads "
            "a whole table because its foreign key has no index. Load related rows in one query; index the "
            "columns you look rows up by (EXPLAIN shows an index scan)."),
    task=("GET / lists 1000 authors with their posts. Request it and read the router's `service=` in "
          "`herokusim logs`.\n"
          "Find out what the page asks Postgres (app.py; `herokusim pg:psql` and EXPLAIN), make it one query and "
          "give posts the index it lacks (migrate.py runs in the release phase); push, and run "
          "`herokusim labs:check`."),
    check=check,
    addons=("heroku-postgresql",),
    check_describes=(f"Requests GET / {REQUESTS} times and reads the running release's router lines: fails with "
                     f"the slowest line when the median service= is over {THRESHOLD_MS}ms; then fails when "
                     f"posts is read more than {MAX_SCANS} times a page (pg_stat_user_tables: still N+1), or when "
                     f"`EXPLAIN {LOOKUP}` (pg-psql) shows no index scan with an `Index Cond` on author_id; "
                     "passes with one query a page and an index on posts.author_id."),
)
