"""``planfeed``: migrate, serve, and administer organisations, users, keys and sandboxes;
and, as a client of a planfeed server, login, push, export and status (client_commands.py).

Exit codes: 0 success; 1 an operation failed (the message says why); 2 bad usage or input;
the client commands add 3 (credentials refused or not permitted) and 4 (server unreachable).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from planfeed.accounts.models import Role
from planfeed.accounts.service import (
    AccountError,
    create_api_key,
    create_organisation,
    create_user,
    find_user,
    get_organisation,
    list_api_keys,
    set_api_key_enabled,
)
from planfeed.auth.principal import Principal, system_principal
from planfeed.cli import client_commands
from planfeed.config import DEFAULT_SECRET, ConfigError, Settings
from planfeed.db import migrate as migrations
from planfeed.db.base import Environment
from planfeed.db.engine import make_engine, make_sessionmaker
from planfeed.db.sandbox import reset_sandbox
from planfeed.db.scope import bind_scope

app = typer.Typer(
    name="planfeed",
    help="planfeed: self-hosted plan tracking with AchieveIt- and accessplanit-compatible APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Organisations (platforms).", no_args_is_help=True)
user_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox environment.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="key")
app.add_typer(sandbox_app, name="sandbox")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (SQLite database, demo credentials).",
        envvar="PLANFEED_DATA_DIR",
    ),
]
OrgOption = Annotated[str, typer.Option("--org", help="Organisation (platform) name.")]
EnvOption = Annotated[Environment, typer.Option("--environment", "-e", help="live or sandbox.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def load_settings(data_dir: Path | None, **overrides: Any) -> Settings:
    values = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    try:
        return Settings(**values)
    except ValueError as exc:
        raise fail(f"bad configuration: {exc}", 2) from exc


def ensure_secret(settings: Settings) -> Settings:
    """In demo mode a missing secret is generated once and kept in the data directory."""
    if settings.demo and settings.secret_key == DEFAULT_SECRET:
        path = settings.data_dir / "secret.key"
        if not path.is_file():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        settings = settings.model_copy(update={"secret_key": path.read_text("utf-8").strip()})
    try:
        settings.check_secret()
    except ConfigError as exc:
        raise fail(str(exc), 2) from exc
    return settings


def open_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.effective_database_url)
    try:
        migrations.check_current(engine)
    except migrations.SchemaNotCurrent as exc:
        raise fail(str(exc)) from exc
    return engine


def scoped_session(engine: Engine, org: str, environment: Environment) -> tuple[Session, Principal]:
    session = make_sessionmaker(engine, writer=True)()
    organisation = get_organisation(session, org)
    if organisation is None:
        session.close()
        raise fail(f"no organisation named {org!r}; create it with `planfeed org create {org}`")
    actor = system_principal(organisation.id, organisation.name, environment)
    session.rollback()  # end the look-up's transaction; the caller begins its own
    bind_scope(session, actor.scope)
    return session, actor


@app.command()
def migrate(data_dir: DataDirOption = None) -> None:
    """Apply the database migrations (SQLite in the data dir, or PLANFEED_DATABASE_URL)."""
    settings = load_settings(data_dir)
    engine = make_engine(settings.effective_database_url)
    before = migrations.current_revision(engine)
    migrations.upgrade(engine)
    after = migrations.current_revision(engine)
    console.print(f"schema at {after} (was {before or 'empty'})")


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo organisation.")] = False,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Refuse to start unless already migrated.")
    ] = False,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run an in-process batch worker (default: PLANFEED_RUN_WORKER, else on).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the HTTP server (migrating the database first unless --no-migrate)."""
    import uvicorn

    from planfeed.http.app import create_app

    settings = ensure_secret(load_settings(data_dir, demo=demo or None, run_worker=worker))
    engine = make_engine(settings.effective_database_url)
    if no_migrate:
        try:
            migrations.check_current(engine)
        except migrations.SchemaNotCurrent as exc:
            raise fail(str(exc)) from exc
    else:
        migrations.upgrade(engine)
    scheme = "https" if ssl_certfile else "http"
    url = f"{scheme}://{host}:{port}"
    if settings.demo:
        from planfeed.demo import load_demo

        credentials = load_demo(engine, settings.secret_key, settings.data_dir)
        console.print("[bold]planfeed demo[/]")
        console.print(f"  platform         {credentials.platform}")
        console.print(f"  user / password  {credentials.username} / {credentials.password}")
        console.print(f"  live API key     {credentials.api_key}")
        console.print(f"  sandbox API key  {credentials.sandbox_api_key}")
        console.print(f"  plan id          {credentials.plan_id}")
        console.print(f"  saved in         {settings.data_dir / 'demo-credentials.json'}")
        typer.echo(
            f"  try: curl -H 'Authorization: API-KEY {credentials.api_key}' {url}/api/whoami"
        )
    console.print(f"planfeed listening on {url}", highlight=False)
    sys.stdout.flush()
    # planfeed's own loggers (the in-process worker's job lines) at the server's log level;
    # uvicorn configures only its own.
    _configure_logging(settings.log_level)
    application = create_app(settings, engine=engine)
    uvicorn.run(
        application,
        host=host,
        port=port,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level=settings.log_level,
        proxy_headers=False,
    )


