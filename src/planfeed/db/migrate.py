"""Apply and check Alembic migrations; the schema comes from migrations only."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


class SchemaNotCurrent(RuntimeError):
    """The database is behind (or ahead of) this release's migrations."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "planfeed.db:migrations")
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, in one transaction where the database allows it."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_current(engine: Engine) -> None:
    """Raise :class:`SchemaNotCurrent` with the command to run when not at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(
            f"the database schema is at {current or 'nothing'} but this release needs {head}; "
            "run `planfeed migrate` (with the same PLANFEED_DATABASE_URL / --data-dir)"
        )
