"""The read check: one statement reads a bearer token's row, the list view's position and the
event store's head (on SQLite, the events' file is attached to the views' file for it), and on
PostgreSQL which aggregates changed since a given position (docs/PERFORMANCE.md, items 8, 15)."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from eventsourcing.utils import retry
from psycopg import errors, pq, sql
from psycopg.adapt import Transformer

from projections.tracking import tracking_table
from service.infrastructure.availability import Availability
from service.infrastructure.credentials import tokens
from service.infrastructure.readcache.aggregates import Change

# Past this many events since the last look, dropping everything is cheaper than reading
# which aggregates they were about.
MAX_GAP = 500
# The read view whose position the check reads (its pages are kept at that position).
LIST_VIEW = "initiatives"

# The check's statement: the token row, the list view's position and the event store's head.
_CHECK = (
    "SELECT t.token_hash, t.account_id, t.expires_at, t.revoked_at, "
    "(SELECT position FROM {tracking} WHERE name = {view}) AS list_position, "
    "(SELECT max({position}) FROM {events}) AS head "
    "FROM {tokens} t WHERE t.token_hash = {digest}"
)


# The check's name where it is prepared on a PostgreSQL connection, and the application name
# its connections carry.
CHECK_NAME = b"twinning_read_check"
CHECK_APPLICATION = "twinning-read-check"


# The same on PostgreSQL, with the aggregates the events after a given position (up to the
# head read in the same snapshot) were about, when there are 1 to MAX_GAP of them.
_PG_CHECK = (
    "WITH h AS (SELECT max(notification_id) AS head FROM {events}) "
    "SELECT t.token_hash, t.account_id, t.expires_at, t.revoked_at, "
    "(SELECT position FROM {tracking} WHERE name = $1) AS list_position, h.head, "
    "CASE WHEN $3::bigint >= 0 AND h.head - $3::bigint BETWEEN 1 AND {gap} THEN "
    "(SELECT array_agg(e.originator_id::text || ' ' || e.originator_version::text) FROM {events} e "
    "WHERE e.notification_id > $3::bigint AND e.notification_id <= h.head) END AS changed "
    "FROM {tokens} t CROSS JOIN h WHERE t.token_hash = $2"
)


# Which aggregates the events between two positions were about, and their versions.
_CHANGED = (
    "SELECT originator_id, originator_version FROM {events} "
    "WHERE {position} > {p} AND {position} <= {p}"
)


def change_of(item: Any) -> Change:
    """One changed event: "<id> <version>" from the PostgreSQL check's array, or a row of
    `_CHANGED`."""
    if isinstance(item, str):
        ident, _, version = item.rpartition(" ")
        return Change(UUID(ident), int(version))
    return Change(UUID(str(item[0])), int(item[1]))


class _PerThread:
    """One connection per thread, opened by `open` on the thread's first use and closed when
    the thread ends (its thread-local goes, and with it the holder) or at `close`: a server
    that starts a thread per request leaves no connection behind."""

    class _Holder:
        __slots__ = ("__weakref__", "conn")

        def __init__(self, conn: Any) -> None:
            self.conn = conn

    def __init__(self, open_: Callable[[], Any]) -> None:
        self.open = open_
        self.local = threading.local()
        self.lock = threading.Lock()
        self.closers: list[weakref.finalize[Any, Any]] = []

    def get(self) -> Any:
        holder = getattr(self.local, "holder", None)
        if holder is not None:
            return holder.conn
        conn = self.open()
        holder = self.local.holder = self._Holder(conn)
        closer = weakref.finalize(holder, conn.close)
        with self.lock:
            self.closers = [c for c in self.closers if c.alive]
            self.closers.append(closer)
        return conn

    def discard(self) -> None:
        """Closes this thread's connection (the next `get` opens another)."""
        holder = getattr(self.local, "holder", None)
        self.local.holder = None
        if holder is not None:
            holder.conn.close()

    def close(self) -> None:
        with self.lock:
            closers, self.closers = self.closers, []
        for closer in closers:
            closer()


