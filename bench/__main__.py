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

from bench import activities, audit_chain, read_side, service_suite

PG_URL = os.environ.get("TWINNING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--initiatives",
        type=int,
        default=100_000,
        help="the large size of the list benchmark (default 100,000)",
    )
    parser.add_argument(
        "--chain-events",
        type=int,
        default=1_000_000,
        help="events in the audit chain benchmark (default 1,000,000)",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=15,
        help="length of each measured round against the running service (default 15)",
    )
    parser.add_argument(
        "--memory-initiatives",
        type=int,
        default=100_000,
        help="initiatives in the worker memory benchmark (default 100,000)",
    )
    parser.add_argument(
        "--only",
        choices=["read", "audit", "latency", "service", "memory", "activities"],
        default=None,
        help="run one part of the suite (latency: the chain's effect on commands alone; "
        "service: commands, reads, lag, long histories against gunicorn and the projector; "
        "memory: an API worker's memory as the data grows; activities: registrations and "
        "attendance lists at 1,000 participants)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    console = Console()
    if args.only in (None, "service") and not shutil.which("wrk"):
        # Seen here: SQLite's list of 50 at 0.31 of hello-world with Python threads as the
        # load, 0.63 with wrk, on the same machine within the hour (docs/PERFORMANCE.md).
        console.print(
            "[bold red]wrk is not installed:[/] the read benchmarks fall back to Python "
            "threads, which spend more of the machine than the service on larger answers, so "
            "their ratios do not compare with wrk's. Install Debian's wrk (`make bench` does)."
        )
    rows: list[tuple[str, str]] = [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        ),
    ]
    parts = [
        ("read side", read_side.sqlite, read_side.postgres, args.initiatives, "read"),
        ("audit chain", audit_chain.sqlite, audit_chain.postgres, args.chain_events, "audit"),
        ("chain latency", audit_chain.sqlite_latency, audit_chain.postgres_latency, 0, "latency"),
        ("service", service_suite.sqlite, service_suite.postgres, args.seconds, "service"),
        (
            "worker memory",
            service_suite.memory_sqlite,
            service_suite.memory_postgres,
            args.memory_initiatives,
            "memory",
        ),
        ("activities", activities.sqlite, activities.postgres, 0, "activities"),
    ]
    for name, on_sqlite, on_postgres, size, key in parts:
        if args.only != key and (args.only is not None or key == "latency"):
            continue  # the full suite measures latency within the audit part
        folder = Path(tempfile.mkdtemp(prefix="twinning-bench-"))
        try:
            if not args.no_sqlite:
                with console.status(f"{name} on SQLite…"):
                    rows += on_sqlite(folder, size)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if args.no_postgres:
            continue
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        try:
            with console.status(f"{name} on PostgreSQL…"):
                rows += on_postgres(PG_URL, schema, size)
        except psycopg.OperationalError as error:
            rows.append(("PostgreSQL", f"skipped: {error}".splitlines()[0]))
        finally:
            try:
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    for suffix in ("", "_l"):
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}{suffix}" CASCADE')
            except psycopg.OperationalError:
                pass
    table = Table(title="Twinning benchmarks (ratios compare figures of this one run)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    for measure, figure in rows:
        table.add_row(measure, figure)
    console.print(table)
    results = Path(__file__).with_name("RESULTS.md")
    write_results(results, args, rows)
    console.print(f"written to {results}")


def write_results(results: Path, args: argparse.Namespace, rows: list[tuple[str, str]]) -> None:
    """Writes the table of this run into its section of RESULTS.md (a run of one part keeps
    the other part's section from its own run)."""
    section = {
        "read": "Read side",
        "audit": "Audit chain",
        "latency": "Chain and command latency",
        "service": "Service against real processes",
        "memory": "Worker memory",
        "activities": "Activities",
        None: "Full suite",
    }[args.only]
    if args.no_postgres:
        section += " (SQLite only)"
    if args.no_sqlite:
        section += " (PostgreSQL only)"
    sections: dict[str, str] = {}
    if results.exists() and args.only:
        text = results.read_text()
        for chunk in text.split("\n## ")[1:]:
            title, _, body = chunk.partition("\n")
            sections[title.strip()] = body
    sections[section] = "\n".join(
        [
            "",
            f"`python -m bench --initiatives {args.initiatives} --chain-events "
            f"{args.chain_events} --seconds {args.seconds} --memory-initiatives "
            f"{args.memory_initiatives}{' --only ' + args.only if args.only else ''}"
            f"{' --no-postgres' if args.no_postgres else ''}"
            f"{' --no-sqlite' if args.no_sqlite else ''}`",
            "",
            "| measure | figure |",
            "|---|---|",
            *(f"| {measure} | {figure} |" for measure, figure in rows),
            "",
        ]
    )
    if not args.only:
        sections = {section: sections[section]}
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench`. Ratios compare figures measured side by side in one run; "
        "absolute times on a shared machine do not compare across runs.",
        "",
    ]
    for title, body in sections.items():
        lines += [f"## {title}", body]
    results.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
