"""Update-frequency arithmetic: the month step agrees with dateutil's calendar arithmetic."""

import datetime as dt

from dateutil.relativedelta import relativedelta

from planfeed.plans.schedule import update_counts
from planfeed.plans.statuses import Status


def _reference_periods(reference: dt.date, limit: dt.date, months: int) -> int:
    """Whole periods with relativedelta, which clamps the day to the month's last day."""
    if limit <= reference:
        return 0
    elapsed = (limit.year - reference.year) * 12 + limit.month - reference.month
    if reference + relativedelta(months=elapsed) > limit:
        elapsed -= 1
    return elapsed // months


def test_monthly_and_quarterly_counts_match_calendar_arithmetic():
    # Month ends (30th, 31st, a leap and a common February) and mid-month days as references,
    # against every limit day for over a year.
    references = [
        dt.date(2023, 12, 31),
        dt.date(2024, 1, 15),
        dt.date(2024, 1, 28),
        dt.date(2024, 1, 29),
        dt.date(2024, 1, 30),
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 28),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 30),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
        dt.date(2024, 8, 31),
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 28),
        dt.date(2025, 5, 1),
    ]
    for reference in references:
        for offset in range(-2, 430):
            today = reference + dt.timedelta(days=offset)
            for frequency, months in (("Monthly", 1), ("Quarterly", 3)):
                due = _reference_periods(reference, today, months)
                late = _reference_periods(reference, today - dt.timedelta(days=3), months)
                assert update_counts(frequency, reference, 2, Status.ON_TRACK, today) == (
                    late,
                    due - late,
                ), (frequency, reference, today)


def test_closed_and_not_required_items_owe_nothing():
    reference, today = dt.date(2024, 1, 31), dt.date(2025, 1, 31)
    assert update_counts("Daily", reference, 0, Status.ACHIEVED, today) == (0, 0)
    assert update_counts("NotRequired", reference, 0, Status.ON_TRACK, today) == (0, 0)
    assert update_counts("Weekly", None, 0, Status.ON_TRACK, today) == (0, 0)
    assert update_counts("Weekly", reference, 6, Status.ON_TRACK, today) == (51, 1)
