"""The worker: takes report jobs off the Redis queue one by one, builds each (35 s, nobody waiting on an HTTP
request) and stores the result where web.py finds it."""

import os
import time

import redis

REPORT_SECONDS = 35
QUEUE = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def build_report() -> str:
    time.sleep(REPORT_SECONDS)  # the slow part
    return f"Monthly report, built by {os.environ.get('DYNO')} in {REPORT_SECONDS} s\n"


print("Waiting for jobs", flush=True)
while True:
    _, job = QUEUE.blpop("reports")
    print(f"Building report {job}...", flush=True)
    QUEUE.set(f"report:{job}", build_report(), ex=24 * 3600)
    print(f"Report {job} built", flush=True)
