"""The AchieveIt batch API (seeds 000–003): submit files, poll job status, export plans.

Each of the two batch kinds gets its own paths (``/api/progressupdates/…`` and
``/api/metricupdates/…``) so the OpenAPI description shows them as the vendor documents them,
each with its own JSON row schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from planfeed.auth.permissions import Action, PlanRole, plan_role, require
from planfeed.auth.principal import Principal
from planfeed.http.deps import CurrentPrincipal, ScopedSession, StateDep
from planfeed.http.errors import INTERNAL_ERROR_MESSAGE, ApiError, ErrorBody
from planfeed.http.responses import OrjsonResponse
from planfeed.http.state import AppState
from planfeed.ingest import BatchKind, parse_batch
from planfeed.jobs import queue
from planfeed.jobs.apply import validate
from planfeed.jobs.models import Job, JobState
from planfeed.plans.export import (
    DEFAULT_TAKE,
    MAX_TAKE,
    SORT_DIRECTIONS,
    SORT_KEYS,
    export_page,
    external_ids_csv,
)
from planfeed.plans.models import Plan
from planfeed.plans.statuses import STATUS_LABELS

router = APIRouter()
BATCH_TAGS: list[str | Enum] = ["batch"]
EXPORT_TAGS: list[str | Enum] = ["exports"]

_KINDS = {"progressupdates": BatchKind.PROGRESS, "metricupdates": BatchKind.METRIC}
_STATUS_CODES = {
    JobState.QUEUED.value: 202,
    JobState.RUNNING.value: 202,
    JobState.APPLIED.value: 200,
    JobState.REJECTED.value: 400,
    JobState.FAILED.value: 500,
}
EXAMPLE_JOB_ID = "2bf2dda7-2aa4-4345-b6a8-8070d6ceec39"


class JobAccepted(BaseModel):
    """The answer to a submission: the job id to poll."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"jobId": EXAMPLE_JOB_ID}]}
    )

    jobId: str = Field(description="The job's id (a UUID); poll the status endpoint with it.")


class RowErrorModel(BaseModel):
    """One problem in a file: the row as a spreadsheet numbers it (null for the whole file)."""

    row: int | None
    column: str | None
    value: str | None
    message: str


class JobStatus(BaseModel):
    """A job's progress; the HTTP status of the answer tells the state too."""

    jobId: str
    state: str = Field(description="queued, running, applied, rejected or failed.")
    kind: str = Field(description="progress or metric.")
    fileName: str
    submittedAt: dt.datetime
    # Always sent (null until known); the defaults keep FastAPI's OpenAPI output, which drops
    # nulls from examples, consistent with this schema.
    startedAt: dt.datetime | None = None
    finishedAt: dt.datetime | None = None
    totalRows: int | None = None
    appliedRows: int | None = None
    errors: list[RowErrorModel]
    message: str


class ValidationReport(BaseModel):
    """The answer to ``dryRun=true``: the file was checked, nothing was queued."""

    dryRun: bool
    valid: bool
    kind: str
    fileName: str
    totalRows: int
    validRows: int
    errors: list[RowErrorModel]


class ProgressRow(BaseModel):
    """One progress update in a JSON body (key case and underscores are ignored)."""

    externalId: str
    status: str = Field(
        description="One of: " + ", ".join(STATUS_LABELS) + " (any case).",
        examples=["On Track"],
    )
    metricValue: float | str | None = Field(
        default=None, description="Required for items with a metric; 20% is 0.2."
    )
    asOfDate: str = Field(description="ISO-8601 or MM/DD/YYYY.", examples=["2025-11-01"])
    comment: str | None = None


class MetricRow(BaseModel):
    """One metric update in a JSON body (key case and underscores are ignored)."""

    externalId: str
    metricValue: float | str = Field(description="A decimal; 20% is 0.2.")
    asOfDate: str = Field(description="ISO-8601 or MM/DD/YYYY.", examples=["2025-11-01"])


