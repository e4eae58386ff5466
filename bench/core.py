"""What every benchmark shares: the context it runs in, the rows it returns, and helpers.

A benchmark is a module ``bench/bench_<name>.py`` with ``NAME``, ``TITLE``, ``DESCRIPTION``
and ``run(ctx: BenchContext) -> list[Result]``. The runner (``bench/run.py``) gives it a fresh,
migrated database per backend and writes its rows into ``docs/performance.md``. Timings are
medians of ``ctx.repetitions`` runs, and each timing is compared with a baseline measured in the
same run on the same database, because the machine is shared and absolute numbers are noisy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, insert

from planfeed.accounts.models import Role, User
from planfeed.accounts.service import create_api_key, create_organisation, create_user
from planfeed.auth.principal import system_principal
from planfeed.db.base import Environment
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import bind_scope
from planfeed.plans.models import (
    ITEM_PROGRESS,
    ITEMS,
    Checklist,
    ChecklistEntry,
    MetricGoal,
    Plan,
    PlanItem,
    PlanItemAccess,
    PlanItemTag,
    PlanLevel,
    Tag,
    insert_item_rows,
)

BENCH_SECRET = "bench-secret-" + "b" * 40
ROOT = Path(__file__).resolve().parent.parent
SEEDED_TABLES = (
    Plan.__table__,
    PlanLevel.__table__,
    ITEMS,
    ITEM_PROGRESS,
    PlanItemAccess.__table__,
    MetricGoal.__table__,
    Tag.__table__,
    PlanItemTag.__table__,
    Checklist.__table__,
    ChecklistEntry.__table__,
    User.__table__,
)


@dataclass
class BenchContext:
    """One backend's fresh database, and how hard to run.

    ``url`` is what a server process gets in ``PLANFEED_DATABASE_URL``; ``engine`` is already
    migrated to head. ``quick`` asks for small sizes (a smoke test, not a measurement).
    """

    backend: str
    url: str
    engine: Engine
    repetitions: int
    quick: bool
    workdir: Path
    secret_key: str = BENCH_SECRET
    log: Callable[[str], None] = print

    def dbapi_connect(self) -> Any:
        """A bare DB-API connection to the same database (for baselines), no SQLAlchemy."""
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            return connection
        import psycopg

        return psycopg.connect(self.url)

    @property
    def paramstyle(self) -> str:
        """The placeholder of :meth:`dbapi_connect`'s driver."""
        return "?" if self.backend == "sqlite" else "%s"


@dataclass
class Result:
    """One row of a benchmark's table in docs/performance.md.

    ``median`` and ``spread`` are in ``unit``; ``ratio`` is median / baseline median when the
    measurement has a baseline. ``passed`` is None when no target applies (or in quick mode).
    """

    benchmark: str
    name: str
    backend: str
    unit: str
    median: float
    spread: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    samples: int = 0
    note: str = ""


@dataclass
class Timings:
    """Repeated measurements of one thing, in seconds."""

    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def minimum(self) -> float:
        return min(self.values)

    @property
    def maximum(self) -> float:
        return max(self.values)

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile (p99 of 20 samples is the largest)."""
        ordered = sorted(self.values)
        rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
        return ordered[rank - 1]


def freeze_setup_objects() -> None:
    """Put every object the benchmark has made so far (seeded ids, captured statements,
    SQLAlchemy's caches) out of the cycle collector's reach, just before timing.

    The timed client makes objects too (an HTTP exchange's, a parsed export page's some
    60,000), and each collection that sets off walked every setup object as well: the client's
    own bookkeeping was being measured, not planfeed (export on PostgreSQL: page 58.5 -> 46.9
    ms, walk 5.9 -> 4.6 s). A client of planfeed holds none of that. ``bench/run.py``
    unfreezes them after each benchmark."""
    gc.collect()
    gc.freeze()


def judge(value: float, limit: float, quick: bool) -> bool | None:
    """Targets are for the full sizes only; in quick mode nothing is judged."""
    return None if quick else value <= limit


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- a real server process ---------------------------------------------------------------


class ServerProcess:
    """``planfeed serve`` (with its in-process worker) on a free loopback port."""

    def __init__(self, ctx: BenchContext, *, worker: bool = True) -> None:
        self.ctx = ctx
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.worker = worker
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = ctx.workdir / f"server-{self.port}.log"

    def __enter__(self) -> ServerProcess:
        env = {
            **os.environ,
            "PLANFEED_DATABASE_URL": self.ctx.url,
            "PLANFEED_SECRET_KEY": self.ctx.secret_key,
            "PLANFEED_DATA_DIR": str(self.ctx.workdir),
            # PLANFEED_BENCH_LOG_LEVEL=info shows the worker's per-job phase times in the log.
            "PLANFEED_LOG_LEVEL": os.environ.get("PLANFEED_BENCH_LOG_LEVEL", "warning"),
        }
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}; see {self.log_path}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /healthz within 60 s; see {self.log_path}")

    def command(self) -> list[str]:
        """The server's command line (a benchmark may serve another app factory)."""
        return [
            sys.executable,
            "-m",
            "planfeed.cli.main",
            "serve",
            "--no-migrate",
            "--port",
            str(self.port),
            "--worker" if self.worker else "--no-worker",
        ]

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def reset_peak_memory(self) -> bool:
        """Reset the kernel's peak-RSS counter (VmHWM) of the server; False if not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def memory_kib(self, field_name: str = "VmHWM") -> int:
        """A ``/proc/<pid>/status`` memory field (VmHWM = peak resident set) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field_name} in /proc/{self.pid}/status")


