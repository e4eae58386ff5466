"""Apply and check Alembic migrations; the schema comes from migrations only."""

from __future__ import annotations

from collections.abc import Callable

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


class ForeignKeyViolation(RuntimeError):
    """A migration would leave rows whose foreign keys point nowhere (nothing was changed)."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, in one transaction where the database allows it."""
    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (for tests of a migration and for recovery)."""
    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    """Run ``run`` on one connection, in one transaction.

    On SQLite, foreign keys are off while it runs: a migration that rebuilds a table (Alembic's
    batch mode: create a copy, drop the original) would otherwise cascade the drop into every
    table referring to it. This is the procedure SQLite's documentation gives for such changes:
    the switch only works outside a transaction, and every foreign key is checked before the
    commit, so a migration cannot leave a dangling reference behind."""
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # before SQLAlchemy begins its transaction
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                run(config)
                if sqlite:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise ForeignKeyViolation(
                            f"the migration would leave {len(dangling)} rows with a foreign key "
                            f"pointing nowhere (first: table {dangling[0][0]}, row "
                            f"{dangling[0][1]}); nothing was changed"
                        )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


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
