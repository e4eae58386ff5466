"""A history row's references (its item key, its author) hold on both databases: on SQLite by
foreign keys, on PostgreSQL by the triggers of migration 0009, also against a concurrent delete."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    delete,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from planfeed.accounts.models import User
from planfeed.db.base import Environment, Tenant
from planfeed.db.migrate import downgrade, upgrade
from planfeed.db.sandbox import reset_sandbox
from planfeed.plans.models import (
    ITEM_PROGRESS,
    ITEMS,
    MetricUpdate,
    Plan,
    PlanItem,
    ProgressUpdate,
    insert_item_rows,
)
from support import add_plan

HISTORY: list[Table] = [ProgressUpdate.__table__, MetricUpdate.__table__]  # type: ignore[list-item]
LIVE, SANDBOX = Environment.LIVE.value, Environment.SANDBOX.value
UNKNOWN = 999_999
# How long a test waits for something that should happen at once (a lock wait, a thread's end).
WAIT = 15.0


def _by_name(table: Table) -> str:
    return table.name


def _item(plan_id: int, organisation_id: int, environment: str, number: int) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "organisation_id": organisation_id,
        "environment": environment,
        "sequence_id": str(number),
        "sequence_key": f"{number:06d}",
        "external_id": f"E{plan_id}-{number}",
        "name": f"Item {number}",
    }


def _history(
    table: Table,
    item_id: Any,
    organisation_id: Any,
    environment: Any = LIVE,
    author_id: Any = None,
) -> dict[str, Any]:
    """A history row of ``table`` (progress or metric) for the given references."""
    row = {
        "item_id": item_id,
        "organisation_id": organisation_id,
        "environment": environment,
        "author_id": author_id,
        "value": 1.5,
        "as_of": dt.date(2025, 1, 1),
        "source": "api",
        "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    if "status" in table.c:
        row["status"] = 1
    return row


@dataclass
class World:
    """Two organisations; acme has a plan of items ``x`` and ``y`` and an author, globex a plan
    with item ``other`` and an author of its own, and acme's sandbox one item."""

    acme: int
    globex: int
    plan: int
    other_plan: int
    x: int
    y: int
    other: int
    sandbox_item: int
    author: int
    other_author: int


@pytest.fixture
def world(db, make_tenant) -> World:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    author, other_author = acme.user("ada"), globex.user("bob")
    plan, other_plan = add_plan(acme), add_plan(globex)
    sandbox_plan = add_plan(acme, environment=Environment.SANDBOX)
    with db.engine.begin() as connection:
        x, y = insert_item_rows(
            connection, [_item(plan, acme.organisation_id, LIVE, n) for n in (1, 2)]
        )
        (other,) = insert_item_rows(
            connection, [_item(other_plan, globex.organisation_id, LIVE, 1)]
        )
        (sandbox_item,) = insert_item_rows(
            connection, [_item(sandbox_plan, acme.organisation_id, SANDBOX, 1)]
        )
    return World(
        acme.organisation_id,
        globex.organisation_id,
        plan,
        other_plan,
        x,
        y,
        other,
        sandbox_item,
        author.id,
        other_author.id,
    )


def _rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    """``table``'s rows as (item, organisation, environment, author), in id order."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    table.c.item_id, table.c.organisation_id, table.c.environment, table.c.author_id
                ).order_by(table.c.id)
            )
        ]


def _assert_foreign_key_violation(error: IntegrityError, db, table: Table, key: str) -> None:
    """PostgreSQL's triggers answer as the foreign key did: SQLSTATE 23503, its own wording,
    the dropped constraint's name."""
    if db.backend != "postgresql":
        return
    constraint = f"fk_{table.name}_{key}"
    assert error.orig.sqlstate == "23503"  # type: ignore[union-attr]
    assert error.orig.diag.constraint_name == constraint  # type: ignore[union-attr]
    assert str(error.orig).splitlines()[0] == (
        f'insert or update on table "{table.name}" violates foreign key constraint "{constraint}"'
    )
    columns, referred = (
        ("author_id", "users")
        if key.startswith("author")
        else ("item_id, organisation_id, environment", "plan_items")
    )
    detail = error.orig.diag.message_detail  # type: ignore[union-attr]
    assert detail.startswith(f"Key ({columns})=(")
    assert detail.endswith(f') is not present in table "{referred}".')