_ROW_MODELS: dict[BatchKind, type[BaseModel]] = {
    BatchKind.PROGRESS: ProgressRow,
    BatchKind.METRIC: MetricRow,
}
_CSV_EXAMPLES = {
    BatchKind.PROGRESS: "External ID,Status,Current Metric Value,As Of Date,Comment\r\n"
    "EXT-1.1,Off Track,0.25,11/02/2025,Slipping\r\nEXT-1,On Track,,2025-11-01,\r\n",
    BatchKind.METRIC: "External ID,Current Metric Value,As Of Date\r\nEXT-1.10,7,2025-11-01\r\n",
}


def _limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, failing with 413 as soon as it passes ``limit``."""

    async def chunks() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            yield chunk

    return chunks()


async def _read_body(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The data file: the raw body, or the first file of a multipart form; 413 past the limit.

    Both kinds of body are read through one size-checked stream, so neither holds more than
    ``limit`` bytes, in memory or in the multipart parser's spool file.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        return await _read_multipart(request, limit)
    chunks: list[bytes] = []
    async with aclosing(_limited_stream(request, limit)) as stream:
        async for chunk in stream:
            chunks.append(chunk)
    return b"".join(chunks), content_type


async def _read_multipart(request: Request, limit: int) -> tuple[bytes, str | None]:
    async with aclosing(_limited_stream(request, limit)) as stream:
        parser = MultiPartParser(
            request.headers, stream, max_files=10, max_fields=100, max_part_size=limit
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise ApiError(
                400,
                "invalid_multipart",
                f"the multipart body could not be read ({exc.message}); "
                "send the file as -F file=@my_updates.csv",
            ) from exc
    try:
        for value in form.values():
            if isinstance(value, UploadFile):
                return await value.read(), value.content_type
    finally:
        await form.close()
    raise ApiError(400, "no_file", "the multipart form has no file; send it as -F file=@x.csv")


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the file is larger than {limit} bytes, the most one request may carry; split it",
    )


def _error(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error answer for ``responses=``: the shared error body, with an example."""
    answer: dict[str, Any] = {"description": description, "model": ErrorBody}
    if example is not None:
        answer["content"] = {"application/json": {"example": example}}
    return answer


_UNAUTHORIZED = _error(
    "Missing or invalid credentials; `message` says which.",
    {
        "error": "missing_credentials",
        "message": "no Authorization header: send 'Authorization: API-KEY <key>' or "
        "'Authorization: Bearer <key or token>'",
    },
)


def _submit_request_body(kind: BatchKind) -> dict[str, Any]:
    """The body alternatives the parser accepts, as an OpenAPI requestBody."""
    rows = _ROW_MODELS[kind].model_json_schema()
    return {
        "required": True,
        "description": "The data file. Send it as the raw body (any content type, as "
        '`curl --data-binary "@my_updates.csv"` does), as the first file of a multipart form '
        "(`curl -F file=@my_updates.csv`), or as a JSON array of rows. A header row is "
        "optional; without one the columns are in the template's order.",
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": _CSV_EXAMPLES[kind],
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The CSV file (the first file part is used).",
                        }
                    },
                    "required": ["file"],
                },
            },
            "application/json": {
                "schema": {"type": "array", "items": rows},
            },
        },
    }


def _submit_openapi(kind: BatchKind) -> dict[str, Any]:
    return {
        "requestBody": _submit_request_body(kind),
        "responses": {
            "200": {
                "content": {
                    "application/json": {
                        "examples": {
                            "queued": {
                                "summary": "Queued (the usual answer)",
                                "value": {"jobId": EXAMPLE_JOB_ID},
                            },
                            "dryRunValid": {
                                "summary": "dryRun=true and the file is valid",
                                "value": {
                                    "dryRun": True,
                                    "valid": True,
                                    "kind": kind.value,
                                    "fileName": "my_updates",
                                    "totalRows": 2,
                                    "validRows": 2,
                                    "errors": [],
                                },
                            },
                        },
                    }
                }
            }
        },
    }