def _configure_logging(level: str) -> None:
    """planfeed's own loggers (the worker's job lines) at the configured level, on stderr;
    uvicorn configures its own, and other libraries keep Python's defaults."""
    logger = logging.getLogger("planfeed")
    logger.setLevel(logging.DEBUG if level == "trace" else level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


@app.command()
def worker(data_dir: DataDirOption = None) -> None:
    """Run a standalone batch worker (start several, on several machines, on one PostgreSQL)."""
    import signal

    from planfeed.jobs.worker import Worker

    settings = load_settings(data_dir)
    _configure_logging(settings.log_level)
    loop = Worker(open_engine(settings), max_rows=settings.max_batch_rows)
    signal.signal(signal.SIGTERM, lambda *_: loop.stopping.set())
    console.print(f"worker {loop.worker_id} polling for jobs")
    try:
        loop.run()
    except KeyboardInterrupt:
        loop.stopping.set()


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="Short name; also the subdomain.")],
    display_name: Annotated[str | None, typer.Option(help="Human-readable name.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an organisation with empty live and sandbox environments."""
    engine = open_engine(load_settings(data_dir))
    with make_sessionmaker(engine, writer=True).begin() as session:
        try:
            organisation = create_organisation(session, name, display_name)
        except AccountError as exc:
            raise fail(exc.message, 2) from exc
        console.print(f"created organisation {organisation.name} (id {organisation.id})")


@user_app.command("create")
def user_create(
    org: OrgOption,
    login: Annotated[str, typer.Option(help="User ID used to sign in.")],
    email: Annotated[str, typer.Option(help="Email address.")],
    role: Annotated[Role, typer.Option(help="SuperAdmin, Admin or User.")] = Role.USER,
    forenames: Annotated[str, typer.Option()] = "",
    surname: Annotated[str, typer.Option()] = "",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (prompted without echo when omitted).", envvar="PLANFEED_NEW_PASSWORD"
        ),
    ] = None,
    environment: EnvOption = Environment.LIVE,
    data_dir: DataDirOption = None,
) -> None:
    """Create a user in one environment of an organisation."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = open_engine(load_settings(data_dir))
    session, actor = scoped_session(engine, org, environment)
    with session, session.begin():
        try:
            user = create_user(
                session,
                actor,
                login=login,
                email=email,
                password=password,
                role=role,
                forenames=forenames,
                surname=surname,
            )
        except AccountError as exc:
            raise fail(exc.message, 2) from exc
        console.print(f"created {role.value} {user.login} in {org}/{environment.value}")


@key_app.command("create")
def key_create(
    org: OrgOption,
    user: Annotated[str, typer.Option(help="User ID the key acts for.")],
    label: Annotated[str, typer.Option(help="What the key is for, e.g. 'Finance - Xero'.")],
    environment: EnvOption = Environment.LIVE,
    expires: Annotated[
        dt.datetime | None, typer.Option(help="Expiry date (YYYY-MM-DD).", formats=["%Y-%m-%d"])
    ] = None,
    ip: Annotated[
        list[str] | None, typer.Option(help="Allowed address or CIDR; repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create an API key and print it once."""
    settings = ensure_secret(load_settings(data_dir))
    engine = open_engine(settings)
    session, actor = scoped_session(engine, org, environment)
    with session, session.begin():
        owner = find_user(session, user)
        if owner is None:
            raise fail(f"no user {user!r} in {org}/{environment.value}", 2)
        try:
            key, plaintext = create_api_key(
                session,
                actor,
                settings.secret_key,
                user=owner,
                label=label,
                environment=environment,
                expires_on=expires.date() if expires else None,
                ip_allowlist=ip or [],
            )
        except AccountError as exc:
            raise fail(exc.message, 2) from exc
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": key.id,
                        "key": plaintext,
                        "prefix": key.prefix,
                        "label": key.label,
                        "user": owner.login,
                        "environment": environment.value,
                    }
                )
            )
        else:
            console.print(f"API key {key.id} for {owner.login} ({environment.value}):")
            typer.echo(plaintext)
            err_console.print("Copy it now: it will not be shown again.")


