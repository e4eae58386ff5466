"""The AchieveIt batch API (seeds 000–003): submit files, poll job status, export plans."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from starlette.datastructures import UploadFile

from planfeed.auth.permissions import Action, PlanRole, plan_role, require
from planfeed.http.deps import CurrentPrincipal, ScopedSession, StateDep
from planfeed.http.errors import ApiError
from planfeed.http.responses import OrjsonResponse
from planfeed.ingest import BatchKind, parse_batch
from planfeed.jobs import queue
from planfeed.jobs.apply import validate
from planfeed.jobs.models import Job, JobState
from planfeed.plans.export import DEFAULT_TAKE, MAX_TAKE, SORT_DIRECTIONS, SORT_KEYS, export_page
from planfeed.plans.models import Plan, PlanItem, PlanLevel

router = APIRouter(tags=["batch"])

_KINDS = {"progressupdates": BatchKind.PROGRESS, "metricupdates": BatchKind.METRIC}
_STATUS_CODES = {
    JobState.QUEUED.value: 202,
    JobState.RUNNING.value: 202,
    JobState.APPLIED.value: 200,
    JobState.REJECTED.value: 400,
    JobState.FAILED.value: 500,
}


class JobAccepted(BaseModel):
    """The answer to a submission: the job id to poll."""

    jobId: str


class RowErrorModel(BaseModel):
    row: int | None
    column: str | None
    value: str | None
    message: str


class JobStatus(BaseModel):
    jobId: str
    state: str
    kind: str
    fileName: str
    submittedAt: dt.datetime
    startedAt: dt.datetime | None
    finishedAt: dt.datetime | None
    totalRows: int | None
    appliedRows: int | None
    errors: list[RowErrorModel]
    message: str


class ValidationReport(BaseModel):
    dryRun: bool
    valid: bool
    kind: str
    fileName: str
    totalRows: int
    validRows: int
    errors: list[RowErrorModel]


async def _read_body(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The data file: the raw body, or the first file of a multipart form; 413 past the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        form = await request.form(max_part_size=limit)
        for value in form.values():
            if isinstance(value, UploadFile):
                data = await value.read(limit + 1)
                if len(data) > limit:
                    raise _too_large(limit)
                return data, value.content_type
        raise ApiError(400, "no_file", "the multipart form has no file; send it as -F file=@x.csv")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks), content_type


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the file is larger than {limit} bytes, the most one request may carry; split it",
    )


_SUBMIT_DOC = {
    200: {"description": "Queued (or, with dryRun=true, valid).", "model": JobAccepted},
    400: {"description": "dryRun=true and the file has errors.", "model": ValidationReport},
    401: {"description": "Missing or invalid credentials."},
    413: {"description": "The body exceeds the configured maximum."},
    422: {"description": "The Idempotency-Key was used for a different request."},
    500: {"description": "The job could not be queued; nothing was stored."},
}


@router.post("/api/{endpoint}/{filename}", responses=_SUBMIT_DOC, response_model=JobAccepted)
async def submit(
    request: Request,
    background: BackgroundTasks,
    state: StateDep,
    principal: CurrentPrincipal,
    session: ScopedSession,
    endpoint: Annotated[str, Path(pattern="^(progressupdates|metricupdates)$")],
    filename: str,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Queue a progress or metric update file; the body is the file (raw, multipart or JSON)."""
    require(principal, Action.SUBMIT_BATCH)
    kind = _KINDS[endpoint]
    body, content_type = await _read_body(request, state.settings.max_body_bytes)
    if dry_run:
        result = parse_batch(kind, body, content_type, max_rows=state.settings.max_batch_rows)
        validate(session, principal, result)
        report = ValidationReport(
            dryRun=True,
            valid=result.ok,
            kind=kind.value,
            fileName=filename,
            totalRows=result.total_rows,
            validRows=len(result.rows),
            errors=[RowErrorModel(**error.to_dict()) for error in result.errors],
        )
        return OrjsonResponse(report.model_dump(), status_code=200 if result.ok else 400)
    try:
        submission = queue.enqueue(
            session,
            principal,
            kind=kind.value,
            filename=filename,
            body=body,
            content_type=content_type,
            idempotency_key=idempotency_key,
        )
    except queue.IdempotencyConflict as exc:
        raise ApiError(422, "idempotency_key_reused", str(exc)) from exc
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and not submission.reused:
        # Background tasks run after the response, so after the session dependency committed
        # the job: a wake-up before the commit would find nothing and wait a poll interval.
        background.add_task(worker.notify)
    return JobAccepted(jobId=submission.job.id)


def _status_message(job: Job) -> str:
    return {
        JobState.QUEUED.value: "queued; poll again shortly",
        JobState.RUNNING.value: "being processed",
        JobState.APPLIED.value: f"applied {job.applied_rows} of {job.total_rows} rows",
        JobState.REJECTED.value: "the file was rejected and nothing was applied; see errors",
        JobState.FAILED.value: "processing failed on the server after retries; nothing was "
        "applied; submit the file again or contact your administrator",
    }[job.state]


