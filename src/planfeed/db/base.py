"""Declarative base with a constraint naming convention (Alembic batch mode on SQLite needs it)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Timezone-aware now; stored as UTC everywhere."""
    return dt.datetime.now(dt.UTC)


# ``Column.info`` flag of a column the database maintains itself (by triggers): code that copies
# rows (sandbox reset) leaves it to its server default and the triggers.
KEPT_BY_DATABASE = "kept_by_database"

# ``ForeignKeyConstraint.info`` flag of a foreign key that PostgreSQL does not hold as a
# constraint: triggers check it once per statement and carry out its ON DELETE action instead
# (migration 0009; a row-by-row check was most of a bulk history load's time). SQLite keeps the
# constraint; the ORM and the sandbox copy read it from the metadata on both databases.
ENFORCED_BY_TRIGGER_ON_POSTGRESQL = "enforced_by_trigger_on_postgresql"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Environment(enum.StrEnum):
    """The two fully separate data sets of every organisation."""

    LIVE = "live"
    SANDBOX = "sandbox"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Tenant(Base):
    """Root of all tenant data: an organisation ("platform"), whose name is also its subdomain."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TenantScoped:
    """Mixin for every table holding tenant data: the (organisation, environment) pair.

    The scope filter itself is applied in :mod:`planfeed.db.scope`, never by hand.
    """

    @declared_attr
    def organisation_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)

    environment: Mapped[str] = mapped_column(String(10))


class Timestamps:
    """Created and last-updated times, maintained by the ORM."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
