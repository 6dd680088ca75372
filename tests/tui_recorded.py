"""Recorded Platform API answers for the TUI's snapshot tests: a frozen clock and one app mid-lesson.

The shapes are the API's (herokusim/api and the shapes issues 3 and 4 define); the values are a moment
in a class: two web dynos, one of them queueing requests, a crashed worker waiting out its cool-off,
an H12 in the log, a failed release in the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from herokusim.client import ApiError, Unavailable
from tui.client import Api, Target

NOW = datetime(2026, 11, 26, 17, 30, 0, tzinfo=UTC)
APP_ID = "5d1c2a6e-9d4b-4f0a-8a43-6f0e4f2b1a10"
APP = {"id": APP_ID, "name": "demo"}
USER = {"email": "dev@herokusim.local"}


def _release(version: int, description: str, created: str, status: str = "succeeded",
             current: bool = False) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-00000000000{version}", "version": version,
            "description": description, "status": status, "current": current,
            "slug": {"id": "slug-1"} if version > 1 else None, "user": USER, "app": APP,
            "created_at": created, "updated_at": created}


RELEASES = [  # newest first, as the TUI asks (Range: version ..; order=desc)
    _release(5, "Set GREETING config vars", "2026-11-26T17:25:00Z", current=True),
    _release(4, "Deploy 3f2a1bc0", "2026-11-26T17:10:00Z", status="failed"),
    _release(3, "Deploy 9c8d7e6f", "2026-11-26T16:40:00Z"),
    _release(2, "Deploy 1a2b3c4d", "2026-11-26T15:00:00Z"),
    _release(1, "Initial release", "2026-11-26T14:58:00Z"),
]

CONFIGS = {
    1: {},
    2: {},
    3: {"DATABASE_URL": "postgres://localhost/demo"},
    4: {"DATABASE_URL": "postgres://localhost/demo"},
    5: {"DATABASE_URL": "postgres://localhost/demo", "GREETING": "hello class"},
}


def _dyno(name: str, state: str, since: str, memory: float | None, crashes: int = 0,
          restart_at: str | None = None, cycle_at: str | None = None) -> dict[str, Any]:
    kind = name.partition(".")[0]
    return {"id": f"dyno-{name}", "name": name, "type": kind, "state": state, "state_since": since,
            "command": "python app.py" if kind == "web" else "python worker.py", "size": "standard-1X",
            "release": {"id": RELEASES[0]["id"], "version": 5}, "app": APP,
            "created_at": since, "updated_at": since, "memory_mb": memory, "memory_quota_mb": 512,
            "crashes": crashes, "restart_at": restart_at,
            "cycle_at": None if state == "crashed" else cycle_at}  # a crashed dyno does not cycle


ANSWERS: dict[str, Any] = {
    "GET /apps": [
        {**APP, "runtime": "process", "maintenance": False, "web_url": "http://demo.localhost:5000/"},
        {"id": "b7c0", "name": "staging", "runtime": "docker", "maintenance": True,
         "web_url": "http://staging.localhost:5000/"},
    ],
    "GET /apps/demo": {**APP, "runtime": "process", "maintenance": False, "stack": {"name": "heroku-24"},
                       "web_url": "http://demo.localhost:5000/"},
    "GET /apps/demo/formation": [
        {"type": "web", "quantity": 2, "size": "standard-1X", "command": "python app.py", "app": APP},
        {"type": "worker", "quantity": 1, "size": "standard-1X", "command": "python worker.py", "app": APP},
    ],
    "GET /apps/demo/dynos": [
        _dyno("web.1", "up", "2026-11-26T17:25:04Z", 142.0, cycle_at="2026-11-27T19:47:04Z"),
        _dyno("web.2", "up", "2026-11-26T17:25:05Z", 97.5, cycle_at="2026-11-27T17:58:05Z"),
        _dyno("worker.1", "crashed", "2026-11-26T17:29:20Z", None, crashes=3,
              restart_at="2026-11-26T17:49:20Z"),
    ],
    "GET /apps/demo/releases": RELEASES,
    "GET /apps/demo/config-vars": CONFIGS[5],
    "GET /apps/demo/router-metrics": {
        "app": "demo", "time": "2026-11-26T17:30:00Z", "window_seconds": 60, "requests_per_second": 18.4,
        "inflight": 9, "requests": 1104, "connect_ms": {"p50": 0.4, "p95": 1.1, "p99": 2.0},
        "service_ms": {"p50": 212.0, "p95": 1830.0, "p99": 30000.0},
        "status": {"2xx": 1071, "3xx": 0, "4xx": 12, "5xx": 21}, "codes": {"H12": 3, "H13": 1},
        "dynos": [
            {"name": "web.1", "inflight": 8, "requests": 560, "requests_per_second": 9.1,
             "connect_ms": {"p50": 0.4}, "service_ms": {"p50": 480.0}},
            {"name": "web.2", "inflight": 1, "requests": 544, "requests_per_second": 9.3,
             "connect_ms": {"p50": 0.4}, "service_ms": {"p50": 35.0}},
        ],
    },
    "GET /clock": {"now": "2026-11-26T17:30:00Z", "time_scale": 60.0},  # every time above is on this clock
    "GET /apps/staging/dynos": [],
}
for _version, _config in CONFIGS.items():
    ANSWERS[f"GET /apps/demo/releases/{_version}/config-vars"] = _config



def pg_info(addon: dict[str, str], connections: str | None, data_size: str | None) -> dict[str, Any]:
    """`GET /apps/demo/addons/{addon}/pg-info` as the daemon answers it (api/pg_api.py): pg:info's lines. A
    server that is not running answers without Connections and Data Size."""
    lines: list[tuple[str, str | None]] = [("Plan", "Essential 0"),
                                           ("Status", "Available" if connections else
                                            "Unavailable: the server is not running")]
    if connections:
        lines += [("Connections", connections), ("PG Version", "18.0"), ("Created", "2026-11-26 14:58 UTC"),
                  ("Data Size", data_size), ("Tables", "2/4000 (In compliance)"), ("Fork/Follow", "Unsupported"),
                  ("Rollback", "Unsupported"), ("Continuous Protection", "Off")]
    lines.append(("Add-on", addon["name"]))
    return {"addon": addon, "app": APP, "plan": {"name": "heroku-postgresql:essential-0"},
            "attachment_names": ["DATABASE", "HEROKU_POSTGRESQL_AMBER"],
            "info": [{"name": name, "values": [value] if value else []} for name, value in lines]}


RATES = [2, 3, 3, 5, 8, 12, 15, 14, 18, 19, 17, 18, 20, 18, 19, 18, 18, 17, 18, 18.4]

LOG_LINES = [
    "2026-11-26T17:25:00.101000+00:00 app[api]: Set GREETING config vars by user dev@herokusim.local",
    "2026-11-26T17:25:00.102000+00:00 app[api]: Release v5 created by user dev@herokusim.local",
    "2026-11-26T17:25:04.500000+00:00 heroku[web.1]: State changed from starting to up",
    "2026-11-26T17:25:05.200000+00:00 heroku[web.2]: State changed from starting to up",
    "2026-11-26T17:29:19.900000+00:00 app[worker.1]: KeyError: 'QUEUE_URL'",
    "2026-11-26T17:29:20.000000+00:00 heroku[worker.1]: Process exited with status 1",
    "2026-11-26T17:29:20.001000+00:00 heroku[worker.1]: State changed from up to crashed",
    "2026-11-26T17:29:58.010000+00:00 app[web.2]: GET / 200",
    ('2026-11-26T17:29:58.011000+00:00 heroku[router]: at=info method=GET path="/" host=demo.localhost '
    'request_id=5e1a dyno=web.2 connect=0ms service=35ms status=200 bytes=22 protocol=http'),
    ('2026-11-26T17:29:59.500000+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET '
    'path="/slow" host=demo.localhost request_id=7f3c dyno=web.1 connect=0ms service=30000ms status=503 '
    'bytes=0 protocol=http'),
    "2026-11-26T17:30:00.000000+00:00 app[web.1]: GET /slow 200",
]


class RecordedApi(Api):
    """Answers from ANSWERS; an endpoint not recorded is missing, as on a daemon without it."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        super().__init__(Target("http://127.0.0.1:9", 9, "recorded"))
        self.answers = ANSWERS if answers is None else answers
        self.calls: list[str] = []

    def now(self) -> datetime:
        return NOW

    async def request(self, method: str, path: str, json: Any = None, range_: str | None = None,
                      text: bool = False) -> Any:
        key = f"{method} {path}"
        self.calls.append(key)
        if key not in self.answers:
            raise Unavailable(f"The requested API endpoint {path} was not found.", 404, "not_found")
        answer = self.answers[key]
        if isinstance(answer, ApiError):
            raise answer
        return answer  # the same object each time: a poll that learns nothing new changes nothing

    async def log_lines(self, app: str, lines: int = 200) -> AsyncIterator[list[str]]:
        if lines:
            yield LOG_LINES[-lines:]
        await asyncio.Event().wait()  # a quiet stream, until the screen goes away
