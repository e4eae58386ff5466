"""Training tables. Spaces left is capacity minus a booked count kept with each booking."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from planfeed.db.base import Base, TenantScoped, Timestamps


class CourseDateStatus(enum.StrEnum):
    AVAILABLE = "Available"
    FULL = "Full"
    CANCELLED = "Cancelled"
    COMPLETED = "Completed"


class BookingStatus(enum.StrEnum):
    BOOKED = "Booked"
    ATTENDED = "Attended"
    CANCELLED = "Cancelled"


class Company(TenantScoped, Timestamps, Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    phone: Mapped[str | None] = mapped_column(String(50), default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CourseTemplate(TenantScoped, Timestamps, Base):
    __tablename__ = "course_templates"
    __table_args__ = (UniqueConstraint("organisation_id", "environment", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_hours: Mapped[float | None] = mapped_column(Float, default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CourseDate(TenantScoped, Timestamps, Base):
    __tablename__ = "course_dates"
    __table_args__ = (
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity", name="booked_in_range"),
        Index(
            "ix_course_dates_scope_status_start",
            "organisation_id",
            "environment",
            "status",
            "start_date",
        ),
        Index("ix_course_dates_template_start", "course_template_id", "start_date"),
        Index(
            "ix_course_dates_scope_template_status_start",
            "organisation_id",
            "environment",
            "course_template_id",
            "status",
            "start_date",
        ),
        Index("ix_course_dates_scope_start", "organisation_id", "environment", "start_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_template_id: Mapped[int] = mapped_column(
        ForeignKey("course_templates.id", ondelete="RESTRICT")
    )
    label: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[dt.datetime] = mapped_column()
    end_date: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default=CourseDateStatus.AVAILABLE.value)
    capacity: Mapped[int] = mapped_column(Integer, default=12)
    booked_count: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str | None] = mapped_column(String(200), default=None)
    price: Mapped[float | None] = mapped_column(Float, default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    course_template: Mapped[CourseTemplate] = relationship(lazy="joined")

    @property
    def spaces_left(self) -> int:
        return self.capacity - self.booked_count


class Booking(TenantScoped, Timestamps, Base):
    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("course_date_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_date_id: Mapped[int] = mapped_column(
        ForeignKey("course_dates.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(10), default=BookingStatus.BOOKED.value)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