@pytest.mark.parametrize("table", HISTORY, ids=_by_name)
def test_a_row_of_another_scope_or_an_unknown_item_is_refused_whole(db, world, table):
    """Each statement holds a good row and a bad one: nothing of it stays."""
    good = _history(table, world.x, world.acme)
    for bad, shown in (
        (_history(table, world.x, world.globex), f"({world.x}, {world.globex}, live)"),
        (_history(table, world.x, world.acme, SANDBOX), f"({world.x}, {world.acme}, sandbox)"),
        (_history(table, world.other, world.acme), f"({world.other}, {world.acme}, live)"),
        (
            _history(table, world.sandbox_item, world.acme),
            f"({world.sandbox_item}, {world.acme}, live)",
        ),
        (_history(table, UNKNOWN, world.acme), f"({UNKNOWN}, {world.acme}, live)"),
    ):
        with pytest.raises(IntegrityError) as refused, db.engine.begin() as connection:
            connection.execute(insert(table).values([good, bad]))
        _assert_foreign_key_violation(refused.value, db, table, "item_id_plan_items")
        if db.backend == "postgresql":
            assert refused.value.orig.diag.message_detail == (  # type: ignore[union-attr]
                f"Key (item_id, organisation_id, environment)={shown} is not present in table "
                '"plan_items".'
            )
        assert _rows(db.engine, table) == []
    with db.engine.begin() as connection:  # the item's own scope is accepted
        connection.execute(insert(table).values([good, _history(table, world.other, world.globex)]))
    assert _rows(db.engine, table) == [
        (world.x, world.acme, LIVE, None),
        (world.other, world.globex, LIVE, None),
    ]


@pytest.mark.parametrize("table", HISTORY, ids=_by_name)
def test_an_unknown_author_is_refused_and_no_author_is_fine(db, world, table):
    with pytest.raises(IntegrityError) as refused, db.engine.begin() as connection:
        connection.execute(
            insert(table).values(
                [
                    _history(table, world.x, world.acme, author_id=world.author),
                    _history(table, world.y, world.acme, author_id=UNKNOWN),
                ]
            )
        )
    _assert_foreign_key_violation(refused.value, db, table, "author_id_users")
    if db.backend == "postgresql":
        assert refused.value.orig.diag.message_detail == (  # type: ignore[union-attr]
            f'Key (author_id)=({UNKNOWN}) is not present in table "users".'
        )
    assert _rows(db.engine, table) == []
    with db.engine.begin() as connection:
        connection.execute(
            insert(table).values(
                [
                    _history(table, world.x, world.acme, author_id=world.author),
                    _history(table, world.y, world.acme, author_id=None),
                ]
            )
        )
    assert _rows(db.engine, table) == [
        (world.x, world.acme, LIVE, world.author),
        (world.y, world.acme, LIVE, None),
    ]


@pytest.mark.parametrize("table", HISTORY, ids=_by_name)
def test_an_insert_select_with_one_bad_row_is_refused_whole(db, world, table):
    """One INSERT … SELECT over every live item, all stamped with acme's scope: globex's item
    makes the whole statement fail."""
    columns = {
        name: value
        for name, value in _history(table, None, None).items()
        if name not in ("item_id", "organisation_id", "environment", "author_id")
    }
    names = ["item_id", "organisation_id", "environment", "author_id", *columns]
    rows = select(
        ITEMS.c.id,
        literal(world.acme),
        literal(LIVE),
        literal(world.author),
        *(literal(value, table.c[name].type) for name, value in columns.items()),
    ).where(ITEMS.c.environment == LIVE)
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(insert(table).from_select(names, rows))
    assert _rows(db.engine, table) == []
    with db.engine.begin() as connection:
        connection.execute(
            insert(table).from_select(names, rows.where(ITEMS.c.organisation_id == world.acme))
        )
    assert sorted(_rows(db.engine, table)) == [
        (world.x, world.acme, LIVE, world.author),
        (world.y, world.acme, LIVE, world.author),
    ]