# --- seed data ---------------------------------------------------------------------------


@dataclass
class SeededPlan:
    organisation_id: int
    user_id: int
    api_key: str
    plan_pk: int
    plan_public_id: str
    external_ids: list[str]
    has_metric: list[bool]


def _insert_rows(engine: Engine, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Fast Core bulk insert in batches (setup only; not timed)."""
    with engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(insert(table), rows[start : start + 20_000])


def seed_plan(ctx: BenchContext, items: int, *, org_name: str = "benchorg") -> SeededPlan:
    """One organisation with a SuperAdmin, an API key and a plan of ``items`` items.

    The plan is a two-level tree (100 goals, the rest spread under them) with realistic extras
    so that exports do real work: assignees, every 4th item has a metric, every 10th a member,
    every 20th an admin, every 25th metric item goals, every 50th a tag, every 100th a checklist.
    """
    factory = make_sessionmaker(ctx.engine, writer=True)
    with factory.begin() as session:
        organisation = create_organisation(session, org_name)
        organisation_id = organisation.id
    principal = system_principal(organisation_id, org_name, Environment.LIVE)
    with factory() as session, session.begin():
        bind_scope(session, principal.scope)
        users: list[User] = []
        for index in range(5):
            users.append(
                create_user(
                    session,
                    principal,
                    login=f"user{index}",
                    email=f"user{index}@bench.example",
                    role=Role.SUPER_ADMIN if index == 0 else Role.USER,
                    forenames=f"First{index}",
                    surname=f"Last{index}",
                )
            )
        _key, api_key = create_api_key(
            session,
            principal,
            ctx.secret_key,
            user=users[0],
            label="bench",
            environment=Environment.LIVE,
        )
        plan = Plan(name="Benchmark plan", owner_id=users[0].id)
        plan.levels = [PlanLevel(depth=1, name="Goal"), PlanLevel(depth=2, name="Strategy")]
        session.add(plan)
        tags = [Tag(name=f"tag-{index}") for index in range(10)]
        session.add_all(tags)
        session.flush()
        user_ids = [user.id for user in users]
        plan_pk, plan_public_id = plan.id, plan.public_id
        level_ids = [level.id for level in plan.levels]
        tag_ids = [tag.id for tag in tags]
    scope = {"organisation_id": organisation_id, "environment": Environment.LIVE.value}
    now = dt.datetime.now(dt.UTC)
    goals = min(100, items)
    per_goal = -(-(items - goals) // goals) if items > goals else 0
    rows: list[dict[str, Any]] = []
    external_ids: list[str] = []
    has_metric: list[bool] = []
    item_id = _next_id(ctx.engine, PlanItem)
    goal_ids: list[int] = []
    sequences: list[tuple[str, int | None, int]] = []
    for goal in range(1, goals + 1):
        sequences.append((str(goal), None, 0))
    for goal in range(1, goals + 1):
        for child in range(1, per_goal + 1):
            if len(sequences) >= items:
                break
            sequences.append((f"{goal}.{child}", goal, 1))
    for index, (sequence, parent_goal, depth) in enumerate(sequences):
        metric = index % 4 == 1
        external_id = f"EXT-{index:06d}"
        if parent_goal is None:
            goal_ids.append(item_id)
        rows.append(
            {
                **scope,
                "id": item_id,
                "public_id": f"00000000-0000-4000-8000-{index:012d}",
                "plan_id": plan_pk,
                "parent_id": goal_ids[parent_goal - 1] if parent_goal else None,
                "level_id": level_ids[depth],
                "sequence_id": sequence,
                "sequence_key": ".".join(f"{int(p):06d}" for p in sequence.split(".")),
                "external_id": external_id,
                "name": f"Item {sequence}",
                "description": f"Description of item {sequence}",
                "status": index % 7,
                "start_date": dt.date(2025, 1, 1),
                "due_date": dt.date(2026, 12, 31),
                "has_metric": metric,
                "units": 2 if metric else None,
                "baseline": 0.0 if metric else None,
                "target": 100.0 if metric else None,
                "current_value": 10.0 if metric else None,
                "rollup": "Manual",
                "assigned_to_id": user_ids[index % len(user_ids)],
                "assigned_by_id": user_ids[0],
                "update_frequency": "Monthly" if index % 3 == 0 else "NotRequired",
                "grace_days": 0,
                "files_count": 0,
                "updates_count": 0,
                "custom_fields": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        external_ids.append(external_id)
        has_metric.append(metric)
        item_id += 1
    with ctx.engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            insert_item_rows(connection, rows[start : start + 20_000])
    ids = [row["id"] for row in rows]
    access = [
        {
            **scope,
            "item_id": ids[i],
            "user_id": user_ids[1 + i % 4],
            "team_id": None,
            "is_admin": i % 20 == 0,
        }
        for i in range(0, len(ids), 10)
    ]
    goals_rows = [
        {
            **scope,
            "public_id": f"00000000-0000-4000-9{order:03d}-{i:012d}",
            "item_id": ids[i],
            "name": name,
            "color": color,
            "bucket_value": value,
            "sort_order": order,
        }
        for i in range(1, len(ids), 100)
        for order, (name, color, value) in enumerate(
            [("Behind", "#ff0000", 25.0), ("On track", "#00ff00", 75.0)]
        )
    ]
    tag_rows = [
        {**scope, "item_id": ids[i], "tag_id": tag_ids[(i // 50) % len(tag_ids)]}
        for i in range(0, len(ids), 50)
    ]
    checklist_id = _next_id(ctx.engine, Checklist)
    checklists = [
        {
            **scope,
            "id": checklist_id + n,
            "public_id": f"00000000-0000-4000-a000-{i:012d}",
            "item_id": ids[i],
            "name": f"Checklist {i}",
            "sort_index": 0,
        }
        for n, i in enumerate(range(0, len(ids), 100))
    ]
    entries = [
        {
            **scope,
            "public_id": f"00000000-0000-4000-b{e:03d}-{c['id']:012d}",
            "checklist_id": c["id"],
            "name": f"Step {e}",
            "sort_index": e,
            "done_on": dt.date(2025, 2, 1) if e == 0 else None,
        }
        for c in checklists
        for e in range(2)
    ]
    _insert_rows(ctx.engine, PlanItemAccess.__table__, access)
    _insert_rows(ctx.engine, MetricGoal.__table__, goals_rows)
    _insert_rows(ctx.engine, PlanItemTag.__table__, tag_rows)
    _insert_rows(ctx.engine, Checklist.__table__, checklists)
    _insert_rows(ctx.engine, ChecklistEntry.__table__, entries)
    analyze(ctx)
    return SeededPlan(
        organisation_id=organisation_id,
        user_id=user_ids[0],
        api_key=api_key,
        plan_pk=plan_pk,
        plan_public_id=plan_public_id,
        external_ids=external_ids,
        has_metric=has_metric,
    )


def _next_id(engine: Engine, model: Any) -> int:
    from sqlalchemy import func, select

    with engine.connect() as connection:
        return (connection.execute(select(func.max(model.id))).scalar() or 0) + 1


def analyze(ctx: BenchContext, seeded: Sequence[Any] = SEEDED_TABLES) -> None:
    """Bring the database to the steady state autovacuum would leave after a bulk load:
    fresh planner statistics (and, on PostgreSQL, a visibility map for index-only scans)."""
    if ctx.backend == "postgresql":
        # Only this run's tables (the search path is the run's schema), never the database.
        tables = ", ".join(table.name for table in seeded)
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {tables}")
    else:
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    if ctx.backend == "postgresql":
        # Explicit ids were inserted: move the sequences past them.
        with ctx.engine.begin() as connection:
            for table in ("plan_items", "checklists"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )


@contextlib.contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as elapsed: …``; ``elapsed()`` is the seconds taken (so far, or in all)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
