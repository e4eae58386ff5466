"""The schema comes from migrations, and the migrations match the models."""

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from planfeed.db.base import Base, Environment
from planfeed.db.engine import make_engine
from planfeed.db.migrate import (
    ForeignKeyViolation,
    SchemaNotCurrent,
    _migrate,
    check_current,
    compared_with,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from planfeed.db.scope import Scope, bind_scope
from planfeed.plans.models import PlanItem, ProgressUpdate


def test_database_is_at_head_and_matches_models(db):
    check_current(db.engine)
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": False, "include_object": compared_with(db.backend)},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_unmigrated_database_is_refused_with_the_command_to_run(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotCurrent, match="planfeed migrate"):
        check_current(engine)


def test_sqlite_has_wal_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _old_schema_rows(engine):
    """An organisation with a plan of two items and their history, written into the schema of
    revision 0005 (progress columns still on ``plan_items``)."""
    now = dt.datetime(2025, 3, 4, 5, 6, 7)
    stamp = {"organisation_id": 1, "environment": "live", "created_at": now}
    metadata = MetaData()
    with engine.begin() as connection:
        tables = {
            name: Table(name, metadata, autoload_with=connection)
            for name in ("organisations", "users", "plans", "plan_items", "progress_updates")
        }
        connection.execute(
            insert(tables["organisations"]).values(
                id=1, name="acme", display_name="Acme", created_at=now
            )
        )
        user = {"login": "ada", "email": "ada@example.com", "forenames": "Ada", "surname": "L"}
        connection.execute(
            insert(tables["users"]).values(
                id=1, **user, status="Active", role="SuperAdmin", failed_logins=0,
                custom_fields={}, updated_at=now, **stamp,
            )
        )  # fmt: skip
        connection.execute(
            insert(tables["plans"]).values(
                id=1, public_id="plan-1", name="Plan", description="", custom_fields={},
                updated_at=now, **stamp,
            )
        )  # fmt: skip
        common = {
            "plan_id": 1, "description": "", "has_metric": True, "rollup": "Manual",
            "update_frequency": "NotRequired", "grace_days": 0, "files_count": 0,
            "custom_fields": {}, **stamp,
        }  # fmt: skip
        connection.execute(
            insert(tables["plan_items"]),
            [
                {
                    **common, "id": 1, "public_id": "item-1", "parent_id": None, "sequence_id": "1",
                    "sequence_key": "000001", "external_id": "E1", "name": "One", "status": 3,
                    "current_value": 12.5, "last_update_on": dt.date(2025, 3, 1),
                    "last_metric_on": dt.date(2025, 3, 2), "last_update_comment": "on it",
                    "last_progress_user_id": 1, "updates_count": 4,
                    "updated_at": dt.datetime(2025, 3, 1, 8, 0),
                },
                {
                    **common, "id": 2, "public_id": "item-2", "parent_id": 1,
                    "sequence_id": "1.1", "sequence_key": "000001.000001", "external_id": "E2",
                    "name": "Two", "status": 0, "current_value": None, "last_update_on": None,
                    "last_metric_on": None, "last_update_comment": None,
                    "last_progress_user_id": None, "updates_count": 0, "updated_at": now,
                },
            ],
        )  # fmt: skip
        connection.execute(
            insert(tables["progress_updates"]).values(
                item_id=1, status=3, value=12.5, as_of=dt.date(2025, 3, 1), source="job", **stamp
            )
        )


PROGRESS_OF_ITEM_1 = {
    "status": 3,
    "current_value": 12.5,
    "last_update_on": dt.date(2025, 3, 1),
    "last_metric_on": dt.date(2025, 3, 2),
    "last_update_comment": "on it",
    "last_progress_user_id": 1,
    "updates_count": 4,
}


def test_progress_columns_move_to_their_own_table_and_back(blank_engine):
    """0006 moves every item's progress values to plan_item_progress, losing nothing: on
    SQLite, rebuilding plan_items must not cascade into the history or the items' children.
    Its downgrade brings the values back."""
    upgrade(blank_engine, "0005")
    _old_schema_rows(blank_engine)
    upgrade(blank_engine)
    with Session(blank_engine) as session:
        bind_scope(session, Scope(1, Environment.LIVE))
        first, second = session.scalars(select(PlanItem).order_by(PlanItem.id)).all()
        assert {name: getattr(first, name) for name in PROGRESS_OF_ITEM_1} == PROGRESS_OF_ITEM_1
        assert first.updated_at == dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
        assert (second.parent_id, second.status, second.updates_count) == (1, 0, 0)
        assert session.scalar(select(func.count()).select_from(ProgressUpdate)) == 1
    columns = {column["name"] for column in inspect(blank_engine).get_columns("plan_items")}
    assert not columns & set(PROGRESS_OF_ITEM_1)

    downgrade(blank_engine, "0005")
    with blank_engine.connect() as connection:
        row = connection.execute(
            text(f"SELECT {', '.join(PROGRESS_OF_ITEM_1)} FROM plan_items WHERE id = 1")
        ).one()
        assert connection.execute(text("SELECT count(*) FROM progress_updates")).scalar() == 1
    assert (row.status, row.current_value, row.updates_count) == (3, 12.5, 4)
    assert (str(row.last_update_on), row.last_update_comment) == ("2025-03-01", "on it")
    assert not inspect(blank_engine).has_table("plan_item_progress")


def _dangle_history(engine):
    """Point the history row at a missing item, past SQLite's foreign keys."""
    raw = engine.raw_connection()
    try:
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("UPDATE progress_updates SET item_id = 99")
        raw.commit()
        raw.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


def test_a_migration_leaving_a_dangling_reference_is_refused(blank_engine):
    """SQLite runs migrations with foreign keys off: a migration that would leave a row
    pointing nowhere is refused, and nothing of it is kept."""
    if blank_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checks every foreign key as it goes")
    upgrade(blank_engine, "0005")
    _old_schema_rows(blank_engine)

    def faulty(config):
        command.upgrade(config, "head")
        config.attributes["connection"].exec_driver_sql("UPDATE progress_updates SET item_id = 99")

    with pytest.raises(ForeignKeyViolation, match="table progress_updates, row 1, a missing"):
        _migrate(blank_engine, faulty, None)
    assert current_revision(blank_engine) == "0005"
    with blank_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT item_id FROM progress_updates").scalar() == 1


def test_dangling_references_from_before_do_not_stop_a_migration_or_a_start(blank_engine):
    """Only what a migration adds is its fault: a database that already holds a dangling
    reference still migrates, and ``upgrade`` at head (every ``serve``) does not check."""
    if blank_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses dangling references when they are written")
    upgrade(blank_engine, "0005")
    _old_schema_rows(blank_engine)
    _dangle_history(blank_engine)
    upgrade(blank_engine)
    assert current_revision(blank_engine) == head_revision()
    upgrade(blank_engine)  # nothing to do
    with blank_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT item_id FROM progress_updates").scalar() == 99


def test_plan_item_counts_are_filled_and_their_triggers_removed_on_downgrade(blank_engine):
    """0008 counts the items already there; its downgrade drops the triggers with the column
    (a trigger left behind would fail every later item write)."""
    upgrade(blank_engine, "0005")
    _old_schema_rows(blank_engine)
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT item_count FROM plans").scalar() == 2

    downgrade(blank_engine, "0007")
    assert "item_count" not in {
        column["name"] for column in inspect(blank_engine).get_columns("plans")
    }
    with blank_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM plan_items WHERE id = 2")
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT item_count FROM plans").scalar() == 1


def test_progress_rows_leave_half_a_page_for_in_place_updates(blank_engine):
    """PostgreSQL: plan_item_progress has fill factor 50 at head (migration 0010), 70 before."""
    if blank_engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage parameter")

    def options() -> list[str]:
        with blank_engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT reloptions FROM pg_class WHERE relname = 'plan_item_progress' "
                    "AND relnamespace = current_schema()::regnamespace"
                )
            ).scalar_one()

    upgrade(blank_engine)
    assert options() == ["fillfactor=50"]
    downgrade(blank_engine, "0009")
    assert options() == ["fillfactor=70"]
    upgrade(blank_engine)
    assert options() == ["fillfactor=50"]