@pytest.mark.parametrize("table", HISTORY, ids=_by_name)
def test_an_update_to_a_missing_item_or_author_is_refused(db, world, table):
    """The row trigger on PostgreSQL; clearing the author is fine."""
    with db.engine.begin() as connection:
        connection.execute(
            insert(table).values(_history(table, world.x, world.acme, author_id=world.author))
        )
    for values, key in (
        ({"item_id": world.other}, "item_id_plan_items"),
        ({"environment": SANDBOX}, "item_id_plan_items"),
        ({"author_id": UNKNOWN}, "author_id_users"),
    ):
        with pytest.raises(IntegrityError) as refused, db.engine.begin() as connection:
            connection.execute(update(table).values(values))
        _assert_foreign_key_violation(refused.value, db, table, key)
    with db.engine.begin() as connection:
        connection.execute(update(table).values(item_id=world.y, author_id=None))
        connection.execute(update(table).values(author_id=world.author))
    assert _rows(db.engine, table) == [(world.y, world.acme, LIVE, world.author)]


def _fill_history(db, world: World) -> None:
    """Two rows per item (x, y, other) in each history table, written by the item's org's
    author."""
    with db.engine.begin() as connection:
        for table in HISTORY:
            connection.execute(
                insert(table).values(
                    [
                        _history(table, item, organisation, author_id=author)
                        for item, organisation, author in (
                            (world.x, world.acme, world.author),
                            (world.y, world.acme, world.author),
                            (world.other, world.globex, world.other_author),
                        )
                        for _ in range(2)
                    ]
                )
            )


def _items_with_history(db) -> list[set[int]]:
    return [{row[0] for row in _rows(db.engine, table)} for table in HISTORY]


def test_deleting_an_item_deletes_its_history(db, world):
    _fill_history(db, world)
    with db.engine.begin() as connection:
        connection.execute(delete(ITEMS).where(ITEMS.c.id == world.x))
    assert _items_with_history(db) == [{world.y, world.other}] * 2


def test_deleting_a_plan_or_an_organisation_deletes_its_items_history(db, world):
    _fill_history(db, world)
    with db.engine.begin() as connection:
        connection.execute(delete(Plan).where(Plan.id == world.other_plan))
    assert _items_with_history(db) == [{world.x, world.y}] * 2
    with db.engine.begin() as connection:
        connection.execute(delete(Tenant).where(Tenant.id == world.acme))
    assert _items_with_history(db) == [set(), set()]


def test_deleting_a_user_keeps_its_history_without_author(db, world):
    _fill_history(db, world)
    with db.engine.begin() as connection:
        connection.execute(delete(User).where(User.id == world.author))
    for table in HISTORY:
        assert _rows(db.engine, table) == [
            (world.x, world.acme, LIVE, None),
            (world.x, world.acme, LIVE, None),
            (world.y, world.acme, LIVE, None),
            (world.y, world.acme, LIVE, None),
            (world.other, world.globex, LIVE, world.other_author),
            (world.other, world.globex, LIVE, world.other_author),
        ]


# PostgreSQL, two transactions at once: the locks of the triggers keep a history insert and a
# delete of what it refers to from both going through.


@pytest.fixture
def pg_world(db, world) -> World:
    if db.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    return world


def _begin(connection: Connection) -> None:
    """A transaction that gives up on a lock after ``WAIT`` rather than hang the test run."""
    connection.begin()
    connection.execute(text(f"SET LOCAL lock_timeout = '{int(WAIT * 1000)}ms'"))


