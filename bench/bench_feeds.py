"""The feeds query of issue 4 on 100,000 course dates, under load, against a bare endpoint."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy import insert, text

from bench.core import BenchContext, Result, ServerProcess, analyze, judge
from planfeed.accounts.models import Role, User
from planfeed.accounts.service import create_api_key, create_organisation, create_user
from planfeed.auth.principal import system_principal
from planfeed.config import Settings
from planfeed.db.base import Environment, UTCDateTime
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import bind_scope
from planfeed.http.app import create_app
from planfeed.http.deps import FeedsPrincipal, StateDep
from planfeed.http.responses import OrjsonResponse
from planfeed.training.models import CourseDate, CourseTemplate

NAME = "feeds"
TITLE = "Feeds API v2: the course-date query of issue 4 under load"
DESCRIPTION = """\
Seeds N course dates over six course templates (a sixth of them `FirAid`; statuses Available,
Full, Cancelled and Completed), starts a real server process (uvicorn serving planfeed's app
with one extra route, below) on a free loopback port, and drives it with `wrk` (2 threads,
8 connections; a Python thread pool when wrk is not installed) for a fixed time per round:

    GET /accessplan/api/v2/coursedate?$filter=Status eq 'Available' and CourseID eq 'FirAid'
        &$orderby=StartDate desc&$top=50&$count=true

**Baseline**: a bare endpoint in the same app, `GET /accessplan/bench/bare-coursedate`, with
the same authentication dependency, that runs the same two SQL statements (page and count) as
hand-written text and returns the same JSON; the run checks the two answers are identical
before timing. Rounds alternate feeds and bare; the medians over rounds are reported. **Ratio**
= feeds median latency / bare median latency: the feeds engine's overhead (parsing the query,
building SQL from the module registry, applying scope and access, shaping rows).
"""

FULL_DATES = 100_000
QUICK_DATES = 2_000
TARGET_RATIO = 2.0
FEEDS_PATH = (
    "/accessplan/api/v2/coursedate?$filter="
    + quote("Status eq 'Available' and CourseID eq 'FirAid'")
    + "&$orderby="
    + quote("StartDate desc")
    + "&$top=50&$count=true"
)
BARE_PATH = "/accessplan/bench/bare-coursedate"
TEMPLATES = ("FirAid", "FireWa", "ManHan", "MenHea", "DataPr", "LeadEs")
STATUSES = ("Available", "Available", "Full", "Cancelled", "Completed")

_NAMES = (
    "CourseDateID", "CourseTemplateID", "CourseID", "CourseName", "Label", "StartDate",
    "EndDate", "Status", "Capacity", "Booked", "SpacesLeft", "Location", "Price", "Created",
    "LastUpdated",
)  # fmt: skip
_EXPRESSIONS = (
    "d.id", "d.course_template_id", "t.code", "t.name", "d.label", "d.start_date", "d.end_date",
    "d.status", "d.capacity", "d.booked_count", "d.capacity - d.booked_count", "d.location",
    "d.price", "d.created_at", "d.updated_at",
)  # fmt: skip
_COLUMNS = ", ".join(f'{e} AS "{n}"' for e, n in zip(_EXPRESSIONS, _NAMES, strict=True))
_WHERE = (
    "FROM course_dates d JOIN course_templates t ON t.id = d.course_template_id "
    "WHERE d.organisation_id = :org AND d.environment = :env "
    "AND t.organisation_id = :org AND t.environment = :env "
    "AND d.status = 'Available' AND t.code = 'FirAid'"
)


def make_app() -> FastAPI:
    """planfeed's app plus the bare baseline route (``uvicorn --factory`` calls this)."""
    app = create_app(Settings(run_worker=False))
    times = {name: UTCDateTime() for name in ("StartDate", "EndDate", "Created", "LastUpdated")}
    page_sql = text(
        f"SELECT {_COLUMNS} {_WHERE} ORDER BY d.start_date DESC, d.id LIMIT 50 OFFSET 0"
    ).columns(**times)
    count_sql = text(f"SELECT count(*) {_WHERE}")

    @app.get("/{prefix}/bench/bare-coursedate", include_in_schema=False)
    def bare(state: StateDep, principal: FeedsPrincipal) -> OrjsonResponse:
        params = {"org": principal.organisation_id, "env": principal.environment.value}
        with state.engine.connect() as connection:
            results = [dict(row._mapping) for row in connection.execute(page_sql, params)]
            total = connection.execute(count_sql, params).scalar_one()
        return OrjsonResponse(
            {"results": results, "pageIndex": 0, "pageSize": 50, "totalCount": total}
        )

    return app


