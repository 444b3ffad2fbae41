"""Runs the benchmarks and prints a table of figures and ratios (`make bench`)."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from bench import read_side

PG_URL = os.environ.get("TWINNING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--initiatives",
        type=int,
        default=100_000,
        help="the large size of the list benchmark (default 100,000)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    console = Console()
    rows: list[tuple[str, str]] = [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        ),
    ]
    folder = Path(tempfile.mkdtemp(prefix="twinning-bench-"))
    try:
        with console.status("read side on SQLite…"):
            rows += read_side.sqlite(folder, args.initiatives)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not args.no_postgres:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        try:
            with console.status("read side on PostgreSQL…"):
                rows += read_side.postgres(PG_URL, schema, args.initiatives)
        except psycopg.OperationalError as error:
            rows.append(("PostgreSQL", f"skipped: {error}".splitlines()[0]))
        finally:
            try:
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except psycopg.OperationalError:
                pass
    table = Table(title="Twinning benchmarks (ratios compare figures of this one run)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    for measure, figure in rows:
        table.add_row(measure, figure)
    console.print(table)
    results = Path(__file__).with_name("RESULTS.md")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python -m bench --initiatives {args.initiatives}`). Ratios "
        "compare figures measured side by side in this one run; absolute times on a shared "
        "machine do not compare across runs.",
        "",
        "| measure | figure |",
        "|---|---|",
        *(f"| {measure} | {figure} |" for measure, figure in rows),
        "",
    ]
    results.write_text("\n".join(lines))
    console.print(f"written to {results}")


if __name__ == "__main__":
    main()