class InThread:
    """Run ``work`` in its own transaction in another thread; keeps its error."""

    def __init__(self, engine: Engine, work: Callable[[Connection], Any]) -> None:
        self.error: BaseException | None = None
        self.backend_pid: int | None = None
        self._engine, self._work = engine, work
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(WAIT)

    def _run(self) -> None:
        try:
            with self._engine.connect() as connection:
                _begin(connection)
                self.backend_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
                self._ready.set()
                self._work(connection)
                connection.commit()
        except BaseException as error:  # handed to the test
            self.error = error
        finally:
            self._ready.set()

    def wait_for_lock(self, engine: Engine) -> None:
        """Until the thread's statement waits for a lock (it must not finish meanwhile)."""
        deadline = time.monotonic() + WAIT
        with engine.connect() as watcher:
            while time.monotonic() < deadline:
                waiting = watcher.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": self.backend_pid},
                ).scalar()
                if waiting == "Lock":
                    return
                assert self.thread.is_alive(), f"finished without waiting ({self.error!r})"
                time.sleep(0.02)
        raise AssertionError("the other transaction never waited for a lock")

    def join(self) -> None:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


def test_an_item_delete_waits_for_an_open_history_insert_and_then_takes_its_rows(db, pg_world):
    world = pg_world
    with db.engine.connect() as inserter:
        _begin(inserter)
        for table in HISTORY:
            inserter.execute(insert(table).values(_history(table, world.x, world.acme)))
        deleter = InThread(
            db.engine, lambda c: c.execute(delete(ITEMS).where(ITEMS.c.id == world.x))
        )
        deleter.wait_for_lock(db.engine)
        time.sleep(0.2)
        assert deleter.thread.is_alive()  # still waiting while the insert is open
        inserter.commit()
    deleter.join()
    assert deleter.error is None
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(ITEMS.c.id == world.x)) == 0
    assert _items_with_history(db) == [set(), set()]  # no row points at the deleted item


def _delete_item_core(connection: Connection, item_id: int) -> None:
    connection.execute(delete(ITEMS).where(ITEMS.c.id == item_id))


def _delete_item_orm(connection: Connection, item_id: int) -> None:
    """As the feeds API and the web interface delete an item: the ORM deletes the progress row
    first, then the item row."""
    with Session(bind=connection) as session:
        session.delete(session.get(PlanItem, item_id))
        session.flush()


def _job_update(connection: Connection, item_id: int) -> None:
    """What a batch job does after its history insert: update the item's progress row."""
    connection.execute(
        update(ITEM_PROGRESS)
        .where(ITEM_PROGRESS.c.item_id == item_id)
        .values(updates_count=ITEM_PROGRESS.c.updates_count + 1)
    )


@pytest.mark.parametrize("delete_item", [_delete_item_core, _delete_item_orm])
def test_an_item_delete_during_a_job_waits_for_it_without_a_deadlock(db, pg_world, delete_item):
    """A batch job inserts history (holding its plans), then updates the items' progress
    rows. An item delete arriving in between, however it is made, must wait for the job at its
    plan, not first lock the item's progress row, which the job is about to update."""
    world = pg_world
    with db.engine.connect() as job:
        _begin(job)
        job.execute(
            insert(ProgressUpdate.__table__).values(
                _history(ProgressUpdate.__table__, world.x, world.acme)
            )
        )
        deleter = InThread(db.engine, lambda c: delete_item(c, world.x))
        deleter.wait_for_lock(db.engine)
        _job_update(job, world.x)  # a deadlock is detected here or in the deleter (1 s)
        job.commit()
    deleter.join()
    assert deleter.error is None, str(deleter.error)
    assert _items_with_history(db) == [set(), set()]


