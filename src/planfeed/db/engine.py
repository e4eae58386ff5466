"""Engines and session factories for SQLite (WAL, foreign keys) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

WRITE_OPTION = "planfeed_writer"


BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    """Hand transaction control to SQLAlchemy (pysqlite's own BEGIN handling is unreliable)."""
    dbapi_connection.isolation_level = None
    _sqlite_pragmas(dbapi_connection, record)


def _sqlite_begin(conn: Any) -> None:
    """Writers take the lock at BEGIN, so concurrent writers queue instead of failing.

    A deferred transaction that reads and then writes cannot wait for the lock in WAL mode
    (its snapshot is stale), which would turn a race into an error; readers stay deferred.
    """
    writer = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def make_engine(url: str, *, pool_size: int = 5, **kwargs: Any) -> Engine:
    """Build an engine for ``url`` with the per-dialect settings planfeed relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Pooled: opening a connection and running the PRAGMAs below costs about a millisecond,
        # more than a small request's queries. No overflow limit, so a burst of requests never
        # waits for a connection; connections beyond ``pool_size`` are closed when returned.
        in_memory = not parsed.database or parsed.database == ":memory:"
        if "poolclass" not in kwargs and not in_memory:  # memory: SQLAlchemy's one-per-thread
            kwargs.setdefault("poolclass", QueuePool)
            kwargs.setdefault("pool_size", pool_size)
            kwargs.setdefault("max_overflow", -1)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30}
            | kwargs.pop("connect_args", {}),
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # Whatever the server's default: the history tables' reference triggers (migration
        # 0009) rely on each statement of a trigger taking a fresh snapshot.
        kwargs.setdefault("isolation_level", "READ COMMITTED")
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine, *, writer: bool = False) -> sessionmaker[Session]:
    """Sessions never expire on commit: objects stay readable after the request commits.

    ``writer`` sessions take SQLite's write lock at BEGIN (see :func:`_sqlite_begin`);
    on PostgreSQL the option has no effect.
    """
    bind = engine.execution_options(**{WRITE_OPTION: True}) if writer else engine
    return sessionmaker(bind, expire_on_commit=False)


def writer(engine: Engine) -> Engine:
    """The same engine, with transactions that take SQLite's write lock at BEGIN."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def without_lock_wait(engine: Engine) -> Iterator[Connection]:
    """A connection whose writes fail at once ("database is locked") instead of waiting for
    SQLite's write lock, for advisory writes: a batch job holds that lock for as long as it
    runs, and a request must not wait for the job. Elsewhere a plain connection."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            yield connection
            return
        driver: Any = connection.connection.driver_connection
        driver.execute("PRAGMA busy_timeout=0")
        try:
            yield connection.execution_options(**{WRITE_OPTION: True})
        finally:
            # The connection goes back to the pool: it must wait for the lock again, or be
            # discarded (the pool opens a new one, with every PRAGMA, when it is needed).
            if not connection.invalidated:
                try:
                    driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                except Exception:
                    connection.invalidate()
