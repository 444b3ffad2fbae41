"""CPU per request in one process, through the WSGI callable itself: no server, no test
client, no network but the database's. One initiative and the list of 50 against a
hello-world Flask app, in alternating rounds; `--no-statement` answers the read check from a
memo after its first call, so that only the request's Python is left (docs/PERFORMANCE.md,
items 15 and 17).

    .venv/bin/python -m bench.inprocess [--postgres] [--no-statement] [--requests 2000]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from bench.profile_requests import seeded_app
from service.infrastructure.readcache import checks


def environ(path: str, query: str, token: str | None) -> dict[str, Any]:
    """A GET's WSGI environment (werkzeug's builder), made once per case, outside the timer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return EnvironBuilder(path=path, query_string=query, headers=headers).get_environ()


def cpu_per_request(
    app: Callable[..., Any], path: str, query: str, token: str | None, n: int
) -> float:
    """Microseconds of this process's CPU per request, over `n` requests."""
    statuses: list[str] = []
    base = environ(path, query, token)

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    started = time.process_time()
    for _ in range(n):
        body = app({**base, "wsgi.input": io.BytesIO()}, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
    spent = time.process_time() - started
    if any(not status.startswith("200") for status in statuses):
        raise RuntimeError(f"{path}: {sorted(set(statuses))}")
    return spent / n * 1e6


@contextmanager
def statement_memoised() -> Iterator[None]:
    """The read check's statement answered from a memo after its first call per token."""
    check = checks.PostgresCheck
    sqlite_check = checks.SqliteCheck
    originals = (check.row, sqlite_check.row)
    memo: dict[tuple[int, str], Any] = {}

    def memoised(original: Callable[..., Any]) -> Callable[..., Any]:
        def row(self: Any, digest: str, after: int | None) -> Any:
            key = (id(self), digest)
            if key not in memo:
                memo[key] = original(self, digest, after)
            return memo[key]

        return row

    check.row = memoised(originals[0])  # type: ignore[method-assign]
    sqlite_check.row = memoised(originals[1])  # type: ignore[method-assign]
    try:
        yield
    finally:
        check.row, sqlite_check.row = originals  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-statement", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    hello = Flask("hello")
    hello.get("/hello")(lambda: {"hello": "world"})
    memo = statement_memoised() if args.no_statement else nullcontext()
    with seeded_app(args.postgres) as (app, token, first), memo:
        cases = {
            "hello-world": (hello, "/hello", "", None),
            "one initiative": (app, f"/api/v1/initiatives/{first}", "", token),
            "list of 50": (app, "/api/v1/initiatives", "limit=50", token),
        }
        figures: dict[str, list[float]] = {name: [] for name in cases}
        for wsgi, path, query, auth in cases.values():
            cpu_per_request(wsgi, path, query, auth, 300)  # warm: caches filled, code loaded
        for round_ in range(args.rounds):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                wsgi, path, query, auth = cases[name]
                figures[name].append(cpu_per_request(wsgi, path, query, auth, args.requests))
    database = "PostgreSQL" if args.postgres else "SQLite"
    statement = ", the check's statement memoised" if args.no_statement else ""
    print(f"CPU per request in process ({database}{statement}; median of {args.rounds} rounds)")
    for name, values in figures.items():
        spread = f"{min(values):.1f} to {max(values):.1f}"
        print(f"  {name:16s} {statistics.median(values):7.1f} us  ({spread})")


if __name__ == "__main__":
    main()