def test_a_sandbox_reset_during_a_sandbox_job_waits_for_it_without_a_deadlock(db, pg_world):
    """The reset deletes the sandbox's progress rows before its items; it must take the
    sandbox's plans first, as every item delete does, or it deadlocks with a job."""
    world = pg_world
    with db.engine.connect() as job:
        _begin(job)
        job.execute(
            insert(ProgressUpdate.__table__).values(
                _history(ProgressUpdate.__table__, world.sandbox_item, world.acme, SANDBOX)
            )
        )
        resetter = InThread(db.engine, lambda c: reset_sandbox(c, world.acme))
        resetter.wait_for_lock(db.engine)
        _job_update(job, world.sandbox_item)
        job.commit()
    resetter.join()
    assert resetter.error is None, str(resetter.error)
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(ITEMS.c.id == world.sandbox_item)) == 0


def test_a_user_delete_during_a_job_waits_for_it_without_a_deadlock(db, pg_world):
    """The deleted user owns the job's plan and last updated the job's item: the delete sets
    both to NULL. It must wait for the job at the plan before it touches the progress row."""
    world = pg_world
    with db.engine.begin() as connection:
        connection.execute(
            update(Plan.__table__).where(Plan.id == world.plan).values(owner_id=world.author)
        )
        connection.execute(
            update(ITEM_PROGRESS)
            .where(ITEM_PROGRESS.c.item_id == world.x)
            .values(last_progress_user_id=world.author)
        )
    with db.engine.connect() as job:
        _begin(job)
        job.execute(
            insert(ProgressUpdate.__table__).values(
                _history(ProgressUpdate.__table__, world.x, world.acme)
            )
        )
        deleter = InThread(
            db.engine, lambda c: c.execute(delete(User).where(User.id == world.author))
        )
        deleter.wait_for_lock(db.engine)
        _job_update(job, world.x)
        job.commit()
    deleter.join()
    assert deleter.error is None
    with db.engine.connect() as connection:
        assert connection.scalar(select(Plan.owner_id).where(Plan.id == world.plan)) is None


def test_an_item_moved_during_a_history_insert_is_held_in_its_new_plan(db, pg_world, make_tenant):
    """The insert first finds the item in its old plan, waits for the move to commit, and must
    then hold the item's new plan: a delete of the item afterwards waits for the insert and
    takes its rows, leaving no history row behind."""
    world = pg_world
    with db.engine.begin() as connection:
        new_plan = connection.execute(
            insert(Plan.__table__)
            .values(
                organisation_id=world.acme,
                environment=LIVE,
                public_id="moved-to",
                name="Moved to",
            )
            .returning(Plan.__table__.c.id)
        ).scalar_one()
    with db.engine.connect() as mover:
        _begin(mover)
        mover.execute(update(ITEMS).where(ITEMS.c.id == world.x).values(plan_id=new_plan))

        def insert_history(connection: Connection) -> None:
            connection.execute(
                insert(ProgressUpdate.__table__).values(
                    _history(ProgressUpdate.__table__, world.x, world.acme)
                )
            )
            time.sleep(0.5)  # keep the insert open while the delete arrives

        inserter = InThread(db.engine, insert_history)
        inserter.wait_for_lock(db.engine)  # the old plan, which the move updated
        mover.commit()
    time.sleep(0.1)  # the insert takes its locks and sleeps, still open
    with db.engine.connect() as deleter:
        _begin(deleter)
        _delete_item_core(deleter, world.x)
        deleter.commit()
    inserter.join()
    assert inserter.error is None
    assert _items_with_history(db) == [set(), set()]


def test_deletes_outside_read_committed_are_refused(db, pg_world):
    """Under REPEATABLE READ a delete that waited for a history insert would miss its rows
    (the old snapshot): the delete triggers refuse it, with SQLSTATE 55000."""
    world = pg_world
    for statement in (
        delete(ITEMS).where(ITEMS.c.id == world.x),
        delete(User).where(User.id == world.author),
    ):
        with db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with pytest.raises(DBAPIError) as refused:
                connection.execute(statement)
            assert refused.value.orig.sqlstate == "55000"  # type: ignore[union-attr]
            assert "READ COMMITTED" in str(refused.value)
            connection.rollback()
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(ITEMS.c.id == world.x)) == 1