def seed(ctx: BenchContext, count: int) -> str:
    """One organisation with a SuperAdmin key, six templates and ``count`` course dates."""
    factory = make_sessionmaker(ctx.engine, writer=True)
    with factory.begin() as session:
        organisation_id = create_organisation(session, "feedsorg").id
    principal = system_principal(organisation_id, "feedsorg", Environment.LIVE)
    with factory() as session, session.begin():
        bind_scope(session, principal.scope)
        admin = create_user(
            session, principal, login="admin", email="a@feeds.example", role=Role.SUPER_ADMIN
        )
        key = create_api_key(
            session, principal, ctx.secret_key, user=admin, label="bench",
            environment=Environment.LIVE,
        )[1]  # fmt: skip
        templates = [CourseTemplate(code=code, name=f"Course {code}") for code in TEMPLATES]
        session.add_all(templates)
        session.flush()
        template_ids = [t.id for t in templates]
    scope = {"organisation_id": organisation_id, "environment": Environment.LIVE.value}
    start = dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            **scope,
            "course_template_id": template_ids[index % len(template_ids)],
            "label": f"Course date {index}",
            "start_date": start + dt.timedelta(hours=7 * index),
            "end_date": start + dt.timedelta(hours=7 * index + 8),
            "status": STATUSES[(index // 6) % len(STATUSES)],
            "capacity": 12,
            "booked_count": index % 13 if index % 13 <= 12 else 12,
            "location": "Bristol",
            "price": 150.0,
            "custom_fields": {},
            "created_at": now,
            "updated_at": now,
        }
        for index in range(count)
    ]
    with ctx.engine.begin() as connection:
        for offset in range(0, len(rows), 20_000):
            connection.execute(insert(CourseDate.__table__), rows[offset : offset + 20_000])
    analyze(ctx, (CourseTemplate.__table__, CourseDate.__table__, User.__table__))
    return key


class AppServer(ServerProcess):
    """The benchmark app (planfeed plus the bare route) under uvicorn."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.bench_feeds:make_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]


_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk_round(base_url: str, path: str, key: str, seconds: int) -> dict[str, float]:
    """One wrk run: requests/s, p50 and p99 latency (seconds); non-2xx answers fail the run."""
    output = subprocess.run(
        [
            "wrk", "-t2", "-c8", f"-d{seconds}s", "--latency",
            "-H", f"Authorization: Bearer {key}", base_url + path,
        ],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw error answers for {path}:\n{output}")
    throughput = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = {p: float(v) * _UNITS[u] for p, v, u in _WRK_LATENCY.findall(output)}
    return {"rps": throughput, "p50": latency["50"], "p99": latency["99"]}


def python_round(base_url: str, path: str, key: str, seconds: float) -> dict[str, float]:
    """The same measurement with 8 client threads, where wrk is not installed."""
    samples: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                response = http.get(path)
                took = time.perf_counter() - began
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}")
                with lock:
                    samples.append(took)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(samples)
    return {
        "rps": len(samples) / seconds,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def run(ctx: BenchContext) -> list[Result]:
    count = QUICK_DATES if ctx.quick else FULL_DATES
    rounds = max(ctx.repetitions, 1 if ctx.quick else 3)
    seconds = 2 if ctx.quick else 10
    ctx.log(f"  seeding {count} course dates")
    key = seed(ctx, count)
    tool = "wrk" if shutil.which("wrk") else "python threads"
    measure = wrk_round if tool == "wrk" else python_round
    feeds: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    with AppServer(ctx, worker=False) as server:
        headers = {"Authorization": f"Bearer {key}"}
        engine_answer = httpx.get(server.base_url + FEEDS_PATH, headers=headers, timeout=60)
        bare_answer = httpx.get(server.base_url + BARE_PATH, headers=headers, timeout=60)
        if engine_answer.status_code != 200 or orjson.loads(engine_answer.content) != orjson.loads(
            bare_answer.content
        ):
            raise RuntimeError(
                "the feeds and the bare endpoint disagree:\n"
                f"{engine_answer.text[:600]}\n{bare_answer.text[:600]}"
            )
        total = engine_answer.json()["totalCount"]
        for path in (FEEDS_PATH, BARE_PATH):  # warm-up
            measure(server.base_url, path, key, 1)
        for round_ in range(rounds):
            feeds.append(measure(server.base_url, FEEDS_PATH, key, seconds))
            bare.append(measure(server.base_url, BARE_PATH, key, seconds))
            ctx.log(
                f"  round {round_ + 1}/{rounds}: feeds {feeds[-1]['rps']:.0f} req/s "
                f"p50 {feeds[-1]['p50'] * 1000:.1f} ms; bare {bare[-1]['rps']:.0f} req/s "
                f"p50 {bare[-1]['p50'] * 1000:.1f} ms"
            )

    def median(rows: list[dict[str, float]], key_: str) -> float:
        return statistics.median(r[key_] for r in rows)

    ratio = median(feeds, "p50") / median(bare, "p50")
    note = f"{tool}, {rounds} rounds of {seconds} s; {total:,} matching of {count:,}"
    return [
        Result(
            NAME, "throughput, feeds", ctx.backend, "req/s", median(feeds, "rps"),
            f"min {min(r['rps'] for r in feeds):.0f} / max {max(r['rps'] for r in feeds):.0f}",
            median(bare, "rps"), median(bare, "rps") / median(feeds, "rps"), "", None,
            rounds, note + "; ratio = bare / feeds throughput",
        ),
        Result(
            NAME, "median latency, feeds", ctx.backend, "s", median(feeds, "p50"),
            "", median(bare, "p50"), ratio, f"≤ {TARGET_RATIO:g}× bare",
            judge(ratio, TARGET_RATIO, ctx.quick), rounds, note,
        ),
        Result(
            NAME, "p99 latency, feeds", ctx.backend, "s", median(feeds, "p99"), "",
            median(bare, "p99"), median(feeds, "p99") / median(bare, "p99"), "", None,
            rounds, note,
        ),
    ]  # fmt: skip
