"""Apply and check Alembic migrations; the schema comes from migrations only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, ForeignKeyConstraint

from planfeed.db.base import ENFORCED_BY_TRIGGER_ON_POSTGRESQL


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
    target = head_revision() if revision == "head" else revision
    _migrate(engine, lambda config: command.upgrade(config, revision), target)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (for tests of a migration and for recovery)."""
    _migrate(engine, lambda config: command.downgrade(config, revision), revision)


def _migrate(engine: Engine, run: Callable[[Config], None], target: str | None) -> None:
    """Run ``run`` (Alembic commands, to ``target``: ``None`` when not known beforehand) on one
    connection, in one transaction.

    On SQLite, foreign keys are off while it runs: a migration that rebuilds a table (Alembic's
    batch mode: create a copy, drop the original) would otherwise cascade the drop into every
    table referring to it. This is the procedure SQLite's documentation gives for such changes:
    the switch only works outside a transaction, and when a migration runs, the foreign keys are
    checked before the commit, so a migration cannot add a dangling reference. (References that
    were dangling before are not the migration's doing, and do not stop it.)"""
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # before SQLAlchemy begins its transaction
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                current = MigrationContext.configure(connection).get_current_revision()
                checked = sqlite and (target is None or current != target)
                before = _dangling(connection) if checked else set()
                run(config)
                added = sorted(_dangling(connection) - before) if checked else []
                if added:
                    table, row, parent = added[0]
                    raise ForeignKeyViolation(
                        f"the migration would leave {len(added)} rows with a foreign key "
                        f"pointing nowhere (first: table {table}, row {row}, a missing {parent} "
                        "row); nothing was changed"
                    )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _dangling(connection: Connection) -> set[tuple[str, int, str]]:
    """SQLite: every row whose foreign key points nowhere, as (table, rowid, referred table)."""
    return {
        (table, row, parent)
        for table, row, parent, _ in connection.exec_driver_sql("PRAGMA foreign_key_check")
    }


def compared_with(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's ``include_object`` hook for comparing the models with a database of
    ``dialect``: on PostgreSQL the foreign keys marked ``ENFORCED_BY_TRIGGER_ON_POSTGRESQL`` are
    triggers, not constraints (migration 0009), so the models' side of them is left out. Nothing
    else is: such a key still present in the database shows as one to remove."""

    def include(obj: Any, _name: str | None, kind: str, reflected: bool, _other: Any) -> bool:
        return not (
            dialect == "postgresql"
            and kind == "foreign_key_constraint"
            and not reflected
            and isinstance(obj, ForeignKeyConstraint)
            and obj.info.get(ENFORCED_BY_TRIGGER_ON_POSTGRESQL, False)
        )

    return include


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