def test_a_history_insert_waits_for_an_open_item_delete_and_then_fails(db, pg_world):
    world = pg_world
    with db.engine.connect() as deleter:
        _begin(deleter)
        deleter.execute(delete(ITEMS).where(ITEMS.c.id == world.x))

        def insert_history(connection: Connection) -> None:
            connection.execute(
                insert(ProgressUpdate.__table__).values(
                    _history(ProgressUpdate.__table__, world.x, world.acme)
                )
            )

        inserter = InThread(db.engine, insert_history)
        inserter.wait_for_lock(db.engine)
        deleter.commit()
    inserter.join()
    assert isinstance(inserter.error, IntegrityError)
    assert inserter.error.orig.sqlstate == "23503"  # type: ignore[union-attr]
    assert _items_with_history(db) == [set(), set()]


def test_a_user_delete_waits_for_an_open_history_insert_and_then_clears_its_rows(db, pg_world):
    world = pg_world
    with db.engine.connect() as inserter:
        _begin(inserter)
        for table in HISTORY:
            inserter.execute(
                insert(table).values(_history(table, world.x, world.acme, author_id=world.author))
            )
        deleter = InThread(
            db.engine, lambda c: c.execute(delete(User).where(User.id == world.author))
        )
        deleter.wait_for_lock(db.engine)
        inserter.commit()
    deleter.join()
    assert deleter.error is None
    for table in HISTORY:
        assert _rows(db.engine, table) == [(world.x, world.acme, LIVE, None)]


# The migration, both ways, with data.

TRIGGERS = {
    ("progress_updates", "progress_updates_references_checked"),
    ("progress_updates", "progress_updates_references_rechecked"),
    ("metric_updates", "metric_updates_references_checked"),
    ("metric_updates", "metric_updates_references_rechecked"),
    ("plan_items", "plan_items_history_deleted"),
    ("users", "users_history_authors_cleared"),
    ("plan_items", "plan_items_delete_locks_plan"),
    ("users", "users_delete_locks_plans"),
}


def _foreign_keys(engine: Engine) -> set[tuple[Any, ...]]:
    """The history tables' foreign keys: (table, name, columns, referred table, ON DELETE)."""
    inspector = inspect(engine)
    return {
        (
            table.name,
            key["name"],
            tuple(key["constrained_columns"]),
            key["referred_table"],
            tuple(key["referred_columns"]),
            key["options"].get("ondelete"),
        )
        for table in HISTORY
        for key in inspector.get_foreign_keys(table.name)
    }


FOREIGN_KEYS = {
    (
        table,
        f"fk_{table}_item_id_plan_items",
        ("item_id", "organisation_id", "environment"),
        "plan_items",
        ("id", "organisation_id", "environment"),
        "CASCADE",
    )
    for table in ("progress_updates", "metric_updates")
} | {
    (table, f"fk_{table}_author_id_users", ("author_id",), "users", ("id",), "SET NULL")
    for table in ("progress_updates", "metric_updates")
}


FUNCTIONS = {
    "planfeed_history_references_checked",
    "planfeed_history_references_rechecked",
    "planfeed_plan_items_history_deleted",
    "planfeed_users_history_authors_cleared",
    "planfeed_plan_items_delete_locks_plan",
    "planfeed_users_delete_locks_plans",
}


def _schema_objects(engine: Engine) -> tuple[set[tuple[Any, ...]], set[Any]]:
    """The history tables' foreign keys, and the triggers and functions of migration 0009
    (PostgreSQL; in this engine's own schema)."""
    keys = _foreign_keys(engine)
    if engine.dialect.name == "sqlite":  # SQLite reflects no constraint names
        return {(table, None, *rest) for table, _name, *rest in keys}, set()
    with engine.connect() as connection:
        triggers = connection.execute(
            text(
                "SELECT relname, tgname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
                "WHERE NOT tgisinternal AND relnamespace = current_schema()::regnamespace "
                "AND tgname NOT LIKE 'plan_items_counted%' AND tgname <> 'plan_items_reordered'"
            )
        ).all()
        functions = connection.execute(
            text(
                "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
                "AND proname LIKE 'planfeed%' AND proname NOT LIKE 'planfeed_plan_items_counted%' "
                "AND proname <> 'planfeed_plan_items_reordered'"
            )
        ).scalars()
        return keys, {tuple(row) for row in triggers} | set(functions)


