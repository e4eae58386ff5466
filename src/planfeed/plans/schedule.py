"""Update-frequency arithmetic: late and pending updates, and past-due items.

An item with a frequency expects one progress update per period, counted from its last update
(or, before the first one, from its start date or creation). A period's update is *pending*
from the moment it falls due until the grace period ends, then *late*.
"""

from __future__ import annotations

import calendar
import datetime as dt

from planfeed.plans.models import UpdateFrequency
from planfeed.plans.statuses import Status

CLOSED_STATUSES = frozenset({Status.ACHIEVED, Status.NOT_ACHIEVED, Status.CANCELED})
_PERIOD_DAYS: dict[UpdateFrequency, int] = {
    UpdateFrequency.DAILY: 1,
    UpdateFrequency.WEEKLY: 7,
    UpdateFrequency.BIWEEKLY: 14,
}
_PERIOD_MONTHS: dict[UpdateFrequency, int] = {
    UpdateFrequency.MONTHLY: 1,
    UpdateFrequency.QUARTERLY: 3,
}
_VALUES = {item.value: item for item in UpdateFrequency}


def _periods_until(frequency: UpdateFrequency, reference: dt.date, limit: dt.date) -> int:
    """How many due dates ``reference + k * period`` (k >= 1) fall on or before ``limit``.

    A month step keeps the day of the month, clamped to the month's last day (as
    ``relativedelta`` does), so ``reference`` plus the whole months between the two dates
    overshoots ``limit`` exactly when its day is later and ``limit`` is not its month's last
    day. Plain arithmetic: the export runs this twice for each of up to 1,500 items a page."""
    if limit <= reference:
        return 0
    if frequency in _PERIOD_DAYS:
        return (limit - reference).days // _PERIOD_DAYS[frequency]
    months = (limit.year - reference.year) * 12 + limit.month - reference.month
    if reference.day > limit.day and limit.day < calendar.monthrange(limit.year, limit.month)[1]:
        months -= 1
    return max(0, months // _PERIOD_MONTHS[frequency])


def update_counts(
    frequency: str,
    reference: dt.date | None,
    grace_days: int,
    status: int,
    today: dt.date,
) -> tuple[int, int]:
    """(late, pending) updates for an item; closed items and NotRequired owe nothing."""
    kind = _VALUES.get(frequency)
    if (
        kind is None
        or kind is UpdateFrequency.NOT_REQUIRED
        or reference is None
        or status in CLOSED_STATUSES
    ):
        return 0, 0
    due = _periods_until(kind, reference, today)
    late = _periods_until(kind, reference, today - dt.timedelta(days=grace_days + 1))
    return late, due - late


def is_past_due(due: dt.date | None, status: int, today: dt.date) -> bool:
    return due is not None and due < today and status not in CLOSED_STATUSES
