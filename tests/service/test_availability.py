"""Fail fast while PostgreSQL is away, but never take a busy pool for an outage."""

from __future__ import annotations

import psycopg_pool
import pytest
from eventsourcing.persistence import OperationalError

from service.infrastructure.availability import reachable_despite
from tests.conftest import PG_URL, require_postgres

NOBODY_THERE = "postgresql://postgres@127.0.0.1:1/test"  # connection refused at once


class Pool:
    """What eventsourcing's pool knows of its server: a connection string and keywords."""

    def __init__(self, conninfo: str, **kwargs: object) -> None:
        self.conninfo = conninfo
        self.kwargs = kwargs


class Datastore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool


def timed_out() -> OperationalError:
    """What eventsourcing raises when no pooled connection came in time."""
    error = OperationalError("couldn't get a connection after 5.00 sec")
    error.__cause__ = psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec")
    return error


@pytest.mark.postgres
def test_a_busy_pool_is_not_an_outage() -> None:
    require_postgres()
    assert reachable_despite(timed_out(), Datastore(Pool(PG_URL)))


def test_a_pool_timeout_with_the_server_gone_is_an_outage() -> None:
    assert not reachable_despite(timed_out(), Datastore(Pool(NOBODY_THERE)))


def test_other_connection_errors_are_outages() -> None:
    assert not reachable_despite(OperationalError("connection refused"), Datastore(Pool(PG_URL)))
