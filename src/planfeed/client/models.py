"""Typed values the client returns and accepts, mapped from and to the server's JSON."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

BatchKind = Literal["progress", "metric"]
Environment = Literal["live", "sandbox"]


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.APPLIED, JobState.REJECTED, JobState.FAILED)


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row of a batch file: ``row`` as a spreadsheet numbers it (None: the whole file)."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowError:
        return cls(data.get("row"), data.get("column"), data.get("value"), str(data["message"]))

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.column:
            where += f", {self.column}"
        shown = f" ({self.value!r})" if self.value not in (None, "") else ""
        return f"{where}{shown}: {self.message}"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field or parameter of a refused request."""

    field: str | None
    message: str
    option: str | None = None
    """The query option at fault (``$filter``, ``$orderby``, …) of a feeds ``invalid_query``."""
    position: int | None = None
    """The 0-based character offset in that option's value, when the server gave one."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldError:
        name = data.get("field") or data.get("parameter") or data.get("column")
        option = data.get("option")
        position = data.get("position")
        return cls(
            str(name) if name is not None else None,
            str(data.get("message", "invalid")),
            str(option) if option is not None else None,
            position if isinstance(position, int) and not isinstance(position, bool) else None,
        )

    def describe(self) -> str:
        """``$filter (position 12): message``, ``Capacity: message`` or just the message."""
        where = self.option or self.field
        if where and self.position is not None:
            where = f"{where} (position {self.position})"
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True)
class JobResult:
    """A batch job's status: its state, row counts and, when rejected, every bad row."""

    job_id: str
    state: JobState
    kind: str
    file_name: str
    submitted_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    total_rows: int | None
    applied_rows: int | None
    errors: tuple[RowError, ...]
    message: str

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def ok(self) -> bool:
        return self.state is JobState.APPLIED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobResult:
        return cls(
            job_id=str(data["jobId"]),
            state=JobState(data["state"]),
            kind=str(data.get("kind", "")),
            file_name=str(data.get("fileName", "")),
            submitted_at=_datetime(data.get("submittedAt")),
            started_at=_datetime(data.get("startedAt")),
            finished_at=_datetime(data.get("finishedAt")),
            total_rows=data.get("totalRows"),
            applied_rows=data.get("appliedRows"),
            errors=tuple(RowError.from_json(e) for e in data.get("errors") or ()),
            message=str(data.get("message", "")),
        )

    def to_json(self) -> dict[str, Any]:
        """The server's spelling, for ``--json`` output."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "jobId": self.job_id,
            "state": self.state.value,
            "kind": self.kind,
            "fileName": self.file_name,
            "submittedAt": iso(self.submitted_at),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "totalRows": self.total_rows,
            "appliedRows": self.applied_rows,
            "errors": [_row_error_json(e) for e in self.errors],
            "message": self.message,
        }


def _row_error_json(error: RowError) -> dict[str, Any]:
    return {
        "row": error.row,
        "column": error.column,
        "value": error.value,
        "message": error.message,
    }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The dry run's answer: whether the file would be accepted, and every bad row if not."""

    valid: bool
    kind: str
    file_name: str
    total_rows: int
    valid_rows: int
    errors: tuple[RowError, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(
            valid=bool(data["valid"]),
            kind=str(data.get("kind", "")),
            file_name=str(data.get("fileName", "")),
            total_rows=int(data.get("totalRows", 0)),
            valid_rows=int(data.get("validRows", 0)),
            errors=tuple(RowError.from_json(e) for e in data.get("errors") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": True,
            "valid": self.valid,
            "kind": self.kind,
            "fileName": self.file_name,
            "totalRows": self.total_rows,
            "validRows": self.valid_rows,
            "errors": [_row_error_json(e) for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class ProgressRow:
    """One progress update; ``status`` is a seed-001 label such as "On Track"."""

    external_id: str
    status: str
    as_of: dt.date | str
    metric_value: float | Decimal | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric update (20% is written 0.2)."""

    external_id: str
    metric_value: float | Decimal
    as_of: dt.date | str


@dataclass(frozen=True, slots=True)
class WhoAmI:
    organisation: str
    environment: str
    user: str
    role: str
    credential: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WhoAmI:
        return cls(
            organisation=str(data["organisation"]),
            environment=str(data["environment"]),
            user=str(data["user"]),
            role=str(data["role"]),
            credential=str(data.get("credential", "")),
        )


@dataclass(frozen=True, slots=True)
class MetricGoal:
    goal_id: str
    goal_name: str
    goal_color: str | None
    metric_bucket_value: float | None
    sort_order: int


@dataclass(frozen=True, slots=True)
class Principal:
    """A member or admin of a plan item: a user or a team."""

    id: str
    name: str | None
    type: str


@dataclass(frozen=True, slots=True)
class ChecklistEntry:
    id: str
    name: str
    sort_index: int
    done_on: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Checklist:
    id: str
    name: str
    sort_index: int
    items: tuple[ChecklistEntry, ...]


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    organization_id: str
    name: str


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One item of a plan export (seed 003); ``raw`` keeps the server's JSON as sent."""

    id: str
    source_id: str
    row_number: int
    sequence_id: str
    plan_id: str
    plan_name: str
    source_plan_id: str | None
    source_plan_name: str | None
    aligns_to: str | None
    aligns_to_id: str | None
    dependent_on: str | None
    dependent_on_id: str | None
    level_id: str
    level: str
    name: str
    indented_name: str
    description: str | None
    status: int
    status_name: str
    start: dt.date | None
    due: dt.date | None
    created: dt.datetime | None
    has_metric: bool
    has_advanced_metric: bool
    units: int | None
    detail: int | None
    baseline: Decimal | None
    target: Decimal | None
    current_value: Decimal | None
    advanced_metric_goals: tuple[MetricGoal, ...]
    last_updated: dt.datetime | None
    assigned_to_id: str | None
    assigned_to_full_name: str | None
    assigned_by_id: str | None
    assigned_by_full_name: str | None
    members: tuple[Principal, ...]
    admins: tuple[Principal, ...]
    update_frequency: str | None
    update_frequency_description: str | None
    is_past_due: bool
    late_updates: int
    pending_updates: int
    updates: int
    last_comment_id: str | None
    last_comment: str | None
    last_update_comment_id: str | None
    last_update_comment: str | None
    files: int
    checklists: tuple[Checklist, ...]
    tags: tuple[Tag, ...]
    is_orphan: bool
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def parent_sequence_id(self) -> str | None:
        """The parent's sequence id: drop the last dotted segment ("1.2.3" → "1.2")."""
        head, _, _ = self.sequence_id.rpartition(".")
        return head or None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PlanItem:
        def people(key: str) -> tuple[Principal, ...]:
            return tuple(
                Principal(str(p.get("id")), p.get("name"), str(p.get("type", "")))
                for p in d.get(key) or ()
            )

        return cls(
            id=str(d["id"]),
            source_id=str(d.get("sourceId") or d["id"]),
            row_number=int(d.get("rowNumber") or 0),
            sequence_id=str(d.get("sequenceId", "")),
            plan_id=str(d.get("planId", "")),
            plan_name=str(d.get("planName", "")),
            source_plan_id=d.get("sourcePlanId"),
            source_plan_name=d.get("sourcePlanName"),
            aligns_to=d.get("alignsTo"),
            aligns_to_id=d.get("alignsToId"),
            dependent_on=d.get("dependentOn"),
            dependent_on_id=d.get("dependentOnId"),
            level_id=str(d.get("levelId") or ""),
            level=str(d.get("level") or ""),
            name=str(d.get("name", "")),
            indented_name=str(d.get("indentedName", "")),
            description=d.get("description"),
            status=int(d.get("status") or 0),
            status_name=str(d.get("statusName", "")),
            start=_date(d.get("start")),
            due=_date(d.get("due")),
            created=_datetime(d.get("created")),
            has_metric=bool(d.get("hasMetric")),
            has_advanced_metric=bool(d.get("hasAdvancedMetric")),
            units=d.get("units"),
            detail=d.get("detail"),
            baseline=_decimal(d.get("baseline")),
            target=_decimal(d.get("target")),
            current_value=_decimal(d.get("currentValue")),
            advanced_metric_goals=tuple(
                MetricGoal(
                    goal_id=str(g.get("goalId")),
                    goal_name=str(g.get("goalName", "")),
                    goal_color=g.get("goalColor"),
                    metric_bucket_value=g.get("metricBucketValue"),
                    sort_order=int(g.get("sortOrder") or 0),
                )
                for g in d.get("advancedMetricGoals") or ()
            ),
            last_updated=_datetime(d.get("lastUpdated")),
            assigned_to_id=d.get("assignedToId"),
            assigned_to_full_name=d.get("assignedToFullName"),
            assigned_by_id=d.get("assignedById"),
            assigned_by_full_name=d.get("assignedByFullName"),
            members=people("members"),
            admins=people("admins"),
            update_frequency=d.get("updateFrequency"),
            update_frequency_description=d.get("updateFrequencyDescription"),
            is_past_due=bool(d.get("isPastDue")),
            late_updates=int(d.get("lateUpdates") or 0),
            pending_updates=int(d.get("pendingUpdates") or 0),
            updates=int(d.get("updates") or 0),
            last_comment_id=d.get("lastCommentId"),
            last_comment=d.get("lastComment"),
            last_update_comment_id=d.get("lastUpdateCommentId"),
            last_update_comment=d.get("lastUpdateComment"),
            files=int(d.get("files") or 0),
            checklists=tuple(
                Checklist(
                    id=str(c.get("id")),
                    name=str(c.get("name", "")),
                    sort_index=int(c.get("sortIndex") or 0),
                    items=tuple(
                        ChecklistEntry(
                            id=str(e.get("id")),
                            name=str(e.get("name", "")),
                            sort_index=int(e.get("sortIndex") or 0),
                            done_on=_datetime(e.get("doneOn")),
                        )
                        for e in c.get("items") or ()
                    ),
                )
                for c in d.get("checklists") or ()
            ),
            tags=tuple(
                Tag(str(t.get("id")), str(t.get("organizationId", "")), str(t.get("name", "")))
                for t in d.get("tags") or ()
            ),
            is_orphan=bool(d.get("isOrphan")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class ExportPage:
    """One page of a plan export: its items, where it starts, and the plan's item count."""

    items: tuple[PlanItem, ...]
    skip: int
    total_count: int


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What ``upsert`` did: ``created`` is True for a new record (201), False for an update
    (200). ``body`` is the server's answer: ``{"ID": n, "<Module>ID": n}`` for a creation,
    the whole updated record for an update."""

    created: bool
    id: Any
    body: Any = None