_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'Queued: `{"jobId": "…"}`; poll the status endpoint with it. With '
        "`dryRun=true`, the validation report instead (nothing queued).",
    },
    400: {
        "description": "`dryRun=true` and the file has errors (a validation report), or a "
        "multipart form without a file (an error body).",
        "model": ValidationReport,
    },
    401: _UNAUTHORIZED,
    403: _error(
        "The key's user may not submit batch files.",
        {"error": "forbidden", "message": "this key's user may not submit batch files"},
    ),
    413: _error(
        "The body is larger than the configured maximum (PLANFEED_MAX_BODY_BYTES).",
        {
            "error": "body_too_large",
            "message": "the file is larger than 52428800 bytes, the most one request may "
            "carry; split it",
        },
    ),
    422: _error(
        "The Idempotency-Key was used before for a different request.",
        {
            "error": "idempotency_key_reused",
            "message": "this Idempotency-Key was already used for a different request "
            f"(another file, body or endpoint; first used for job {EXAMPLE_JOB_ID}); use a new "
            "key for a new request",
        },
    ),
    500: _error(
        "The job could not be queued; nothing was stored.",
        {"error": "internal_error", "message": INTERNAL_ERROR_MESSAGE},
    ),
}

SubmitHandler = Callable[..., Awaitable[Any]]


async def _submit(
    request: Request,
    background: BackgroundTasks,
    state: AppState,
    principal: Principal,
    session: ScopedSession,
    kind: BatchKind,
    filename: str,
    dry_run: bool,
    idempotency_key: str | None,
) -> Any:
    require(principal, Action.SUBMIT_BATCH)
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


def _submit_handler(kind: BatchKind) -> SubmitHandler:
    async def submit(
        request: Request,
        background: BackgroundTasks,
        state: StateDep,
        principal: CurrentPrincipal,
        session: ScopedSession,
        filename: Annotated[
            str, Path(description="A name for the upload (the seed uses the file's base name).")
        ],
        dry_run: Annotated[
            bool,
            Query(
                alias="dryRun",
                description="Validate now and answer the report; queue nothing.",
            ),
        ] = False,
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=255,
                description="Makes a retried POST with the same body answer the first job id.",
            ),
        ] = None,
    ) -> Any:
        return await _submit(
            request,
            background,
            state,
            principal,
            session,
            kind,
            filename,
            dry_run,
            idempotency_key,
        )

    return submit


def _status_message(job: Job) -> str:
    return {
        JobState.QUEUED.value: "queued; poll again shortly",
        JobState.RUNNING.value: "being processed",
        JobState.APPLIED.value: f"applied {job.applied_rows} of {job.total_rows} rows",
        JobState.REJECTED.value: "the file was rejected and nothing was applied; see errors",
        JobState.FAILED.value: "processing failed on the server after retries; nothing was "
        "applied; submit the file again or contact your administrator",
    }[job.state]


def _status_example(state: str, **fields: Any) -> dict[str, Any]:
    example = {
        "jobId": EXAMPLE_JOB_ID,
        "state": state,
        "kind": "progress",
        "fileName": "my_updates",
        "submittedAt": "2025-11-02T09:00:00Z",
        "startedAt": None,
        "finishedAt": None,
        "totalRows": None,
        "appliedRows": None,
        "errors": [],
        "message": "",
    }
    example.update(fields)
    return {"application/json": {"example": example}}


_STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Applied.",
        "content": _status_example(
            "applied",
            startedAt="2025-11-02T09:00:01Z",
            finishedAt="2025-11-02T09:00:02Z",
            totalRows=2,
            appliedRows=2,
            message="applied 2 of 2 rows",
        ),
    },
    202: {
        "description": "Queued or running.",
        "model": JobStatus,
        "content": _status_example("queued", message="queued; poll again shortly"),
    },
    400: {
        "description": "The file was rejected and nothing was applied; `errors` lists every "
        "bad row.",
        "model": JobStatus,
        "content": _status_example(
            "rejected",
            totalRows=2,
            appliedRows=0,
            errors=[
                {
                    "row": 2,
                    "column": "Status",
                    "value": "On Trak",
                    "message": "unknown status 'On Trak'; did you mean 'On Track'?",
                }
            ],
            message="the file was rejected and nothing was applied; see errors",
        ),
    },
    401: _UNAUTHORIZED,
    404: _error(
        "No such job of this kind in the key's organisation and environment.",
        {
            "error": "not_found",
            "message": f"no progressupdates job '{EXAMPLE_JOB_ID}' in this environment",
        },
    ),
    500: {
        "description": "Processing failed on the server after its retries; nothing was applied.",
        "model": JobStatus,
        "content": _status_example(
            "failed",
            message="processing failed on the server after retries; nothing was applied; "
            "submit the file again or contact your administrator",
        ),
    },
}


