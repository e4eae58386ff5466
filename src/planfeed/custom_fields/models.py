"""Definitions of custom fields; values live in each record's ``custom_fields`` JSON column."""

from __future__ import annotations

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from planfeed.db.base import Base, TenantScoped, Timestamps


class CustomFieldDefinition(TenantScoped, Timestamps, Base):
    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("organisation_id", "environment", "module", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    module: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(64))
    data_type: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(200))
    max_length: Mapped[int | None] = mapped_column(Integer, default=None)
