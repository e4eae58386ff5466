"""The benchmark runner works end to end in quick mode (it measures nothing worth asserting).

Timings are never asserted here: performance targets live in bench/ and docs/performance.md.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_quick(tmp_path, backend, extra_env=None):
    output = tmp_path / "performance.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--backend",
            backend,
            "--output",
            str(output),
        ],
        cwd=tmp_path,  # the runner must not depend on the working directory
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return output.read_text(encoding="utf-8")


def check_report(report, backend):
    assert report.startswith("# Performance")
    assert "bench/run.py --quick --backend" in report  # the command that produced it
    assert "- **python**:" in report
    assert "- **sqlite**:" in report
    assert "No targets judged (quick mode)." in report
    assert "**error**" not in report
    for section in ("## batch:", "## export:"):
        assert section in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and backend in line]
    names = " ".join(rows)
    for measurement in ("POST to 200", "bare executemany", "peak memory", "page take=", "walk"):
        assert measurement in names, measurement


@pytest.mark.slow
def test_quick_run_on_sqlite_writes_the_report(tmp_path):
    check_report(run_quick(tmp_path, "sqlite"), "sqlite")


@pytest.mark.slow
def test_quick_run_on_postgresql_writes_the_report(tmp_path):
    url = os.environ.get("PLANFEED_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL variant skipped: set PLANFEED_TEST_DATABASE_URL")
    report = run_quick(tmp_path, "postgresql", {"PLANFEED_BENCH_DATABASE_URL": url})
    check_report(report, "postgresql")
    assert "- **postgresql**:" in report


def test_only_rejects_an_unknown_benchmark(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--only", "nosuch", "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "unknown benchmark 'nosuch'" in completed.stderr
    assert "batch" in completed.stderr
    assert "export" in completed.stderr