class PostgresCheck:
    """Events, tokens and views share the database: one statement, prepared on a connection
    each request thread keeps for it (autocommit) and run through libpq itself, for a third
    of the CPU of the pool and a cursor (docs/PERFORMANCE.md, item 8). A dropped connection
    fails once and is replaced; during a known outage no attempt waits (availability)."""

    def __init__(self, recorder: Any, views_schema: str | None, availability: Availability) -> None:
        datastore = recorder.datastore
        self.availability = availability
        self.conninfo = datastore.pool.conninfo
        self.options = {
            **{k: v for k, v in (datastore.pool.kwargs or {}).items() if k != "row_factory"},
            "autocommit": True,
            "connect_timeout": max(1, int(datastore.pool.timeout)),
            "application_name": CHECK_APPLICATION,  # how pg_stat_activity names them
        }
        self.connections = _PerThread(self._open)
        self._loaders = threading.local()
        self._names: list[str] | None = None

        def table(schema: str | None, name: str) -> str:
            if schema is None:  # where the search path finds it, as SQLAlchemy created it
                return sql.Identifier(name).as_string(None)
            return (
                sql.SQL("{}.{}")
                .format(sql.Identifier(schema), sql.Identifier(name))
                .as_string(None)
            )

        # Plain bytes, composed once; libpq's numbered parameters.
        events = table(datastore.schema, recorder.events_table_name)
        self.statement = _PG_CHECK.format(
            tracking=table(views_schema, tracking_table.name),
            events=events,
            tokens=table(views_schema, tokens.name),
            gap=MAX_GAP,
        ).encode()
        self.changed_statement = _CHANGED.format(
            p="%s", position="notification_id", events=events
        ).encode()

    def _open(self) -> Any:
        """A connection for a thread, with the statement prepared on it."""
        if not self.availability.available():
            raise OperationalError("The database is not reachable.")
        try:
            conn = psycopg.connect(self.conninfo, **self.options)
        except psycopg.Error as error:
            self.availability.mark_down()
            raise OperationalError(str(error)) from error
        # Prepared at the protocol level, as psycopg prepares (PgBouncer 1.21 and later keep
        # such statements in transaction pooling; a SQL PREPARE would not be).
        prepared = conn.pgconn.prepare(CHECK_NAME, self.statement)
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            broken = conn.pgconn.status != pq.ConnStatus.OK
            message = (prepared.error_message or conn.pgconn.error_message).decode(errors="replace")
            conn.close()
            if broken:
                raise OperationalError(message)  # retried on a new connection
            raise ProgrammingError(f"The read check cannot be prepared: {message}")
        return conn

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.05)
    def row(self, digest: str, after: int | None) -> Mapping[str, Any] | None:
        """The statement's one row (None for no such token), with the aggregates changed
        after position `after` (None: not asked)."""
        conn = self.connections.get()
        pgconn = conn.pgconn
        since = b"-1" if after is None else str(after).encode()
        result = pgconn.exec_prepared(CHECK_NAME, [LIST_VIEW.encode(), digest.encode(), since])
        if result.status != pq.ExecStatus.TUPLES_OK:
            message = (result.error_message or pgconn.error_message).decode(errors="replace")
            if pgconn.status != pq.ConnStatus.OK:
                self.connections.discard()
                raise OperationalError(message)  # retried on a new connection
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            raise errors.lookup(state.decode())(message) if state else errors.DatabaseError(message)
        if result.ntuples == 0:
            return None
        names = self._names
        if names is None:
            names = self._names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
        loader = self._loader(conn)
        loader.set_pgresult(result)
        return dict(zip(names, loader.load_row(0, tuple), strict=True))

    def _loader(self, conn: Any) -> Transformer:
        """The row loader of this thread's connection, kept with it (as a cursor keeps its
        own): a new one per call builds a loader for each column again."""
        local = self._loaders
        if getattr(local, "conn", None) is not conn:
            local.conn, local.loader = conn, Transformer(conn)
        loader: Transformer = local.loader
        return loader

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.05)
    def changed(self, after: int, upto: int) -> list[Change]:
        """The aggregates the events after position `after`, up to `upto`, were about."""
        conn = self.connections.get()
        try:
            rows = conn.execute(self.changed_statement, (after, upto)).fetchall()
        except psycopg.OperationalError as error:
            if conn.broken or conn.closed:
                self.connections.discard()
            raise OperationalError(str(error)) from error
        return [change_of(row) for row in rows]

    def close(self) -> None:
        self.connections.close()


class SqliteCheck:
    """The views' file with the events' file attached, on a connection per thread
    (autocommit: each statement reads the latest commits of both files)."""

    def __init__(self, views: Path, events: Path, events_table: str) -> None:
        self.views, self.events = views, events
        attached = f'events."{events_table}"'
        self.statement = _CHECK.format(
            view="?",
            digest="?",
            tracking=f'"{tracking_table.name}"',
            position="rowid",
            events=attached,
            tokens=f'"{tokens.name}"',
        )
        self.changed_statement = _CHANGED.format(p="?", position="rowid", events=attached)
        self.connections = _PerThread(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.views, timeout=30, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("ATTACH DATABASE ? AS events", (str(self.events),))
        return conn

    def changed(self, after: int, upto: int) -> list[Change]:
        rows = self.connections.get().execute(self.changed_statement, (after, upto)).fetchall()
        return [change_of(row) for row in rows]

    def row(self, digest: str, after: int | None) -> Mapping[str, Any] | None:
        """The check's row; what changed after `after` is left to `changed`."""
        found = self.connections.get().execute(self.statement, (LIST_VIEW, digest)).fetchone()
        if found is None:
            return None
        row = dict(found)
        expires = row["expires_at"]
        if isinstance(expires, str):  # SQLAlchemy's text form of a DateTime on SQLite
            row["expires_at"] = datetime.fromisoformat(expires)
        return row

    def close(self) -> None:
        self.connections.close()
