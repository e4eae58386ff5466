"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``PLANFEED_TEST_DATABASE_URL``. Each test run migrates a schema of its
own (so parallel runs on one server never meet); each test starts from empty tables.
Without the URL the PostgreSQL variants skip with a visible reason, except under CI=true,
where the run fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from planfeed.accounts.models import Role, User
from planfeed.accounts.service import create_api_key, create_organisation, create_user
from planfeed.auth.principal import Principal, system_principal
from planfeed.cli.main import app as cli_app
from planfeed.config import Settings
from planfeed.db.base import Base, Environment
from planfeed.db.engine import make_engine, make_sessionmaker
from planfeed.db.migrate import upgrade
from planfeed.db.scope import bind_scope
from support import TEST_SECRET

PG_ENV = "PLANFEED_TEST_DATABASE_URL"


def _pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
    return url


@pytest.fixture(scope="session")
def _pg_schema_url() -> Iterator[str | None]:
    base = _pg_base_url()
    if not base:
        yield None
        return
    schema = f"pftest_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(plain, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@dataclass
class Database:
    """One migrated database; ``url`` is what a subprocess would put in PLANFEED_DATABASE_URL."""

    backend: str
    url: str
    engine: Engine

    def clean(self) -> None:
        tables = [table.name for table in Base.metadata.sorted_tables]
        if self.backend == "postgresql":
            with self.engine.begin() as connection:
                names = ", ".join(f'"{name}"' for name in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        raw = self.engine.raw_connection()  # outside a transaction, so the PRAGMA applies
        try:
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("BEGIN")
            for name in reversed(tables):
                raw.execute(f'DELETE FROM "{name}"')
            raw.execute("COMMIT")
            raw.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()


_databases: dict[str, Database] = {}


def _database(backend: str, tmp_root: Path, pg_url: str | None) -> Database:
    if backend in _databases:
        return _databases[backend]
    if backend == "postgresql":
        if pg_url is None:
            pytest.skip(
                f"PostgreSQL variant skipped: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
            )
        url = pg_url
        engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    else:
        url = f"sqlite:///{tmp_root / 'planfeed-test.db'}"
        engine = make_engine(url)
    upgrade(engine)
    _databases[backend] = Database(backend, url, engine)
    return _databases[backend]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _pg_schema_url: str | None,
) -> Iterator[Database]:
    """A migrated database with empty tables, on each backend."""
    database = _database(request.param, tmp_path_factory.getbasetemp(), _pg_schema_url)
    database.clean()
    yield database
    database.clean()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(
    request: pytest.FixtureRequest, tmp_path: Path, _pg_schema_url: str | None
) -> Iterator[Engine]:
    """An engine on an empty, unmigrated database of its own (for migration tests), on each
    backend: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    base = _pg_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL variant skipped: set {PG_ENV}")
    schema = f"pfblank_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url, data_dir=tmp_path, secret_key=TEST_SECRET, run_worker=False
    )


@dataclass
class Tenant:
    """An organisation with a SuperAdmin in each environment and helpers to make more."""

    db: Database
    organisation_id: int
    name: str

    def principal(self, environment: Environment = Environment.LIVE) -> Principal:
        return system_principal(self.organisation_id, self.name, environment)

    def session(self, environment: Environment = Environment.LIVE) -> Session:
        session = make_sessionmaker(self.db.engine, writer=True)()
        return bind_scope(session, self.principal(environment).scope)

    def user(
        self,
        login: str,
        role: Role = Role.USER,
        environment: Environment = Environment.LIVE,
        password: str | None = "correct horse battery staple",
    ) -> User:
        with self.session(environment) as session, session.begin():
            return create_user(
                session,
                self.principal(environment),
                login=login,
                email=f"{login}@{self.name}.example",
                password=password,
                role=role,
            )

    def key(
        self, login: str, environment: Environment = Environment.LIVE, **options: object
    ) -> str:
        with self.session(environment) as session, session.begin():
            user = session.query(User).filter(User.login == login).one()
            return create_api_key(
                session,
                self.principal(environment),
                TEST_SECRET,
                user=user,
                label=options.pop("label", "test key"),  # type: ignore[arg-type]
                environment=environment,
                **options,
            )[1]  # type: ignore[arg-type]


@pytest.fixture
def make_tenant(db: Database):
    def make(name: str) -> Tenant:
        factory = make_sessionmaker(db.engine, writer=True)
        with factory.begin() as session:
            organisation = create_organisation(session, name)
            return Tenant(db, organisation.id, organisation.name)

    return make


@pytest.fixture
def app(settings: Settings, db: Database):
    from planfeed.http.app import create_app

    return create_app(settings, engine=db.engine)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, client=("127.0.0.1", 50000)) as test_client:
        yield test_client


@pytest.fixture
def start_server(db: Database, tmp_path: Path):
    """Start real ``planfeed serve`` processes on ``db``; all are stopped after the test.

    ``start_server(worker=False)`` runs one without its in-process worker (through
    PLANFEED_RUN_WORKER, as an operator would). Returns a started ``ServerProcess``.
    """
    from live_server import ServerProcess

    started: list[ServerProcess] = []

    def start(*, worker: bool = True, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(db.url, tmp_path / f"server-{len(started)}", worker=worker, env=env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def admin_cli(db, tmp_path, monkeypatch):
    """The `planfeed` admin commands against the test database, via typer's runner."""
    monkeypatch.setenv("PLANFEED_DATABASE_URL", db.url)
    monkeypatch.setenv("PLANFEED_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PLANFEED_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None):
        result = runner.invoke(cli_app, list(args), input=input)
        assert result.exit_code == code, result.output
        return result

    return run
