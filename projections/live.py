"""Following the event store live on PostgreSQL: the advisory-lock leases that make one
projector active per view, and the LISTEN connection that wakes it."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from typing import Any

import sqlalchemy as sa

from domain.application import Twinning
from projections.registry import VIEWS
from projections.view import View

log = logging.getLogger("twinning.projections")

# Catch-ups start at least this far apart, so that a stream of commands is applied in
# batches; a NOTIFY later than that is taken at once (docs/PERFORMANCE.md, item 16).
COALESCE = 0.02


class Leases:
    """Session-level PostgreSQL advisory locks, one a view, held on a dedicated connection.

    The process holding a view's lock is its active projector. When the process or its
    connection dies, PostgreSQL releases the lock and a standby takes it on its next try.
    """

    def __init__(self, app: Twinning, views: list[View]) -> None:
        self.app = app
        self.views = views
        self.conn: Any = None
        self.held: set[str] = set()

    @staticmethod
    def key(schema: str, view: str) -> int:
        digest = hashlib.sha256(f"twinning-projector:{schema}:{view}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _schema(self) -> str:
        return str(self.app.env.get("POSTGRES_SCHEMA") or "public")

    def acquire(self) -> list[View]:
        """Keeps the locks held, tries for the others; returns the views held now."""
        try:
            if self.conn is None or self.conn.closed:
                import psycopg

                self.held.clear()
                self.conn = psycopg.connect(
                    autocommit=True,
                    application_name=f"twinning-projector {socket.gethostname()} {os.getpid()}",
                    **_connection_kwargs(self.app),
                )
            else:
                self.conn.execute("SELECT 1")  # a lost connection means lost locks
            for view in self.views:
                if view.name in self.held:
                    continue
                key = self.key(self._schema(), view.name)
                row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    self.held.add(view.name)
        except Exception as error:  # the database went away: hold nothing until it is back
            log.warning("projector leases lost: %s", type(error).__name__)
            self.close()
        return [view for view in self.views if view.name in self.held]

    def close(self) -> None:
        self.held.clear()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


def holders(engine: sa.Engine, schema: str) -> dict[str, str]:
    """Which projector process holds each view's lease (PostgreSQL; empty on SQLite)."""
    if engine.dialect.name != "postgresql":
        return {}
    keys = {Leases.key(schema, view.name): view.name for view in VIEWS}
    query = sa.text(
        "SELECT ((l.classid::bigint << 32) | l.objid::bigint) AS key, a.application_name"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    )
    found = {}
    with engine.connect() as conn:
        for key, name in conn.execute(query):
            signed = key - 2**64 if key >= 2**63 else key
            if signed in keys:
                found[keys[signed]] = name
    return found


class PostgresListener:
    """Waits for the event store's NOTIFY on one dedicated connection; reconnects as needed."""

    def __init__(self, app: Twinning, channel: str) -> None:
        self.app = app
        self.channel = channel
        self.conn: Any = None
        self.returned = 0.0  # when the last call returned (a catch-up started then)

    def _connect(self) -> None:
        import psycopg
        from psycopg import sql

        self.conn = psycopg.connect(autocommit=True, **_connection_kwargs(self.app))
        self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))

    def __call__(self, timeout: float) -> None:
        try:
            if self.conn is None:
                # Listening starts now: return at once so the runner catches up with what
                # was recorded before, then waits for notifications.
                self._connect()
                return
            woken = False
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                woken = True
            if woken:
                # Let the commands of the rest of COALESCE land too, then take every
                # notification queued meanwhile: one batch for all of them, not one each.
                pause = COALESCE - (time.monotonic() - self.returned)
                if pause > 0:
                    time.sleep(pause)
                for _ in self.conn.notifies(timeout=0):
                    pass
        except Exception:  # the database went away: pause, reconnect on the next call
            self.close()
            time.sleep(timeout)
        finally:
            self.returned = time.monotonic()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


def _connection_kwargs(app: Twinning) -> dict[str, Any]:
    env = app.env
    return {
        "host": env.get("POSTGRES_HOST"),
        "port": env.get("POSTGRES_PORT"),
        "user": env.get("POSTGRES_USER"),
        "password": env.get("POSTGRES_PASSWORD") or None,
        "dbname": env.get("POSTGRES_DBNAME"),
        "connect_timeout": 10,
    }