def _status_handler(endpoint: str) -> Callable[..., Response]:
    def job_status(
        principal: CurrentPrincipal,
        session: ScopedSession,
        job_id: Annotated[str, Path(alias="jobId", description="The id the submission answered.")],
    ) -> Response:
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

    return job_status


def _register_batch_routes() -> None:
    """One submit and one status route per kind, so each shows up under its own path."""
    for endpoint, kind in _KINDS.items():
        router.add_api_route(
            f"/api/{endpoint}/{{filename}}",
            _submit_handler(kind),
            methods=["POST"],
            tags=BATCH_TAGS,
            response_model=JobAccepted | ValidationReport,
            responses=_SUBMIT_RESPONSES,
            openapi_extra=_submit_openapi(kind),
            operation_id=f"submit_{endpoint}",
            summary=f"Submit a {kind.value} update file",
            description=f"Queue a {kind.value} update file and answer its job id at once; a "
            "worker applies it. The whole file is validated first: a file with any bad row "
            "applies nothing, and the job's status lists every bad row.",
        )
    for endpoint, kind in _KINDS.items():
        path = f"/api/{endpoint}/status/{{jobId}}"
        handler = _status_handler(endpoint)
        router.add_api_route(
            path,
            handler,
            methods=["GET"],
            tags=BATCH_TAGS,
            response_model=JobStatus,
            responses=_STATUS_RESPONSES,
            operation_id=f"status_{endpoint}",
            summary=f"A {kind.value} job's status",
            description="The job's state as the HTTP status (202 queued or running, 200 applied, "
            "400 rejected, 500 failed) with the details as JSON. HEAD answers the same status "
            "without a body (`curl -I`).",
        )
        router.add_api_route(
            path, handler, methods=["HEAD"], include_in_schema=False, response_model=None
        )


_register_batch_routes()


class ExportAnswer(BaseModel):
    """A page of a plan's items, shaped as seed 003's export."""

    items: list[dict[str, Any]] = Field(
        description="The page's items: id, name, sequenceId, level, status (0–6), dates, "
        "metric values, assignees, custom fields … as seed 003 lists them."
    )
    totalCount: int = Field(description="How many items the plan has (for paging).")


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


_PLAN_FORBIDDEN = _error(
    "The key's user may not see the plan, or there is no such plan.",
    {
        "error": "forbidden",
        "message": "the key's user may not view plan 'f0e1…' (or it does not exist)",
    },
)


@router.get(
    "/exports/plans/{plan_id}",
    response_model=ExportAnswer,
    tags=EXPORT_TAGS,
    operation_id="export_plan",
    responses={
        400: _error(
            "A bad paging or sorting parameter; `errors` names each one.",
            {
                "error": "invalid_parameter",
                "message": "take must be an integer from 1 to 1500, not 0",
                "errors": [
                    {
                        "parameter": "take",
                        "message": "take must be an integer from 1 to 1500, not 0",
                    }
                ],
            },
        ),
        401: _UNAUTHORIZED,
        403: _PLAN_FORBIDDEN,
    },
)
def export_plan(
    principal: CurrentPrincipal,
    session: ScopedSession,
    state: StateDep,
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
        anchors=state.export_anchors,
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
    tags=EXPORT_TAGS,
    operation_id="export_plan_external_ids",
    response_class=Response,
    responses={
        200: {
            "description": "The plan's items as CSV, one row per item, as an attachment.",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "External ID,Sequence,Level,Name\r\nEXT-1,1,Goal,Grow\r\n",
                }
            },
        },
        401: _UNAUTHORIZED,
        403: _error(
            "The key's user is not an administrator of the plan, or no such plan.",
            {
                "error": "forbidden",
                "message": "the key's user may not administer plan 'f0e1…' (or it does not exist)",
            },
        ),
    },
)
def export_external_ids(
    principal: CurrentPrincipal, session: ScopedSession, plan_id: str
) -> Response:
    """The "Export External IDs" action: External ID, sequence, level and name, as CSV."""
    plan = _plan_for(session, principal, plan_id, PlanRole.ADMIN)
    body, filename = external_ids_csv(session, plan)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
