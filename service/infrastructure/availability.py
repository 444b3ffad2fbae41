"""Fail fast while the database is away.

When the database stops, the event store's connection pool makes each request wait for its
timeout (and retries), so a request would hang for many seconds before its 503. Once one
request has found the database unreachable, the others are answered 503 at once; at most
one probe every `PROBE_INTERVAL` seconds (a fresh connection, `SELECT 1`) finds out when it
is back, and requests flow again without a restart.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy as sa
from eventsourcing.persistence import OperationalError

PROBE_INTERVAL = 0.5


class Availability:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.down = False
        self.last_probe = 0.0
        self.probing = threading.Lock()

    def mark_down(self) -> None:
        self.down = True

    def probe(self) -> bool:
        """Whether the database answers now (clears the outage when it does)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:  # any failure to reach it: still away
            self.down = True
            return False
        self.down = False
        return True

    def available(self) -> bool:
        """False while an outage is known: no request should wait on the pool meanwhile."""
        if not self.down:
            return True
        if time.monotonic() - self.last_probe < PROBE_INTERVAL:
            return False
        if not self.probing.acquire(blocking=False):
            return False  # another thread is probing
        try:
            self.last_probe = time.monotonic()
            return self.probe()
        finally:
            self.probing.release()


def guard_event_store(datastore: Any, availability: Availability) -> None:
    """The event store's connections fail fast during a known outage.

    eventsourcing's retries, each waiting for a pooled connection, would hold a request for
    most of a minute (docs/PERFORMANCE.md, item 7). A connection that cannot be had marks the
    outage; while it lasts every attempt fails at once, so the request ends in its 503.
    """
    get_connection = datastore.get_connection

    @contextlib.contextmanager
    def guarded() -> Iterator[Any]:
        if not availability.available():
            raise OperationalError("The database is not reachable.")
        opened = get_connection()
        try:
            conn = opened.__enter__()
        except OperationalError as error:
            if reachable_despite(error, datastore):
                raise  # the pool is busy, the database is there: no outage
            availability.mark_down()
            raise
        try:
            yield conn
        except BaseException as error:
            if not opened.__exit__(type(error), error, error.__traceback__):
                raise
        else:
            opened.__exit__(None, None, None)

    datastore.get_connection = guarded


def reachable_despite(error: BaseException, datastore: Any) -> bool:
    """Whether the database answers although the pool gave no connection in time: a pool
    timeout under load is not an outage (a fresh connection, tried once, tells them apart)."""
    if not isinstance(error.__cause__, psycopg_pool.PoolTimeout):
        return False
    try:
        options = {**(datastore.pool.kwargs or {}), "connect_timeout": 2}
        psycopg.connect(datastore.pool.conninfo, **options).close()
    except psycopg.Error:
        return False
    return True
