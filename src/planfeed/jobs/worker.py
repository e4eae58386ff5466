"""The batch worker: claim a job, validate its file, apply it in one transaction, repeat.

``planfeed serve`` runs one in a thread; ``planfeed worker`` runs one per process, on any
machine that reaches the database. A heartbeat thread keeps the claim alive while a job runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from planfeed.accounts.models import User
from planfeed.auth.principal import Principal
from planfeed.db.base import Tenant, utcnow
from planfeed.db.engine import writer
from planfeed.db.scope import Scope, bind_scope
from planfeed.ingest import BatchKind, parse_batch
from planfeed.jobs import queue
from planfeed.jobs.apply import apply, validate
from planfeed.jobs.models import Job, JobPayload, JobState

log = logging.getLogger("planfeed.worker")


# Memory is handed back after jobs that ran this long: large files. malloc_trim holds the
# allocator's locks while it runs, which small jobs in a row need not pay for.
TRIM_AFTER_SECONDS = 0.5


class LostClaim(Exception):
    """The job was rescued from this worker (its heartbeat was presumed dead)."""


def _principal(session: Session, job: queue.ClaimedJob) -> Principal:
    organisation = session.get(Tenant, job.organisation_id)
    user = session.get(User, job.submitted_by_id) if job.submitted_by_id else None
    return Principal(
        organisation_id=job.organisation_id,
        organisation_name=organisation.name if organisation else "",
        environment=job.environment,
        user_id=user.id if user else None,
        login=user.login if user else "deleted user",
        role=user.role if user else "User",
        credential_kind="api_key" if job.api_key_id else "job",
        credential_id=job.api_key_id,
    )


def process(engine: Engine, job: queue.ClaimedJob, worker_id: str, max_rows: int) -> str:
    """Run one claimed job to its final state; returns that state.

    On SQLite the job's commit does not checkpoint the write-ahead log (a large job writes
    tens of megabytes to it): the job is durable and visible at its commit, and the worker
    checkpoints right after, while the client already sees the result.
    """
    sqlite = engine.dialect.name == "sqlite"
    try:
        with collector_paused():
            return _process(engine, job, worker_id, max_rows, defer_checkpoint=sqlite)
    finally:
        if sqlite:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a job runs, on again after (if it was on).

    A 100,000-row job makes some hundred thousand objects (parsed rows, the lookup's dicts,
    history tuples) that live until the job ends and form no cycles; the collector, which runs
    every few hundred allocations, walked them again and again: about a third of the job's
    Python time (the parse of a 100,000-row file: 0.25 s with it, 0.17 s without).
    Reference counting still frees every object as usual; the process-wide pause lasts one job,
    and a request thread's cycles wait for the next collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Phases:
    """Wall time of a job's phases, for the log line an operator reads when a job is slow."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = now - self._last
        self._last = now

    def __str__(self) -> str:
        shown = ", ".join(f"{phase} {seconds:.3f} s" for phase, seconds in self.seconds.items())
        return f"{sum(self.seconds.values()):.3f} s ({shown})"


def _process(
    engine: Engine,
    job: queue.ClaimedJob,
    worker_id: str,
    max_rows: int,
    *,
    defer_checkpoint: bool,
) -> str:
    phases = _Phases()
    # The file is read and parsed before the write transaction: on SQLite that holds the
    # database's only write lock, so other writers wait for the database work alone.
    with Session(engine) as reader:
        bind_scope(reader, Scope(job.organisation_id, job.environment))
        found = reader.execute(
            select(JobPayload.body, Job.content_type)
            .join(Job, Job.id == JobPayload.job_id)
            .where(JobPayload.job_id == job.id)
        ).first()
    if found is None:
        raise RuntimeError(f"job {job.id} has no payload")
    body, content_type = found
    phases.mark("read")
    result = parse_batch(BatchKind(job.kind), body, content_type, max_rows=max_rows)
    del body, found
    phases.mark("parse")
    with Session(writer(engine)) as session, session.begin():
        if defer_checkpoint:
            # This connection only: detached from the pool, it is closed after the job.
            connection = session.connection()
            connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            connection.detach()
        principal = _principal(session, job)
        bind_scope(session, principal.scope)
        items = validate(session, principal, result)  # also when the file already has errors
        phases.mark("validate")
        if not result.ok:
            values = {
                "state": JobState.REJECTED.value,
                "finished_at": utcnow(),
                "total_rows": result.total_rows,
                "applied_rows": 0,
                "errors": [error.to_dict() for error in result.errors],
                "locked_by": None,
            }
            if not queue.finish_guard(session, job.id, worker_id, values):
                raise LostClaim(job.id)
            state = JobState.REJECTED.value
        else:
            values = {  # the finish time is set after the work (queue.stamp_finished)
                "state": JobState.APPLIED.value,
                "total_rows": result.total_rows,
                "applied_rows": len(result.rows),
                "errors": [],
                "locked_by": None,
            }
            # The guard goes first: it takes the job's row lock before any effect is written.
            if not queue.finish_guard(session, job.id, worker_id, values):
                raise LostClaim(job.id)
            apply(session, principal, result, items, job.id)
            queue.stamp_finished(session, job.id)
            state = JobState.APPLIED.value
            phases.mark("apply")
    phases.mark("commit")
    log.info("job %s %s: %d rows in %s", job.id, state, result.total_rows, phases)
    return state


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def release_free_memory() -> None:
    """Hand the memory a large job freed back to the operating system.

    glibc keeps freed blocks for reuse, so without this a long-running server's resident size
    only grows, job after job (bench/bench_batch.py measures the peak during each job)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class Worker:
    """A polling worker loop, stoppable, with a heartbeat while a job runs."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_rows: int = 1_000_000,
        poll_interval: float = 0.25,
        rescue_interval: float = 5.0,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.poll_interval = poll_interval
        self.rescue_interval = rescue_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="planfeed-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """Wake the loop now (called after a job is queued in this process)."""
        self.wakeup.set()

    def run(self) -> None:
        last_rescue = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if now - last_rescue >= self.rescue_interval:
                last_rescue = now
                self._safely(queue.rescue_stale, self.engine)
            self.wakeup.clear()  # before the claim, so a notify during it is not lost
            if not self.run_once():
                self.wakeup.wait(self.poll_interval)

    def run_once(self) -> bool:
        """Claim and process one job; False when there was none."""
        job = self._safely(queue.claim, self.engine, self.worker_id)
        if job is None:
            return False
        started = time.monotonic()
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job.id, beating), daemon=True)
        beat.start()
        try:
            process(self.engine, job, self.worker_id, self.max_rows)
        except LostClaim:
            log.warning("job %s was taken over by another worker", job.id)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._safely(
                queue.retry_later, self.engine, job, self.worker_id, f"{type(exc).__name__}: {exc}"
            )
        finally:
            beating.set()
            beat.join()
            if time.monotonic() - started >= TRIM_AFTER_SECONDS:
                release_free_memory()
        return True

    def _beat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(queue.HEARTBEAT_INTERVAL.total_seconds()):
            self._safely(queue.heartbeat, self.engine, job_id, self.worker_id)

    @staticmethod
    def _safely(function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except Exception:
            log.exception("worker step %s failed", getattr(function, "__name__", function))
            return None
