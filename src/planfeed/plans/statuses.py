"""The seven plan item statuses of seed 001, with the numeric codes of the export (seed 003)."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """A plan item status; the value is the numeric ``status`` code of the export."""

    NOT_STARTED = 0
    ON_TRACK = 1
    AT_RISK = 2
    OFF_TRACK = 3
    ACHIEVED = 4
    NOT_ACHIEVED = 5
    CANCELED = 6

    @property
    def label(self) -> str:
        """The spelling seed 001 uses (``On Track``, ``Canceled`` …)."""
        return _LABELS[self]

    @classmethod
    def from_label(cls, text: str) -> Status | None:
        """Case-insensitive lookup by the exact spelling; ``None`` when unknown."""
        return _BY_LOWER_LABEL.get(text.strip().lower())


_LABELS: dict[Status, str] = {
    Status.NOT_STARTED: "Not Started",
    Status.ON_TRACK: "On Track",
    Status.AT_RISK: "At Risk",
    Status.OFF_TRACK: "Off Track",
    Status.ACHIEVED: "Achieved",
    Status.NOT_ACHIEVED: "Not Achieved",
    Status.CANCELED: "Canceled",
}
_BY_LOWER_LABEL: dict[str, Status] = {label.lower(): status for status, label in _LABELS.items()}

STATUS_LABELS: tuple[str, ...] = tuple(_LABELS[s] for s in Status)
