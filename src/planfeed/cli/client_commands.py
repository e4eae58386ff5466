"""Client subcommands of ``planfeed``: login, push, export, status, feed, whoami.

They talk to a planfeed server over HTTP with :class:`planfeed.client.Client`, using a named
profile (``planfeed login``) or ``PLANFEED_URL`` and ``PLANFEED_API_KEY``.

Exit codes: 0 success; 1 the operation failed (file rejected, job failed, not found, server
error); 2 bad input or usage (missing file, no profile, refused parameter, wrong environment);
3 the server refused the credentials or the user lacks permission; 4 the server could not be
reached or did not answer in time (including ``--timeout`` while waiting for a job).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from planfeed.cli import profiles
from planfeed.client import (
    AuthenticationError,
    BatchKind,
    BatchRejected,
    Client,
    ConfigurationError,
    ConnectionFailed,
    EnvironmentMismatch,
    JobFailed,
    JobResult,
    NotFoundError,
    PermissionDeniedError,
    PlanfeedError,
    PlanItem,
    RowError,
    ValidationError,
    ValidationReport,
    WaitTimeout,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile from `planfeed login` (default: 'default').",
        envvar="PLANFEED_PROFILE",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


class EnvironmentName(enum.StrEnum):
    live = "live"
    sandbox = "sandbox"


class ExportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class KindName(enum.StrEnum):
    progress = "progress"
    metric = "metric"


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _environment_hint(exc: ConfigurationError, *, login: bool = False) -> str:
    if not isinstance(exc, EnvironmentMismatch):
        return exc.message
    env = exc.key_environment
    if login:
        return f"the key is a {env} key; use --environment {env}"
    return (
        f"the key is a {env} key; use --environment {env} (planfeed login), "
        f"or set PLANFEED_ENVIRONMENT={env}"
    )


def _exit_for(exc: PlanfeedError) -> typer.Exit:
    """One place that turns a client error into a message naming the fix, and an exit code."""
    if isinstance(exc, ConfigurationError):
        return _fail(_environment_hint(exc), EXIT_BAD_INPUT)
    if isinstance(exc, AuthenticationError):
        return _fail(
            f"the server refused the credentials ({exc.code}): {exc.message}; "
            "store a working key with `planfeed login`",
            EXIT_AUTH,
        )
    if isinstance(exc, PermissionDeniedError):
        return _fail(
            f"not permitted: {exc.message}; use the key of a user with access, "
            "or ask an administrator to grant it",
            EXIT_AUTH,
        )
    if isinstance(exc, ValidationError):
        detail = "; ".join(e.describe() for e in exc.field_errors)
        return _fail(f"the server refused the request: {detail or exc.message}", EXIT_BAD_INPUT)
    if isinstance(exc, ConnectionFailed | WaitTimeout):
        return _fail(exc.message, EXIT_UNREACHABLE)
    return _fail(str(exc), EXIT_FAILED)


@contextmanager
def _client(profile_name: str | None) -> Iterator[Client]:
    try:
        profile = profiles.resolve(profile_name)
    except profiles.ProfileError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from exc
    try:
        client = Client(
            profile.url,
            api_key=profile.api_key,
            environment=profile.environment,  # type: ignore[arg-type]
        )
    except PlanfeedError as exc:
        raise _exit_for(exc) from exc
    with client:
        try:
            yield client
        except PlanfeedError as exc:
            raise _exit_for(exc) from exc


# -- login -----------------------------------------------------------------------------------


def login(
    url: Annotated[
        str | None, typer.Option("--url", help="Server URL, e.g. https://planfeed.example.")
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option("--platform", help="Organisation (platform) name; checked against the key."),
    ] = None,
    environment: Annotated[
        EnvironmentName, typer.Option("--environment", "-e", help="live or sandbox.")
    ] = EnvironmentName.live,
    profile: ProfileOption = None,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the key with the server first.")
    ] = True,
) -> None:
    """Store a profile: URL, platform, environment and API key (read without echo).

    The profile file is readable by you only; the key is checked with the server first.
    """
    if url is None:
        url = typer.prompt("Server URL")
    key = typer.prompt("API key", hide_input=True).strip()
    if not key:
        raise _fail("no key given; paste the API key at the prompt", EXIT_BAD_INPUT)
    name = profile or profiles.DEFAULT_PROFILE
    try:
        client = Client(url, api_key=key, environment=environment.value)
    except ConfigurationError as exc:
        raise _fail(_environment_hint(exc, login=True), EXIT_BAD_INPUT) from exc
    if verify:
        with client:
            try:
                me = client.whoami()
            except PlanfeedError as exc:
                raise _exit_for(exc) from exc
        if me.environment != environment.value:
            raise _fail(
                f"the key is a {me.environment} key; use --environment {me.environment}",
                EXIT_BAD_INPUT,
            )
        if platform and platform.lower() != me.organisation.lower():
            raise _fail(
                f"the key belongs to platform {me.organisation!r}, not {platform!r}; "
                f"use --platform {me.organisation}",
                EXIT_BAD_INPUT,
            )
        platform = me.organisation
        who = f" as {me.user} ({me.role}) on {me.organisation}/{me.environment}"
    else:
        client.close()
        who = ""
    path = profiles.save_profile(
        name,
        profiles.Profile(
            url=url.rstrip("/"), api_key=key, environment=environment.value, platform=platform
        ),
    )
    out.print(f"saved profile {name!r}{who} in {path}")


def whoami(profile: ProfileOption = None, as_json: JsonOption = False) -> None:
    """Show whom the profile's key belongs to."""
    with _client(profile) as client:
        me = client.whoami()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "organisation": me.organisation,
                    "environment": me.environment,
                    "user": me.user,
                    "role": me.role,
                    "url": client.base_url,
                }
            )
        )
        return
    out.print(f"{me.user} ({me.role}) on {me.organisation}/{me.environment} at {client.base_url}")