@router.api_route(
    "/api/{endpoint}/status/{job_id}",
    methods=["GET", "HEAD"],
    response_model=JobStatus,
    responses={
        202: {"description": "Queued or running.", "model": JobStatus},
        400: {
            "description": "The file was rejected; `errors` lists every bad row.",
            "model": JobStatus,
        },
        404: {"description": "No such job in this organisation and environment."},
        500: {"description": "Processing failed after its retries.", "model": JobStatus},
    },
)
def job_status(
    principal: CurrentPrincipal,
    session: ScopedSession,
    endpoint: Annotated[str, Path(pattern="^(progressupdates|metricupdates)$")],
    job_id: str,
) -> Response:
    """The job's state as an HTTP status (202, 200, 400, 500) with the details as JSON."""
    require(principal, Action.VIEW_JOBS)
    job = session.get(Job, job_id) if len(job_id) <= 36 else None
    if job is None or job.kind != _KINDS[endpoint].value:
        raise ApiError(404, "not_found", f"no {endpoint} job {job_id!r} in this environment")
    status = JobStatus(
        jobId=job.id,
        state=job.state,
        kind=job.kind,
        fileName=job.filename,
        submittedAt=job.submitted_at,
        startedAt=job.started_at,
        finishedAt=job.finished_at,
        totalRows=job.total_rows,
        appliedRows=job.applied_rows,
        errors=[RowErrorModel(**error) for error in job.errors or []],
        message=_status_message(job),
    )
    return OrjsonResponse(status.model_dump(mode="json"), status_code=_STATUS_CODES[job.state])


class ExportAnswer(BaseModel):
    items: list[dict[str, Any]]
    totalCount: int


def _plan_for(
    session: ScopedSession, principal: CurrentPrincipal, plan_id: str, needed: PlanRole
) -> Plan:
    plan = session.scalar(select(Plan).where(Plan.public_id == plan_id))
    if plan is None or plan_role(session, principal, plan.id) < needed:
        what = "view" if needed is PlanRole.VIEWER else "administer"
        raise ApiError(
            403,
            "forbidden",
            f"the key's user may not {what} plan {plan_id!r} (or it does not exist)",
        )
    return plan


@router.get(
    "/exports/plans/{plan_id}",
    response_model=ExportAnswer,
    tags=["exports"],
    responses={
        400: {"description": "A bad paging or sorting parameter."},
        403: {"description": "No access to the plan, or no such plan."},
    },
)
def export_plan(
    principal: CurrentPrincipal,
    session: ScopedSession,
    plan_id: str,
    skip: str = "0",
    take: str = str(DEFAULT_TAKE),
    sort_key: Annotated[str, Query(alias="sortKey")] = "sequenceId",
    sort_direction: Annotated[str, Query(alias="sortDirection")] = "asc",
) -> Response:
    """A page of the plan's items (seed 003): skip/take paging, sortKey and sortDirection."""
    errors = []
    skip_n = _int_param("skip", skip, 0, None, errors)
    take_n = _int_param("take", take, 1, MAX_TAKE, errors)
    key = {k.lower(): k for k in SORT_KEYS}.get(sort_key.lower())
    if key is None:
        errors.append(
            {
                "parameter": "sortKey",
                "message": f"unknown sortKey {sort_key!r}; use one of: {', '.join(SORT_KEYS)}",
            }
        )
    direction = sort_direction.lower()
    if direction not in SORT_DIRECTIONS:
        errors.append(
            {
                "parameter": "sortDirection",
                "message": f"sortDirection must be asc or desc, not {sort_direction!r}",
            }
        )
    if errors:
        raise ApiError(
            400, "invalid_parameter", "; ".join(e["message"] for e in errors), errors=errors
        )
    plan = _plan_for(session, principal, plan_id, PlanRole.VIEWER)
    page = export_page(
        session,
        plan,
        skip=skip_n,
        take=take_n,
        sort_key=key or "sequenceId",
        sort_direction=direction,
    )
    return OrjsonResponse({"items": page.items, "totalCount": page.total_count})


def _int_param(
    name: str, raw: str, low: int, high: int | None, errors: list[dict[str, str]]
) -> int:
    allowed = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
    try:
        value = int(raw)
    except ValueError:
        errors.append({"parameter": name, "message": f"{name} must be {allowed}, not {raw!r}"})
        return low
    if value < low or (high is not None and value > high):
        errors.append({"parameter": name, "message": f"{name} must be {allowed}, not {value}"})
        return low
    return value


@router.get(
    "/exports/plans/{plan_id}/externalids",
    tags=["exports"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 403: {"description": "Not a plan admin."}},
)
def export_external_ids(
    principal: CurrentPrincipal, session: ScopedSession, plan_id: str
) -> Response:
    """The "Export External IDs" action: External ID, sequence, level and name, as CSV."""
    import csv
    import io

    plan = _plan_for(session, principal, plan_id, PlanRole.ADMIN)
    rows = session.execute(
        select(PlanItem.external_id, PlanItem.sequence_id, PlanLevel.name, PlanItem.name)
        .outerjoin(PlanLevel, PlanLevel.id == PlanItem.level_id)
        .where(PlanItem.plan_id == plan.id)
        .order_by(PlanItem.sequence_key, PlanItem.id)
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["External ID", "Sequence", "Level", "Name"])
    writer.writerows([[e, s, level or "", name] for e, s, level, name in rows])
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in plan.name)
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe_name}-external-ids.csv"'},
    )
