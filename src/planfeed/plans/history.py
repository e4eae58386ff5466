"""An item's metric history: the values of metric files, and of progress updates that carried one.

A progress row with a value is a point of the metric history in its own right, so the batch job
writes it once (into ``progress_updates``) rather than copying it into ``metric_updates``: a
100,000-row progress file is 100,000 history rows, not up to 200,000 (docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from planfeed.plans.models import MetricUpdate, ProgressUpdate


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One recorded value; ``kind`` says where it came from ("metric" or "progress")."""

    as_of: dt.date
    value: float
    author_id: int | None
    source: str
    recorded_at: dt.datetime
    kind: str
    id: int


def metric_history(session: Session, item_id: int) -> list[MetricPoint]:
    """Every recorded value of the item, newest first (by As Of Date, then by when it was
    recorded)."""
    points = [
        MetricPoint(m.as_of, m.value, m.author_id, m.source, m.created_at, "metric", m.id)
        for m in session.scalars(select(MetricUpdate).where(MetricUpdate.item_id == item_id))
    ]
    points += [
        MetricPoint(p.as_of, p.value, p.author_id, p.source, p.created_at, "progress", p.id)
        for p in session.scalars(
            select(ProgressUpdate).where(
                ProgressUpdate.item_id == item_id, ProgressUpdate.value.is_not(None)
            )
        )
        if p.value is not None
    ]
    points.sort(key=lambda point: (point.as_of, point.recorded_at, point.id), reverse=True)
    return points


def metric_series(history: list[MetricPoint]) -> list[tuple[dt.date, float]]:
    """The chart's points: one per As Of Date, the value recorded last for that date."""
    by_date: dict[dt.date, MetricPoint] = {}
    for point in history:
        known = by_date.get(point.as_of)
        if known is None or (point.recorded_at, point.id) > (known.recorded_at, known.id):
            by_date[point.as_of] = point
    return sorted((as_of, point.value) for as_of, point in by_date.items())
