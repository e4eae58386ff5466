"""Run every benchmark on SQLite and PostgreSQL and write docs/performance.md.

    .venv/bin/python bench/run.py [--only NAME] [--quick] [--backend sqlite|postgresql]
                                  [--repetitions N] [--output PATH]

Benchmarks are the modules ``bench/bench_*.py`` (see ``bench/core.py`` for the contract). Each
runs on a fresh database per backend: a temporary SQLite file, and a schema of its own on the
PostgreSQL server named by ``PLANFEED_BENCH_DATABASE_URL`` (created and dropped by the run).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib
import os
import pkgutil
import platform
import shlex
import sqlite3
import sys
import tempfile
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.core import BenchContext, Result  # noqa: E402
from planfeed.db.engine import make_engine  # noqa: E402
from planfeed.db.migrate import upgrade  # noqa: E402

PG_ENV = "PLANFEED_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
DEFAULT_OUTPUT = ROOT / "docs" / "performance.md"


def discover() -> dict[str, ModuleType]:
    """Every ``bench/bench_*.py`` module, by its ``NAME``."""
    found: dict[str, ModuleType] = {}
    package = ROOT / "bench"
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        for attribute in ("NAME", "TITLE", "run"):
            if not hasattr(module, attribute):
                raise SystemExit(f"bench/{info.name}.py has no {attribute}; see bench/core.py")
        found[module.NAME] = module
    return found


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """A migrated, empty database: yields (server URL, SQLAlchemy URL); dropped afterwards."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        yield url, url
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    base = os.environ.get(PG_ENV, PG_DEFAULT)
    schema = f"pfbench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
        try:
            yield url, url.replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def machine_facts(backends: list[str]) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    facts = {
        "cores": f"{os.cpu_count()} ({cpu})",
        "memory": memory,
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    if "postgresql" in backends:
        base = os.environ.get(PG_ENV, PG_DEFAULT)
        try:
            engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.connect() as connection:
                facts["postgresql"] = connection.execute(text("SHOW server_version")).scalar_one()
            engine.dispose()
        except Exception as exc:
            raise SystemExit(
                f"PostgreSQL at {base} is not reachable ({type(exc).__name__}: {exc}); set "
                f"{PG_ENV} or run with --backend sqlite"
            ) from exc
    return facts


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:,.0f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def _met(result: Result) -> str:
    if result.passed is None:
        return "—"
    return "yes" if result.passed else "**NO**"


def write_report(
    path: Path,
    command: str,
    facts: dict[str, str],
    modules: dict[str, ModuleType],
    results: dict[str, list[Result]],
    failures: list[str],
    quick: bool,
    repetitions: int,
    started: dt.datetime,
) -> None:
    judged = [r for rows in results.values() for r in rows if r.passed is not None]
    met = sum(1 for r in judged if r.passed)
    lines = [
        "# Performance",
        "",
        "Written by `bench/run.py` from its last run; do not edit by hand, run it again "
        "(see `bench/README.md`).",
        "",
        f"- **Date**: {started:%Y-%m-%d %H:%M} UTC",
        f"- **Command**: `{command}`",
        f"- **Mode**: {'quick (small sizes; targets not judged)' if quick else 'full sizes'}, "
        f"repetitions {repetitions}",
    ]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    lines += [
        "",
        "The machine is shared, so each timing is a median of several repetitions and is shown "
        "beside a baseline measured in the same run on the same database; the ratio is the "
        "figure to compare between runs.",
        "",
        "## Summary",
        "",
    ]
    if judged:
        lines.append(f"{met} of {len(judged)} targets met.")
        for result in judged:
            if not result.passed:
                lines.append(
                    f"- **missed**: {result.benchmark} / {result.name} on {result.backend}: "
                    f"{_format(result.median, result.unit)} (target {result.target})"
                )
    else:
        lines.append("No targets judged (quick mode).")
    for failure in failures:
        lines.append(f"- **error**: {failure}")
    for name, rows in results.items():
        module = modules[name]
        lines += ["", f"## {name}: {module.TITLE}", ""]
        description = getattr(module, "DESCRIPTION", "").strip()
        if description:
            lines += [description, ""]
        lines += [
            "| Measurement | Backend | Median | Spread | Baseline | Ratio | Target | Met | "
            "Samples | Note |",
            "| --- | --- | ---: | --- | ---: | ---: | --- | --- | ---: | --- |",
        ]
        for r in rows:
            lines.append(
                f"| {r.name} | {r.backend} | {_format(r.median, r.unit)} | {r.spread} | "
                f"{_format(r.baseline, r.unit)} | {_format(r.ratio, '×')} | {r.target} | "
                f"{_met(r)} | {r.samples} | {r.note} |"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument(
        "--backend", action="append", choices=BACKENDS, help="run only on this backend"
    )
    parser.add_argument("--repetitions", type=int, default=None, help="repetitions (default 5)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="report path")
    args = parser.parse_args(argv)

    modules = discover()
    unknown = [name for name in args.only or [] if name not in modules]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; there are: {', '.join(modules)}")
    selected = {name: module for name, module in modules.items() if name in (args.only or modules)}
    backends = args.backend or list(BACKENDS)
    repetitions = args.repetitions or (2 if args.quick else 5)
    started = dt.datetime.now(dt.UTC)
    facts = machine_facts(backends)
    argv_shown = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "bench/run.py", *argv_shown])

    results: dict[str, list[Result]] = {name: [] for name in selected}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="planfeed-bench-") as tmp:
        workdir = Path(tmp)
        for name, module in selected.items():
            for backend in backends:
                print(f"{name} on {backend}", flush=True)
                try:
                    with fresh_database(backend, workdir) as (server_url, engine_url):
                        engine = make_engine(engine_url)
                        try:
                            upgrade(engine)
                            ctx = BenchContext(
                                backend=backend,
                                url=server_url,
                                engine=engine,
                                repetitions=repetitions,
                                quick=args.quick,
                                workdir=workdir,
                                log=lambda message: print(message, flush=True),
                            )
                            results[name].extend(module.run(ctx))
                        finally:
                            gc.unfreeze()  # objects a benchmark froze (core.freeze_setup_objects)
                            engine.dispose()
                except Exception as exc:
                    traceback.print_exc()
                    first_line = (str(exc).splitlines() or [""])[0]
                    failures.append(f"{name} on {backend}: {type(exc).__name__}: {first_line}")
    write_report(
        args.output,
        command,
        facts,
        selected,
        results,
        failures,
        args.quick,
        repetitions,
        started,
    )
    for rows in results.values():
        for r in rows:
            verdict = {None: "", True: "  met", False: "  MISSED"}[r.passed]
            ratio = f"  ratio {r.ratio:.2f}" if r.ratio is not None else ""
            print(
                f"{r.benchmark:8} {r.backend:10} {r.name:40} "
                f"{_format(r.median, r.unit):>12}{ratio}  {r.target}{verdict}"
            )
    print(f"report written to {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
