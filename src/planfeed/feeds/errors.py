"""Errors of the feeds engine; the HTTP layer turns each into its status code and JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with one field of a write."""

    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message}


class FeedError(Exception):
    """A 4xx answer of the feeds: ``status``, a ``code``, a message and the field problems."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []


def invalid(problems: list[FieldProblem]) -> FeedError:
    """A 400 for a record that breaks the module's rules, naming every field."""
    summary = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
    return FeedError(400, "invalid_record", summary, problems)


def field_error(field: str | None, message: str) -> FeedError:
    return invalid([FieldProblem(field, message)])


def conflict(message: str, field: str | None = None) -> FeedError:
    """A 409: the request is well formed but clashes with data the platform holds."""
    return FeedError(409, "conflict", message, [FieldProblem(field, message)] if field else [])


def not_found(module: str, record_id: object) -> FeedError:
    return FeedError(404, "not_found", f"no {module} record with ID {record_id}")


def forbidden(message: str) -> FeedError:
    return FeedError(403, "forbidden", message)
