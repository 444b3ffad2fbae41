"""Fixtures shared by the suites: the database backends and an API client with accounts."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import reliability

PG_URL = os.environ.get("TWINNING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
REDIS_URL = os.environ.get("TWINNING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def a_proposal(**overrides: Any) -> dict[str, Any]:
    """The fields of a valid national proposal (a test's own given as overrides)."""
    return {
        "title": {"en": "Shared squares"},
        "summary": {"en": "S"},
        "original_language": "en",
        "themes": ["youth"],
        "level": "national",
        "countries": ["IT"],
        **overrides,
    }


def a_report(**overrides: Any) -> dict[str, Any]:
    """A valid progress report (the fields a test cares about given as overrides)."""
    return {
        "period_start": "2027-03-01",
        "period_end": "2027-05-31",
        "participants": 38,
        "activities": 4,
        "narrative": {"en": "Four workshops held."},
        **overrides,
    }


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis, its keys deleted afterwards, so
    that parallel runs never count each other's attempts. A skip when Redis does not
    answer (with CI=true, a failure)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis is not answering at {REDIS_URL} ({error}; set TWINNING_TEST_REDIS_URL)"
        if IN_CI:
            pytest.fail(f"{message}: with CI=true the Redis tests must run")
        pytest.skip(message)
    prefix = f"twinning-test-{uuid.uuid4().hex}"
    yield prefix
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)


_pg_reachable: bool | None = None


def postgres_reachable() -> bool:
    global _pg_reachable
    if _pg_reachable is None:
        try:
            with psycopg.connect(PG_URL, connect_timeout=3):
                _pg_reachable = True
        except psycopg.Error:
            _pg_reachable = False
    return _pg_reachable


def require_postgres() -> None:
    if postgres_reachable():
        return
    message = f"PostgreSQL is not reachable at {PG_URL} (set TWINNING_TEST_POSTGRES_URL)"
    if IN_CI:
        pytest.fail(f"{message}: with CI=true the PostgreSQL suites must run")
    pytest.skip(message)


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Settings overrides for a fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield {"data_dir": tmp_path / "var", "database_url": ""}
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield {"database_url": PG_URL, "database_schema": schema, "pool_size": 2, "max_overflow": 4}
    finally:
        drop_schema(schema)


# ------------------------------------------------------------ reliability summary
_failed: Counter[str] = Counter()
_ran: set[str] = set()


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_controller(session.config):
        reliability.reset()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = Path(report.fspath).stem if report.fspath else ""
    if module in reliability.SUITES and report.when == "call":
        _ran.add(module)
        if report.failed:
            _failed[module] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_controller(session.config):
        table = reliability.write(_failed, _ran)
        if table:
            print("\nReliability summary\n" + table)


# ------------------------------------------------------------ mutation testing
# `make mutate` runs each mutant against the tests that reach it, stopping at the first
# failure: the cheapest layers go first so that most mutants cost milliseconds.
LAYERS = ("tests/unit/", "tests/application/", "tests/projections/", "tests/service/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("MUTATION_TESTING"):
        return

    def layer(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(LAYERS) if path.startswith(prefix)), len(LAYERS))

    items.sort(key=layer)  # stable: each layer keeps its own order