def _data_at_0008(engine: Engine) -> dict[str, int]:
    """An organisation, its user, a plan of two items and history of both (0008's schema)."""
    with engine.begin() as connection:
        organisation = connection.execute(
            insert(Tenant.__table__)
            .values(name="acme", display_name="Acme")
            .returning(Tenant.__table__.c.id)
        ).scalar_one()
        scope = {"organisation_id": organisation, "environment": LIVE}
        user = connection.execute(
            insert(User.__table__)
            .values(login="ada", email="ada@acme.example", **scope)
            .returning(User.__table__.c.id)
        ).scalar_one()
        plan = connection.execute(
            insert(Plan.__table__).values(name="Plan", **scope).returning(Plan.__table__.c.id)
        ).scalar_one()
        x, y = insert_item_rows(connection, [_item(plan, organisation, LIVE, n) for n in (1, 2)])
        for table in HISTORY:
            connection.execute(
                insert(table).values(
                    [_history(table, item, organisation, author_id=user) for item in (x, y)]
                )
            )
    return {"organisation": organisation, "user": user, "x": x, "y": y}


def test_the_migration_keeps_the_history_both_ways(blank_engine):
    """0009 up, down to 0008 and up again, with history in place: every row is kept; on
    PostgreSQL the foreign keys give way to the triggers and come back on the downgrade."""
    engine = blank_engine
    postgresql = engine.dialect.name == "postgresql"
    upgrade(engine, "0008")
    at_0008 = _schema_objects(engine)
    assert at_0008[0] == (
        FOREIGN_KEYS if postgresql else {(t, None, *rest) for t, _n, *rest in FOREIGN_KEYS}
    )
    assert at_0008[1] == set()
    ids = _data_at_0008(engine)
    kept = [(item, ids["organisation"], LIVE, ids["user"]) for item in (ids["x"], ids["y"])]

    upgrade(engine)
    assert _schema_objects(engine) == ((set(), TRIGGERS | FUNCTIONS) if postgresql else at_0008)
    for table in HISTORY:
        assert _rows(engine, table) == kept

    downgrade(engine, "0008")
    assert _schema_objects(engine) == at_0008
    for table in HISTORY:
        assert _rows(engine, table) == kept
    with engine.begin() as connection:  # the foreign keys work again: the cascade
        connection.execute(delete(ITEMS).where(ITEMS.c.id == ids["y"]))
    for table in HISTORY:
        assert _rows(engine, table) == kept[:1]

    upgrade(engine)
    assert _schema_objects(engine) == ((set(), TRIGGERS | FUNCTIONS) if postgresql else at_0008)
    for table in HISTORY:
        assert _rows(engine, table) == kept[:1]
    with engine.begin() as connection:  # the triggers work again: SET NULL
        connection.execute(delete(User).where(User.id == ids["user"]))
    for table in HISTORY:
        assert _rows(engine, table) == [(ids["x"], ids["organisation"], LIVE, None)]


def test_postgresql_connections_read_committed_whatever_the_server_default(db):
    """The reference triggers need a fresh snapshot per statement: planfeed's engine asks for
    READ COMMITTED itself, even where the server's default is another level."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's isolation levels")
    from planfeed.db.engine import make_engine

    url = db.engine.url.render_as_string(hide_password=False)
    options = "-c default_transaction_isolation=repeatable\\ read"
    engine = make_engine(url, connect_args={"options": options})
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW default_transaction_isolation").scalar() == (
                "repeatable read"
            )
            level = connection.exec_driver_sql("SHOW transaction_isolation").scalar()
        assert level == "read committed"
    finally:
        engine.dispose()