# -- push and status ---------------------------------------------------------------------------


def _row_errors_table(errors: tuple[RowError, ...]) -> Table:
    table = Table("row", "column", "value", "message", title="Row errors")
    for error in errors:
        table.add_row(
            "" if error.row is None else str(error.row),
            error.column or "",
            error.value or "",
            error.message,
        )
    return table


def _read_source(file: str) -> tuple[bytes | str, str | None]:
    if file == "-":
        return sys.stdin.buffer.read(), "stdin.csv"
    return file, None


def _describe(result: JobResult, elapsed: float | None = None) -> str:
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    return f"job {result.job_id} {result.state.value}{took}: {result.message}"


def _push(
    kind: BatchKind,
    file: str,
    wait: bool,
    dry_run: bool,
    as_json: bool,
    timeout: float,
    profile: str | None,
) -> None:
    source, filename = _read_source(file)
    with _client(profile) as client:
        if dry_run:
            try:
                report = client.validate(kind, source, filename=filename)
            except ConfigurationError as exc:
                raise _fail(exc.message, EXIT_BAD_INPUT) from exc
            _print_report(report, as_json)
            if not report.valid:
                raise typer.Exit(EXIT_FAILED)
            return
        started = time.monotonic()
        # a live line on stderr: spinner, job state, elapsed time (ticking between polls)
        status = Progress(
            SpinnerColumn(),
            TextColumn("job {task.fields[job]} {task.fields[state]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        line = status.add_task("wait", total=None, job="", state="submitting")

        def show(result: JobResult) -> None:
            status.update(line, job=result.job_id, state=result.state.value)

        try:
            if wait:
                with status:
                    result = client.push(
                        kind,
                        source,
                        wait=True,
                        filename=filename,
                        wait_timeout=timeout,
                        on_status=show,
                    )
            else:
                result = client.push(kind, source, wait=False, filename=filename)
        except BatchRejected as exc:
            _print_result(exc.result, as_json)
            raise _fail(exc.message, EXIT_FAILED) from exc
        except JobFailed as exc:
            _print_result(exc.result, as_json)
            raise _fail(exc.message, EXIT_FAILED) from exc
        except WaitTimeout as exc:
            if as_json:
                typer.echo(json.dumps(exc.result.to_json()))
            raise _fail(exc.message, EXIT_UNREACHABLE) from exc
        except ConfigurationError as exc:
            raise _fail(exc.message, EXIT_BAD_INPUT) from exc
        if as_json:
            typer.echo(json.dumps(result.to_json()))
        elif wait:
            out.print(_describe(result, time.monotonic() - started))
        else:
            out.print(_describe(result))
            out.print(f"follow it with: planfeed status {result.job_id}")


def _print_result(result: JobResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    out.print(_describe(result))
    if result.errors:
        out.print(_row_errors_table(result.errors))


def _print_report(report: ValidationReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    if report.valid:
        out.print(f"valid: {report.valid_rows} of {report.total_rows} rows would be applied")
        return
    out.print(
        f"invalid: {len(report.errors)} error(s) in {report.total_rows} rows; nothing was queued"
    )
    out.print(_row_errors_table(report.errors))


FileArgument = Annotated[str, typer.Argument(help="CSV or JSON file ('-' reads stdin).")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Wait until the job finishes, showing its status.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Validate only: nothing is queued or applied.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="With --wait: give up after this many seconds.")
]

push_app = typer.Typer(help="Push progress or metric update files.", no_args_is_help=True)


@push_app.command("progress")
def push_progress(
    file: FileArgument,
    wait: WaitOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 600.0,
    profile: ProfileOption = None,
) -> None:
    """Push a progress updates file (External ID, Status, Current Metric Value, As Of Date,
    Comment)."""
    _push("progress", file, wait, dry_run, as_json, timeout, profile)


@push_app.command("metrics")
def push_metrics(
    file: FileArgument,
    wait: WaitOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 600.0,
    profile: ProfileOption = None,
) -> None:
    """Push a metric updates file (External ID, Current Metric Value, As Of Date)."""
    _push("metric", file, wait, dry_run, as_json, timeout, profile)


def status(
    job_id: Annotated[str, typer.Argument(help="The job id a push printed.")],
    kind: Annotated[
        KindName | None, typer.Option("--kind", help="progress or metric (default: either).")
    ] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Show a job's status; exit 1 if it was rejected or failed."""
    kind_value = kind.value if kind else None
    with _client(profile) as client:
        try:
            if wait:
                result = client.wait(job_id, kind_value, wait_timeout=timeout)  # type: ignore[arg-type]
            else:
                result = client.job_status(job_id, kind_value)  # type: ignore[arg-type]
        except NotFoundError as exc:
            raise _fail(
                f"no job {job_id!r} for this key's organisation and environment; check the id, "
                "and use the profile of the environment the job was pushed to",
                EXIT_FAILED,
            ) from exc
        except WaitTimeout as exc:
            raise _fail(exc.message, EXIT_UNREACHABLE) from exc
    _print_result(result, as_json)
    if result.state.value in ("rejected", "failed"):
        raise typer.Exit(EXIT_FAILED)


# -- export ----------------------------------------------------------------------------------

export_app = typer.Typer(help="Export plan data.", no_args_is_help=True)


def _names(people: Any) -> str:
    return "; ".join(p.name or p.id for p in people)


def _checklist_progress(item: PlanItem) -> str:
    entries = [entry for checklist in item.checklists for entry in checklist.items]
    if not entries:
        return ""
    return f"{sum(1 for e in entries if e.done_on)}/{len(entries)}"


COLUMNS: tuple[tuple[str, Callable[[PlanItem], Any]], ...] = (
    ("Row", lambda i: i.row_number),
    ("# (Sequence)", lambda i: i.sequence_id),
    ("Level", lambda i: i.level),
    ("Name", lambda i: i.name),
    ("Status", lambda i: i.status_name),
    ("Start Date", lambda i: i.start),
    ("Due Date", lambda i: i.due),
    ("Has Metric", lambda i: i.has_metric),
    ("Baseline", lambda i: i.baseline if i.has_metric else None),
    ("Target", lambda i: i.target if i.has_metric else None),
    ("Current Value", lambda i: i.current_value if i.has_metric else None),
    ("Metric Goals", lambda i: "; ".join(g.goal_name for g in i.advanced_metric_goals)),
    ("Assigned To", lambda i: i.assigned_to_full_name),
    ("Assigned By", lambda i: i.assigned_by_full_name),
    ("Aligns To", lambda i: i.aligns_to),
    ("Dependent On", lambda i: i.dependent_on),
    ("Update Frequency", lambda i: i.update_frequency_description),
    ("Past Due", lambda i: i.is_past_due),
    ("Late Updates", lambda i: i.late_updates),
    ("Pending Updates", lambda i: i.pending_updates),
    ("Updates", lambda i: i.updates),
    ("Last Updated", lambda i: i.last_updated),
    ("Last Update Comment", lambda i: i.last_update_comment),
    ("Last Comment", lambda i: i.last_comment),
    ("Members", lambda i: _names(i.members)),
    ("Admins", lambda i: _names(i.admins)),
    ("Checklist Done", _checklist_progress),
    ("Tags", lambda i: "; ".join(t.name for t in i.tags)),
    ("Files", lambda i: i.files),
    ("Created", lambda i: i.created),
    ("Description", lambda i: i.description),
    ("Plan", lambda i: i.plan_name),
    ("Item ID", lambda i: i.id),
    ("Aligns To ID", lambda i: i.aligns_to_id),
)


def flatten(item: PlanItem) -> list[Any]:
    """One spreadsheet row of typed values (dates, decimals, booleans) for an item."""
    return [getter(item) for _name, getter in COLUMNS]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
    return value


class _Writer:
    def write(self, item: PlanItem) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file."""


class _JsonWriter(_Writer):
    """A JSON array of the server's items, written as they arrive."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.first = True
        stream.write("[")

    def write(self, item: PlanItem) -> None:
        self.stream.write("\n" if self.first else ",\n")
        self.stream.write(json.dumps(item.raw, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.stream.write("\n]\n")


class _CsvWriter(_Writer):
    def __init__(self, stream: IO[str]) -> None:
        self.writer = csv.writer(stream, lineterminator="\r\n")
        self.writer.writerow([name for name, _ in COLUMNS])

    def write(self, item: PlanItem) -> None:
        self.writer.writerow([_csv_cell(v) for v in flatten(item)])


class _XlsxWriter(_Writer):
    def __init__(self, path: Path) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("Plan items")
        self.sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for name, _ in COLUMNS:
            cell = WriteOnlyCell(self.sheet, value=name)
            cell.font = bold
            header.append(cell)
        self.sheet.append(header)

    def write(self, item: PlanItem) -> None:
        self.sheet.append([_xlsx_cell(v) for v in flatten(item)])

    def close(self) -> None:
        self.book.save(self.path)


@export_app.command("plan")
def export_plan(
    plan_id: Annotated[str, typer.Argument(help="The plan's id (Copy Plan ID in the app).")],
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json, csv or xlsx.")
    ] = ExportFormat.json,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File to write ('-' or omitted: stdout; not xlsx)."),
    ] = None,
    sort_key: Annotated[str, typer.Option("--sort-key", help="One of seed 003's sort keys.")] = (
        "sequenceId"
    ),
    sort_direction: Annotated[str, typer.Option("--sort-direction", help="asc or desc.")] = "asc",
    profile: ProfileOption = None,
) -> None:
    """Export every item of a plan (all pages) as JSON, CSV or XLSX."""
    to_stdout = output in (None, "-")
    if format is ExportFormat.xlsx and to_stdout:
        raise _fail("XLSX is a binary file: give -o FILE.xlsx", EXIT_BAD_INPUT)
    if not to_stdout and not Path(str(output)).parent.is_dir():
        raise _fail(f"no directory {str(Path(str(output)).parent)!r} for -o; create it first", 2)
    written = 0
    with _client(profile) as client, _open_output(output, format) as writer:
        progress = Progress(
            TextColumn("exporting {task.fields[plan]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("page {task.fields[page]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        with progress:
            task = progress.add_task("export", total=None, plan=plan_id, page=0)
            pages = client.export_pages(plan_id, sort_key=sort_key, sort_direction=sort_direction)
            for number, page in enumerate(pages, start=1):
                progress.update(task, total=page.total_count, page=number)
                for item in page.items:
                    writer.write(item)
                written += len(page.items)
                progress.update(task, completed=written)
    where = "stdout" if to_stdout else output
    err.print(f"exported {written} items of plan {plan_id} to {where} ({format.value})")


@contextmanager
def _open_output(output: str | None, format: ExportFormat) -> Iterator[_Writer]:
    """A writer for the export; a file appears only when the export completed."""
    if format is ExportFormat.xlsx:
        xlsx = _XlsxWriter(Path(str(output)))
        yield xlsx
        xlsx.close()  # nothing is saved unless every page arrived
        return
    if output in (None, "-"):
        stdout: _Writer = (
            _JsonWriter(sys.stdout) if format is ExportFormat.json else _CsvWriter(sys.stdout)
        )
        yield stdout
        stdout.close()
        return
    final = Path(str(output))
    partial = final.with_name(final.name + ".part")
    newline = "" if format is ExportFormat.csv else None
    try:
        with partial.open("w", encoding="utf-8", newline=newline) as stream:
            writer = _JsonWriter(stream) if format is ExportFormat.json else _CsvWriter(stream)
            yield writer
            writer.close()
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)


# -- feeds (API v2) ---------------------------------------------------------------------------


class FeedFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _feed_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return _csv_cell(value)


def feed(
    module: Annotated[str, typer.Argument(help="API v2 module, e.g. coursedate.")],
    filter_: Annotated[
        str | None, typer.Option("--filter", help="$filter, e.g. \"Status eq 'Available'\".")
    ] = None,
    select: Annotated[
        str | None, typer.Option("--select", help="$select: comma-separated fields.")
    ] = None,
    orderby: Annotated[
        str | None, typer.Option("--orderby", help="$orderby, e.g. 'StartDate desc'.")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Every page (default: the first page only).")
    ] = False,
    page_size: Annotated[int, typer.Option("--top", help="Records per page ($top).", min=1)] = 50,
    format: Annotated[
        FeedFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = FeedFormat.table,
    profile: ProfileOption = None,
) -> None:
    """Query an API v2 feed: a table for the terminal, or streamed JSON or CSV."""
    fields = tuple(f.strip() for f in (select or "").split(",") if f.strip())
    with _client(profile) as client:
        query = client.feed(module, page_size=page_size)
        if filter_:
            query = query.filter(filter_)
        if fields:
            query = query.select(*fields)
        if orderby:
            query = query.order_by(*(o.strip() for o in orderby.split(",") if o.strip()))
        if not all_pages:
            query = query.limit(page_size)
        records = iter(query)
        if format is FeedFormat.json:
            typer.echo("[", nl=False)
            for index, record in enumerate(records):
                typer.echo(("\n" if index == 0 else ",\n") + json.dumps(record), nl=False)
            typer.echo("\n]")
            return
        first = next(records, None)
        # the server's spelling of the names (they are case-insensitive in --select)
        columns = list(first) if first else list(fields)
        rows = itertools.chain([first] if first is not None else [], records)
        if format is FeedFormat.csv:
            writer = csv.writer(sys.stdout, lineterminator="\r\n")
            writer.writerow(columns)
            for record in rows:
                writer.writerow([_feed_cell(record.get(c)) for c in columns])
            return
        table = Table(*columns, title=module)
        count = 0
        for record in rows:
            table.add_row(*(_feed_cell(record.get(c)) for c in columns))
            count += 1
        out.print(table)
        more = "" if all_pages else " (first page; --all for every page)"
        err.print(f"{count} record{'s' if count != 1 else ''}{more}")


def register(app: typer.Typer) -> None:
    """Add the client commands to the ``planfeed`` command."""
    app.command("login")(login)
    app.command("whoami")(whoami)
    app.command("status")(status)
    app.command("feed")(feed)
    app.add_typer(push_app, name="push")
    app.add_typer(export_app, name="export")