@key_app.command("list")
def key_list(
    org: OrgOption,
    environment: EnvOption = Environment.LIVE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """List API keys (never the keys themselves: only their visible prefixes)."""
    engine = open_engine(load_settings(data_dir))
    session, _actor = scoped_session(engine, org, environment)
    with session:
        rows = [
            {
                "id": k.id,
                "label": k.label,
                "user": k.user.login,
                "prefix": k.prefix,
                "enabled": k.enabled,
                "expires": k.expires_on.isoformat() if k.expires_on else None,
                "ip_whitelist": k.ip_allowlist,
                "last_used": k.last_used_at.isoformat() if k.last_used_at else None,
            }
            for k in list_api_keys(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(
        "id", "label", "user", "prefix", "enabled", "expires", "ip whitelist", "last used"
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["label"],
            row["user"],
            row["prefix"] + "…",
            "yes" if row["enabled"] else "no",
            row["expires"] or "-",
            ", ".join(row["ip_whitelist"]) or "any",
            row["last_used"] or "never",
        )
    console.print(table)


def _set_enabled(
    org: str, key_id: int, environment: Environment, data_dir: Path | None, enabled: bool
) -> None:
    engine = open_engine(load_settings(data_dir))
    session, actor = scoped_session(engine, org, environment)
    with session, session.begin():
        try:
            key = set_api_key_enabled(session, actor, key_id, enabled)
        except AccountError as exc:
            raise fail(exc.message, 2) from exc
        console.print(f"key {key.id} ({key.label}) {'enabled' if enabled else 'disabled'}")


@key_app.command("disable")
def key_disable(
    key_id: int,
    org: OrgOption,
    environment: EnvOption = Environment.LIVE,
    data_dir: DataDirOption = None,
) -> None:
    """Disable a key; it stops working at once."""
    _set_enabled(org, key_id, environment, data_dir, enabled=False)


@key_app.command("enable")
def key_enable(
    key_id: int,
    org: OrgOption,
    environment: EnvOption = Environment.LIVE,
    data_dir: DataDirOption = None,
) -> None:
    """Enable a disabled key."""
    _set_enabled(org, key_id, environment, data_dir, enabled=True)


@sandbox_app.command("reset")
def sandbox_reset(
    org: OrgOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Replace the sandbox with a copy of the live data (sandbox keys and jobs are removed)."""
    engine = open_engine(load_settings(data_dir))
    with make_sessionmaker(engine)() as session:
        organisation = get_organisation(session, org)
    if organisation is None:
        raise fail(f"no organisation named {org!r}")
    if not yes:
        typer.confirm(f"Replace {org}'s sandbox with a copy of live?", abort=True)
    with engine.begin() as connection:
        copied = reset_sandbox(connection, organisation.id)
    console.print(f"sandbox of {org} reset: {sum(copied.values())} rows copied from live")


client_commands.register(app)

if __name__ == "__main__":
    app()


field_app = typer.Typer(help="Custom CF_… fields of feeds modules.", no_args_is_help=True)
app.add_typer(field_app, name="field")


@field_app.command("add")
def field_add(
    org: OrgOption,
    module: Annotated[str, typer.Option(help="Feeds module, e.g. coursedate.")],
    name: Annotated[str, typer.Option(help="Field name, starting with CF_.")],
    data_type: Annotated[
        str, typer.Option("--type", help="string, integer, decimal, boolean, date or datetime.")
    ],
    label: Annotated[str, typer.Option(help="What the field means, shown in module help.")],
    max_length: Annotated[int | None, typer.Option(help="Maximum length (strings).")] = None,
    environment: EnvOption = Environment.LIVE,
    data_dir: DataDirOption = None,
) -> None:
    """Add a custom field to a module; it is queryable and writable through the feeds."""
    from planfeed.feeds.custom import CustomFieldError, define_custom_field

    engine = open_engine(load_settings(data_dir))
    session, actor = scoped_session(engine, org, environment)
    with session, session.begin():
        try:
            definition = define_custom_field(
                session,
                actor,
                module=module,
                name=name,
                data_type=data_type,
                label=label,
                max_length=max_length,
            )
        except CustomFieldError as exc:
            raise fail(str(exc), 2) from exc
        console.print(
            f"added {definition.name} ({definition.data_type}) to {definition.module} "
            f"in {org}/{environment.value}"
        )
