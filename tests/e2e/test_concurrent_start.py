"""Processes starting together on one PostgreSQL schema (gunicorn workers, projectors, the
init job) all start: creating the tables is done one process at a time."""

from __future__ import annotations

import multiprocessing
import traceback
import uuid
from typing import Any

import pytest

from tests.conftest import FAST_HASHING, PG_URL, drop_schema, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PROCESSES = 12


def start(schema: str, go: Any, results: Any) -> None:
    try:
        from service.config import Settings
        from service.infrastructure.runtime import Runtime

        settings = Settings.from_env(
            environ={},
            overrides={
                "database_url": PG_URL,
                "database_schema": schema,
                "pool_size": 1,
                "max_overflow": 1,
                **FAST_HASHING,
            },
        )
        go.wait(30)
        runtime = Runtime(settings)
        runtime.close()
        results.put(None)
    except Exception:
        results.put(traceback.format_exc())


def test_processes_starting_together_on_a_fresh_schema_all_start() -> None:
    require_postgres()
    schema = f"e_{uuid.uuid4().hex[:16]}"
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=start, args=(schema, go, results)) for _ in range(PROCESSES)
    ]
    try:
        for process in processes:
            process.start()
        go.set()
        failures = [error for error in (results.get(timeout=120) for _ in processes) if error]
        assert failures == [], failures[0]
    finally:
        for process in processes:
            process.join(30)
        drop_schema(schema)
