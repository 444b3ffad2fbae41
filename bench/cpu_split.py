"""Where a read's CPU goes, machine-wide: hello-world, hello-world after the read check, one
initiative and the list of 50, each under wrk (16 connections) against gunicorn with the
suite's configuration (`bench.service_suite.WORKERS` x `THREADS`), in alternating rounds.
For each, the CPU per request of the gunicorn workers (user and system), of wrk, and of
PostgreSQL's processes (the server's own, read from /proc: PostgreSQL must run on this
machine), from the processes' CPU times before and after each round.

On a machine whose cores are all busy during the load, throughput is the cores divided by the
total CPU a request costs there: a read reaches half of hello-world's throughput when its total
is at most twice hello-world's (docs/PERFORMANCE.md, item 18).

    .venv/bin/python -m bench.cpu_split [--sqlite] [--rounds 2] [--seconds 6]
                                        [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from bench.__main__ import PG_URL
from bench.ab import admin_token, wait_for_the_list
from bench.processes import (
    Client,
    Gunicorn,
    Process,
    cpu_times,
    service_env,
)
from bench.service_suite import (
    CLIENTS,
    THREADS,
    WORKERS,
    fields_of,
    hello_server,
    make_team,
    wrk_rate,
)


def total_cpu(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of these processes so far (the ones gone count nothing)."""
    user = system = 0.0
    for pid in pids:
        try:
            one_user, one_system = cpu_times(pid)
        except OSError:
            continue
        user, system = user + one_user, system + one_system
    return user, system


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def postgres_processes() -> Callable[[], list[int]]:
    """A function listing PostgreSQL's processes now: the postmaster's children, found
    through this session's backend; PostgreSQL must run on this machine."""
    with psycopg.connect(PG_URL) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        stat = Path(f"/proc/{backend}/stat")
        if not stat.exists():
            raise SystemExit("bench.cpu_split: PostgreSQL does not run on this machine")
        postmaster = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return lambda: [postmaster, *children(postmaster)]


def measure(
    url: str, token: str | None, workers: list[int], database: Callable[[], list[int]], seconds: int
) -> dict[str, float]:
    """Requests/s of one wrk round, and each side's CPU per request (us)."""
    before_database = database()
    workers_before, database_before = total_cpu(workers), total_cpu(before_database)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = wrk_rate(url, token, seconds)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_after = total_cpu(workers)
    # Backends that started during the round count from zero.
    database_after = total_cpu(sorted({*before_database, *database()}))
    requests = rate * seconds
    wrk = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    return {
        "rate": rate,
        "user": (workers_after[0] - workers_before[0]) / requests * 1e6,
        "system": (workers_after[1] - workers_before[1]) / requests * 1e6,
        "wrk": wrk / requests * 1e6,
        "database": (sum(database_after) - sum(database_before)) / requests * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=6, help="per wrk round")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn's, both servers")
    parser.add_argument("--threads", type=int, default=THREADS, help="per worker, both servers")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench.cpu_split needs wrk (Debian's package; `make bench` installs it)")
    folder = Path(tempfile.mkdtemp(prefix="twinning-split-"))
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    if args.sqlite:
        database = {"TWINNING_DATA_DIR": str(folder / "var"), "TWINNING_DATABASE_URL": ""}
        database_pids: Callable[[], list[int]] = list
    else:
        database = {"TWINNING_DATABASE_URL": PG_URL, "TWINNING_DATABASE_SCHEMA": schema}
        database_pids = postgres_processes()
    env = service_env(
        database, workers=str(args.workers), threads=str(args.threads), log_level="WARNING"
    )
    twinning = str(Path(sys.executable).with_name("twinning"))
    started: list[Process] = []
    figures: dict[str, list[dict[str, float]]] = defaultdict(list)
    try:
        subprocess.run([twinning, "init"], env=env, check=True, capture_output=True)
        server = Gunicorn(env, folder)
        started.append(server)
        started.append(Process([twinning, "project"], env, folder / "projector.log"))
        hello = hello_server(env, folder)
        started.append(hello)
        lead = make_team(server.base, 1).pairs[0][0]
        for n in range(60):
            Client(server.base, lead.token).ok("POST", "/api/v1/initiatives", fields_of(n))
        wait_for_the_list(server, 50)
        token = admin_token(server)
        page = Client(server.base, token).ok("GET", "/api/v1/initiatives?limit=50")[0]
        one = f"{server.base}/api/v1/initiatives/{page['items'][7]['id']}"
        cases = {
            "hello-world": (f"{hello.base}/hello", None, hello),
            "hello-world + read check": (f"{hello.base}/hello/checked", token, hello),
            "one initiative": (one, token, server),
            "list of 50": (f"{server.base}/api/v1/initiatives?limit=50", token, server),
        }
        for url, auth, _ in cases.values():
            wrk_rate(url, auth, 2)  # warm: caches filled, every worker and thread started
        for round_ in range(args.rounds):
            names = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in names:
                url, auth, serving = cases[name]
                figures[name].append(
                    measure(url, auth, serving.worker_pids(), database_pids, args.seconds)
                )
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if not args.sqlite:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    database_name = "SQLite" if args.sqlite else "PostgreSQL"
    show(figures, database_name, f"{args.workers} x {args.threads}", args.rounds)


def show(
    figures: dict[str, list[dict[str, float]]], database: str, configuration: str, rounds: int
) -> None:
    def mean(name: str, key: str) -> float:
        return sum(f[key] for f in figures[name]) / len(figures[name])

    table = Table(
        title=f"CPU per request under wrk, {CLIENTS} connections ({database}, {configuration}; "
        f"mean of {rounds} rounds; us)"
    )
    for column in ("request", "req/s", "workers user", "workers system", "wrk", database, "total"):
        table.add_column(column, justify="left" if column == "request" else "right")
    table.add_column("total / hello-world's", justify="right")
    base = sum(mean("hello-world", k) for k in ("user", "system", "wrk", "database"))
    for name in figures:
        parts = [mean(name, k) for k in ("user", "system", "wrk", "database")]
        total = sum(parts)
        table.add_row(
            name,
            f"{mean(name, 'rate'):,.0f}",
            *(f"{part:,.0f}" for part in parts),
            f"{total:,.0f}",
            f"{total / base:.2f}",
        )
    Console(width=120).print(table)
    print("A read reaches 0.5 of hello-world's throughput when its total is at most 2.00 times")
    print("hello-world's (all cores busy during the load).")


if __name__ == "__main__":
    main()
