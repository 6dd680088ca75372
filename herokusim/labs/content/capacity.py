"""labs/content/capacity: what labs 4 and 5 measure — how long one request takes and how many a dyno serves
at once, read from the router's own lines (`dyno=web.1 connect=0ms service=201ms`), not from a stopwatch.

Two probes, both counts: requests one at a time give the service time of one request (no queue); then a
burst of 2 x dynos + 1 requests sent at once lands at least 3 requests on some dyno (the router picks a
random dyno for each, but there are more requests than two per dyno): a dyno that serves one request at a
time answers them one after another (service 200, 400, 600 ms), one that serves them side by side answers
each in about 200 ms. So the verdict does not depend on where the random router sends what.
"""

from __future__ import annotations

import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from herokusim.labs.context import CheckContext

SEQUENTIAL = 5  # requests one at a time, for the service time of one request
QUEUED = 1.6  # a burst request that took this many times the lone service time waited behind another
BURST_MAX = 41  # the burst for 20 dynos; more dynos change nothing the labs ask about


@dataclass(frozen=True)
class Capacity:
    dynos: int  # web dynos up
    size: str  # their size, from the formation
    service_ms: float  # one request, alone on a dyno (the median of the sequential probe)
    side_by_side: bool  # every dyno that got several burst requests served them at once
    evidence: tuple[str, list[int]]  # the burst's most loaded dyno and its service times, in ms

    @property
    def per_dyno(self) -> float:
        """Requests per second one dyno serves if it serves one at a time: 1000 ÷ mean ms."""
        return 1000.0 / self.service_ms

    @property
    def throughput(self) -> float:
        """Requests per second the app serves one at a time per dyno (side-by-side servers do more)."""
        return self.dynos * self.per_dyno


def _ms(value: str) -> int | None:
    return int(value[:-2]) if value.endswith("ms") and value[:-2].isdigit() else None


def _send(ctx: CheckContext, ids: list[str]) -> list[httpx.Response | Exception]:
    def one(request_id: str) -> httpx.Response | Exception:
        try:
            return ctx.get("/", headers={"X-Request-ID": request_id}, timeout=60.0)
        except httpx.HTTPError as exc:
            return exc
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        return list(pool.map(one, ids))


def _lines(ctx: CheckContext, ids: list[str]) -> dict[str, dict[str, str]]:
    """The router's line for each of `ids` (they are published as the responses end: wait a little)."""
    wanted, found = set(ids), {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for fields in ctx.router_lines():
            if fields.get("request_id") in wanted:
                found[fields["request_id"]] = fields
        if len(found) == len(wanted):
            break
        time.sleep(0.3)
    return found


def measure(ctx: CheckContext) -> Capacity | str:
    """The app's capacity, or why it could not be measured (the check is then undecided)."""
    if not ctx.wait_up("web", timeout=120):
        return "the web dynos did not come up within 2 minutes: look at `herokusim ps`, then check again."
    formation = next((f for f in ctx.formation() if f["type"] == "web"), None)
    dynos = sum(1 for d in ctx.dynos() if d["type"] == "web" and d["state"] == "up")
    if formation is None or dynos == 0:
        return "the app has no web dynos up."
    tag = secrets.token_hex(8)
    ctx.say(f"Sending {SEQUENTIAL} requests one at a time through the router...")
    alone = [f"lab-{tag}-one-{n:03d}" for n in range(SEQUENTIAL)]
    for request_id in alone:
        answer = _send(ctx, [request_id])[0]
        if isinstance(answer, Exception) or answer.status_code != 200:
            return f"GET / did not answer 200 ({answer}): is the app healthy?"
    lone = [ms for f in _lines(ctx, alone).values() if (ms := _ms(f.get("service", ""))) is not None]
    if len(lone) < SEQUENTIAL:
        return "the router's lines for the probe requests did not all show up in the logs."
    service_ms = max(1.0, statistics.median(lone))
    burst = min(2 * dynos + 1, BURST_MAX)
    ctx.say(f"Sending {burst} requests at once to {dynos} web dyno(s)...")
    ids = [f"lab-{tag}-burst-{n:03d}" for n in range(burst)]
    answers = _send(ctx, ids)
    if any(isinstance(a, Exception) or a.status_code != 200 for a in answers):
        return "some requests of the burst did not get an answer (the dynos changed meanwhile?)."
    by_dyno: dict[str, list[int]] = {}
    for fields in _lines(ctx, ids).values():
        ms = _ms(fields.get("service", "")) or 0
        connect = _ms(fields.get("connect", "")) or 0
        by_dyno.setdefault(fields.get("dyno", "?"), []).append(ms + connect)
    crowded = {name: sorted(times) for name, times in by_dyno.items() if len(times) >= 2}
    if not crowded:
        return "the burst did not reach any dyno twice (the dynos changed meanwhile?)."
    queued = {name: times for name, times in crowded.items() if times[-1] >= QUEUED * service_ms}
    evidence = max((queued or crowded).items(), key=lambda item: (len(item[1]), item[1][-1]))
    return Capacity(dynos, str(formation.get("size", "")), service_ms, not queued, evidence)


def times(ms: list[int]) -> str:
    return ", ".join(f"{m}ms" for m in ms)
