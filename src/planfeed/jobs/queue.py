"""The job queue in the application database (as Oban, Solid Queue and GoodJob do).

The job row is written in the submitting request's transaction. Workers claim one queued job
with a single atomic statement — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``UPDATE … RETURNING``
on SQLite, whose writers are serialised — and keep a heartbeat while they work. A rescuer puts
the jobs of workers whose heartbeat stopped back in the queue. Finishing a job is guarded by
the claiming worker's id, in the same transaction as the job's effects, so a job can never be
applied twice even when a slow worker was presumed dead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, utcnow
from planfeed.db.engine import writer
from planfeed.jobs.models import Job, JobPayload, JobState

HEARTBEAT_INTERVAL = dt.timedelta(seconds=2)
STALE_AFTER = dt.timedelta(seconds=15)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True, slots=True)
class Submission:
    job: Job
    reused: bool


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def enqueue(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    filename: str,
    body: bytes,
    content_type: str | None,
    idempotency_key: str | None = None,
    max_attempts: int = 5,
) -> Submission:
    """Add a queued job in the caller's transaction; a repeated Idempotency-Key returns the
    original job when the request is the same, and raises :class:`IdempotencyConflict` if not."""
    digest = body_digest(body)
    if idempotency_key is not None:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return _reuse(existing, kind, filename, digest)
    job = Job(
        kind=kind,
        filename=filename,
        content_type=content_type,
        content_sha256=digest,
        submitted_by_id=principal.user_id,
        api_key_id=principal.credential_id if principal.credential_kind == "api_key" else None,
        idempotency_key=idempotency_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return _reuse(existing, kind, filename, digest)
    session.add(JobPayload(job_id=job.id, body=body))
    session.flush()
    return Submission(job=job, reused=False)


def _reuse(existing: Job, kind: str, filename: str, digest: str) -> Submission:
    if existing.content_sha256 != digest or existing.kind != kind or existing.filename != filename:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request (another file, body "
            f"or endpoint; first used for job {existing.id}); use a new key for a new request"
        )
    return Submission(job=existing, reused=True)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: str
    organisation_id: int
    environment: Environment
    kind: str
    filename: str
    attempts: int
    max_attempts: int
    submitted_by_id: int | None
    api_key_id: int | None


def claim(engine: Engine, worker_id: str) -> ClaimedJob | None:
    """Take the oldest runnable job, atomically; ``None`` when the queue is empty."""
    now = utcnow()
    candidate = (
        select(Job.id)
        .where(Job.state == JobState.QUEUED.value, Job.run_after <= now)
        .order_by(Job.submitted_at, Job.id)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    statement = (
        update(Job)
        .where(Job.id == candidate.scalar_subquery())
        .values(
            state=JobState.RUNNING.value,
            locked_by=worker_id,
            heartbeat_at=now,
            attempts=Job.attempts + 1,
        )
        .returning(
            Job.id,
            Job.organisation_id,
            Job.environment,
            Job.kind,
            Job.filename,
            Job.attempts,
            Job.max_attempts,
            Job.submitted_by_id,
            Job.api_key_id,
            Job.started_at,
        )
        .execution_options(synchronize_session=False)
    )
    with Session(writer(engine)) as session, session.begin():
        row = session.execute(statement).first()
        if row is None:
            return None
        if row.started_at is None:
            session.execute(
                update(Job).where(Job.id == row.id).values(started_at=now),
                execution_options={"synchronize_session": False},
            )
    return ClaimedJob(
        id=row.id,
        organisation_id=row.organisation_id,
        environment=Environment(row.environment),
        kind=row.kind,
        filename=row.filename,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        submitted_by_id=row.submitted_by_id,
        api_key_id=row.api_key_id,
    )


def heartbeat(engine: Engine, job_id: str, worker_id: str) -> bool:
    """Refresh the heartbeat; False when the job is no longer ours (it was rescued)."""
    with writer(engine).begin() as connection:
        result = connection.execute(
            update(Job.__table__)
            .where(Job.id == job_id, Job.locked_by == worker_id)
            .values(heartbeat_at=utcnow())
        )
        return result.rowcount == 1


def rescue_stale(engine: Engine, stale_after: dt.timedelta = STALE_AFTER) -> int:
    """Return the jobs of dead workers to the queue (or fail them when out of attempts)."""
    cutoff = utcnow() - stale_after
    stale = and_(Job.state == JobState.RUNNING.value, Job.heartbeat_at < cutoff)
    with writer(engine).begin() as connection:
        failed = connection.execute(
            update(Job.__table__)
            .where(stale, Job.attempts >= Job.max_attempts)
            .values(
                state=JobState.FAILED.value,
                locked_by=None,
                finished_at=utcnow(),
                last_error="the worker stopped responding on every attempt",
            )
        ).rowcount
        requeued = connection.execute(
            update(Job.__table__)
            .where(stale)
            .values(state=JobState.QUEUED.value, locked_by=None, run_after=utcnow())
        ).rowcount
    return failed + requeued


def finish_guard(session: Session, job_id: str, worker_id: str, values: dict[str, Any]) -> bool:
    """Set the job's final state iff this worker still owns it; run it first in the job's
    transaction, so on PostgreSQL it also takes the row lock before any effect is written."""
    result = session.execute(
        update(Job.__table__)
        .where(Job.id == job_id, Job.locked_by == worker_id, Job.state == JobState.RUNNING.value)
        .values(**values)
    )
    return result.rowcount == 1


def stamp_finished(session: Session, job_id: str) -> None:
    """Set the finish time once the job's work is done, in the job's transaction (the guard,
    which runs first, would give the time the work began)."""
    session.execute(update(Job.__table__).where(Job.id == job_id).values(finished_at=utcnow()))


def retry_later(engine: Engine, job: ClaimedJob, worker_id: str, error: str) -> None:
    """A server-side failure: back off exponentially, or fail after the last attempt."""
    now = utcnow()
    if job.attempts >= job.max_attempts:
        values: dict[str, Any] = {
            "state": JobState.FAILED.value,
            "finished_at": now,
            "locked_by": None,
            "last_error": error[:2000],
        }
    else:
        values = {
            "state": JobState.QUEUED.value,
            "run_after": now + dt.timedelta(seconds=min(2**job.attempts, 300)),
            "locked_by": None,
            "last_error": error[:2000],
        }
    with Session(writer(engine)) as session, session.begin():
        finish_guard(session, job.id, worker_id, values)


def queue_depth(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
        ).scalar_one()
