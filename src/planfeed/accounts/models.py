"""Account tables: users, teams, API keys and access tokens, each per organisation and environment.

Users are per environment too: the sandbox is a full copy of the platform (``planfeed
sandbox reset`` copies live users, with their passwords, into it), so a write to the
sandbox's ``user`` module can never change a live account.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from planfeed.db.base import Base, TenantScoped, Timestamps, utcnow


class UserStatus(enum.StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    DELETED = "Deleted"


class Role(enum.StrEnum):
    """Most to least powerful; the checks live in ``planfeed.auth.permissions``."""

    SUPER_ADMIN = "SuperAdmin"
    ADMIN = "Admin"
    USER = "User"


class User(TenantScoped, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("organisation_id", "environment", "login"),
        Index("ix_users_scope_email", "organisation_id", "environment", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    forenames: Mapped[str] = mapped_column(String(100), default="")
    surname: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default=UserStatus.ACTIVE.value)
    role: Mapped[str] = mapped_column(String(12), default=Role.USER.value)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), default=None, index=True
    )
    job_title: Mapped[str | None] = mapped_column(String(200), default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @property
    def full_name(self) -> str:
        return f"{self.forenames} {self.surname}".strip() or self.login

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE


class Team(TenantScoped, Timestamps, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organisation_id", "environment", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", lazy="selectin"
    )


class TeamMember(TenantScoped, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    team: Mapped[Team] = relationship(back_populates="members")


class ApiKey(TenantScoped, Base):
    """An API key; only the HMAC-SHA256 of the key under the server secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    ip_allowlist: Mapped[list[Any]] = mapped_column(JSON, default=list)
    prefix: Mapped[str] = mapped_column(String(40))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class AccessToken(TenantScoped, Base):
    """A 60-minute bearer token from the token endpoint, stored only as its hash."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined")
