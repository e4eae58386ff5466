"""Plan export pages (seed 003) of a 100,000-item plan, through a real server process."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from sqlalchemy import event, select

from bench.core import (
    BenchContext,
    Result,
    ServerProcess,
    Timings,
    freeze_setup_objects,
    judge,
    seed_plan,
    timed,
)
from planfeed.auth.principal import system_principal
from planfeed.db.base import Environment
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import bind_scope
from planfeed.plans.export import MAX_TAKE, export_page
from planfeed.plans.models import Plan

NAME = "export"
TITLE = "Plan export: GET /exports/plans/{planId}"
DESCRIPTION = """\
Seeds a plan of N items (a two-level tree with assignees, members, admins, metric goals, tags
and checklists on some items), starts `planfeed serve` on a free loopback port and requests
export pages with an API key over one keep-alive connection.

- **Page**: `GET /exports/plans/{planId}?take=1500` at skips spread evenly from the first to
  the last page (default sort), each timed from request to full response body; median and p99.
- **Walk**: every page in turn (`skip` = 0, 1500, …) until all N items are read; the walk is
  repeated and its median reported. The client parses each page (orjson) and checks the walk
  got every item exactly once.

**Baseline**: the same SQL statements the export runs for that page (captured from
`export_page` in this process, with their parameters), replayed on a bare DB-API connection
(sqlite3 / psycopg) with every row fetched; for the walk, the sum over all pages. **Ratio** =
HTTP median / bare-SQL median: what the application adds on top of the database.

Before timing, the benchmark's own objects (seeded ids, captured statements) are frozen out
of the client's cycle collector (`gc.freeze()`, see `bench/core.py`): otherwise every
collection the client's requests and parsed pages set off walks them too, and the client's
bookkeeping is measured instead of planfeed.
"""

FULL_ITEMS = 100_000
QUICK_ITEMS = 3_200
TAKE = MAX_TAKE
TARGET_PAGE_SECONDS = 0.050
TARGET_WALK_SECONDS = 5.0


def capture_sql(ctx: BenchContext, organisation_id: int, plan_public_id: str, skip: int) -> list:
    """The (statement, parameters) pairs the export runs for one page."""
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    principal = system_principal(organisation_id, "benchorg", Environment.LIVE)
    event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        with make_sessionmaker(ctx.engine)() as session:
            bind_scope(session, principal.scope)
            plan = session.scalar(select(Plan).where(Plan.public_id == plan_public_id))
            export_page(session, plan, skip=skip, take=TAKE)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", record)
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [
        (statement, parameters)
        for statement, parameters in captured
        if statement.strip() and not statement.lstrip().upper().startswith(control)
    ]


def replay(connection: Any, statements: list) -> float:
    """Seconds to run ``statements`` on a bare DB-API connection, fetching every row."""
    cursor = connection.cursor()
    with timed() as elapsed:
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            cursor.fetchall()
    connection.rollback()
    return elapsed()


def run(ctx: BenchContext) -> list[Result]:
    size = QUICK_ITEMS if ctx.quick else FULL_ITEMS
    requests = 5 if ctx.quick else max(20, ctx.repetitions * 4)
    walks = max(ctx.repetitions, 1 if ctx.quick else 3)
    ctx.log(f"  seeding {size} items")
    seeded = seed_plan(ctx, size)
    last_skip = max(0, size - TAKE)
    skips = [round(i * last_skip / max(1, requests - 1)) for i in range(requests)]
    pages, page_baselines = Timings(), Timings()
    walk_times, walk_baselines = Timings(), Timings()
    headers = {"Authorization": f"API-KEY {seeded.api_key}"}
    url = f"/exports/plans/{seeded.plan_public_id}"
    bare = ctx.dbapi_connect()
    try:
        with (
            ServerProcess(ctx, worker=False) as server,
            httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client,
        ):
            freeze_setup_objects()
            for skip in (0, last_skip):  # warm both ends of the plan and the connection
                client.get(url, params={"skip": skip, "take": TAKE}).raise_for_status()
            for skip in skips:
                start = time.perf_counter()
                response = client.get(url, params={"skip": skip, "take": TAKE})
                pages.add(time.perf_counter() - start)
                response.raise_for_status()
                page_baselines.add(
                    replay(
                        bare, capture_sql(ctx, seeded.organisation_id, seeded.plan_public_id, skip)
                    )
                )
            ctx.log(
                f"  page median {pages.median * 1000:.1f} ms, "
                f"bare SQL {page_baselines.median * 1000:.1f} ms"
            )
            walk_sql = [
                capture_sql(ctx, seeded.organisation_id, seeded.plan_public_id, skip)
                for skip in range(0, size, TAKE)
            ]
            freeze_setup_objects()  # the captured statements of every page
            for _ in range(walks):
                seen: set[str] = set()
                start = time.perf_counter()
                skip = 0
                while True:
                    response = client.get(url, params={"skip": skip, "take": TAKE})
                    response.raise_for_status()
                    page = orjson.loads(response.content)  # a client parses what it reads
                    seen.update(item["id"] for item in page["items"])
                    skip += TAKE
                    if skip >= page["totalCount"] or not page["items"]:
                        break
                walk_times.add(time.perf_counter() - start)
                if len(seen) != size:
                    raise RuntimeError(f"the walk returned {len(seen)} distinct items of {size}")
                walk_baselines.add(sum(replay(bare, statements) for statements in walk_sql))
                ctx.log(
                    f"  walk {walk_times.values[-1]:.3f} s, "
                    f"bare SQL {walk_baselines.values[-1]:.3f} s"
                )
    finally:
        bare.close()
    pages_in_walk = -(-size // TAKE)
    return [
        Result(
            NAME,
            f"page take={TAKE} ({size:,}-item plan)",
            ctx.backend,
            "s",
            pages.median,
            f"p99 {pages.percentile(0.99) * 1000:.1f} ms, min {pages.minimum * 1000:.1f} ms",
            page_baselines.median,
            pages.median / page_baselines.median,
            f"≤ {TARGET_PAGE_SECONDS * 1000:g} ms",
            judge(pages.median, TARGET_PAGE_SECONDS, ctx.quick),
            len(pages.values),
            "skips spread over the whole plan",
        ),
        Result(
            NAME,
            f"walk all {pages_in_walk} pages",
            ctx.backend,
            "s",
            walk_times.median,
            f"min {walk_times.minimum:.3f} / max {walk_times.maximum:.3f} s",
            walk_baselines.median,
            walk_times.median / walk_baselines.median,
            f"≤ {TARGET_WALK_SECONDS:g} s",
            judge(walk_times.median, TARGET_WALK_SECONDS, ctx.quick),
            len(walk_times.values),
            f"{size / walk_times.median:,.0f} items/s",
        ),
    ]
