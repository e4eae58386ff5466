"""Alembic environment: runs on the connection handed over by ``planfeed.db.migrate``."""

from __future__ import annotations

from alembic import context

from planfeed.db.migrate import compared_with
from planfeed.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `planfeed migrate`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Autogenerate must not re-add the foreign keys PostgreSQL enforces with triggers.
        include_object=compared_with(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `planfeed migrate`")
run_migrations_online()
