"""What a process has loaded or rendered, kept while the event store shows nothing newer.

Every request looks its bearer token up; the same statement reads the head of the event
store (the position of the last recorded event) and the list view's position (on SQLite,
the events' file is attached to the views' file for it). When the head has moved since
this process last looked, the notifications in between name the aggregates that changed,
and only those are dropped. So an entry in use is never older than the head the request
itself observed, whichever process recorded the change: the guarantee of reading the
store, without a round trip to it for the caller's account and for the initiative read.

Filling follows one rule: an entry is stored only if no newer head was taken in while it
was being loaded (a load that started before an event could miss it after the
notifications naming it were already handled). Tokens are read on every request, so a
revoked token or a deactivated account (whose tokens are revoked with it) is refused at
once.

Commands use the same notifications: with each changed aggregate they name its version,
and the application's aggregate cache (`CheckedRepository`) skips the fetch of newer events
for an aggregate the request's check shows current.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import (
    AggregateNotFoundError,
    LRUCache,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from eventsourcing.utils import retry
from flask import has_request_context
from psycopg import errors, pq, sql
from psycopg.adapt import Transformer

from domain.account import Account
from domain.application import Twinning
from domain.values import Caller
from projections.tracking import tracking_table
from service.config import Database
from service.context import request_globals
from service.infrastructure.availability import Availability
from service.infrastructure.credentials import live_account, tokens

# Past this many events since the last look, dropping everything is cheaper than reading
# which aggregates they were about.
MAX_GAP = 500
# How many aggregates' latest versions are followed (about 150 bytes each) before a new
# epoch starts afresh: what was shown current is then fast-forwarded once more.
VERSIONS_KEPT = 20_000
# The read view whose pages are kept, and how many pages (each at the view's position).
LIST_VIEW = "initiatives"
PAGES = 256
# Rendered initiatives kept per initiative (one per distinct caller: organisation and roles).
CALLERS_PER_INITIATIVE = 8


@dataclass(frozen=True)
class TokenCheck:
    """A token as the database holds it now, and the head of the event store then."""

    account_id: str | None
    head: int
    # How far the list view had got (None when it has no position yet).
    list_position: int | None = None
    # (this cache, head, epoch) for the aggregate cache's fast-forward (see
    # `CheckedRepository`); None when this process does not follow the store's changes.
    fresh: tuple[Any, int, int] | None = None


class ReadCache:
    """Accounts, rendered initiatives and list pages of one process, kept true to the event
    store's head and the list view's position (see the module's docstring). `size` bounds
    accounts and initiatives; 0 turns the cache off."""

    def __init__(
        self, app: Twinning, database: Database, size: int, availability: Availability
    ) -> None:
        self.app = app
        self.size = size
        self.head: int | None = None
        self._lock = threading.Lock()
        self._accounts: OrderedDict[UUID, Account] = OrderedDict()
        self._bodies: OrderedDict[UUID, dict[Caller, tuple[int, Any]]] = OrderedDict()
        self._pages: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        # What the application's aggregate cache may skip (see `CheckedRepository`): from
        # `_since` (a head), the latest version of every aggregate the events after it were
        # about; and the cached aggregate objects known to hold every event of theirs up to
        # a position, each stamped in an epoch (a new epoch begins whenever those versions
        # are not all known: the first look, a gap past MAX_GAP, too many of them).
        self._epoch = 0
        self._since: int | None = None
        self._versions: dict[UUID, int] = {}
        self._stamps: OrderedDict[UUID, tuple[Any, int, int]] = OrderedDict()
        recorder: Any = app.recorder
        self._check: _PostgresCheck | _SqliteCheck
        if database.kind == "postgres":
            self._check = _PostgresCheck(recorder, database.schema or None, availability)
        else:
            assert database.views_path is not None and database.events_path is not None
            self._check = _SqliteCheck(
                database.views_path, database.events_path, recorder.events_table_name
            )

    def close(self) -> None:
        self._check.close()

    def follow_commands(self) -> None:
        """Lets the application's aggregate cache skip the fast-forward of an aggregate the
        request's check shows current, and keeps what each save recorded in that cache
        (see `CheckedRepository`); nothing when either cache is off."""
        repository = self.app.repository
        cache = repository.cache
        if (
            not self.size
            or not isinstance(cache, LRUCache)
            or not repository.fastforward
            or repository.fastforward_skipping
            or not repository.deepcopy_from_cache
        ):
            return
        checked = CheckedRepository(
            self,
            event_store=repository.event_store,
            snapshot_store=repository.snapshot_store,
            cache_maxsize=cache.maxsize,
            fastforward=True,
        )
        self.app.use_repository(checked)
        self.app.on_saved = checked.saved
        self.app.on_conflict = self.conflicted

    # ------------------------------------------------------- the aggregate cache's stamps
    def is_current(self, aggregate_id: UUID, cached: Any) -> bool:
        """Whether the cached object holds every event of its aggregate up to this process's
        head: it was stamped in this epoch at or after the epoch's start, and no newer
        version was seen since."""
        with self._lock:
            stamp = self._stamps.get(aggregate_id)
            current = (
                stamp is not None
                and stamp[0] is cached
                and stamp[2] == self._epoch
                and self._since is not None
                and stamp[1] >= self._since
                and cached.version >= self._versions.get(aggregate_id, -1)
            )
            if current:
                self._stamps.move_to_end(aggregate_id)
            return current

    def stamp(self, aggregate_id: UUID, cached: Any, upto: int, epoch: int) -> None:
        """Records that the cached object holds every event of its aggregate up to `upto`
        (a request of `epoch` saw it so)."""
        with self._lock:
            if epoch != self._epoch:
                return
            self._stamps[aggregate_id] = (cached, upto, epoch)
            self._stamps.move_to_end(aggregate_id)
            while len(self._stamps) > self.size:
                self._stamps.popitem(last=False)

    def conflicted(self, tried: Mapping[UUID, int]) -> None:
        """An insert failed on a version: the store holds each aggregate at least at the
        version it tried, whatever this process has seen (a copy loaded before the conflict
        and kept after it must not pass for current)."""
        with self._lock:
            for aggregate_id, version in tried.items():
                self._stamps.pop(aggregate_id, None)
                if version > self._versions.get(aggregate_id, -1):
                    self._versions[aggregate_id] = version

    def _new_epoch(self, head: int) -> None:
        self._epoch += 1
        self._since = head
        self._versions.clear()
        self._stamps.clear()

    def check_token(self, digest: str, now: datetime) -> TokenCheck:
        """The live token's account (None when unknown, expired or revoked), the head of
        the event store and the list view's position, read in one statement; the cache is
        brought up to that head."""
        after = self.head
        row = self._check.row(digest, after)
        if row is None:
            return TokenCheck(None, self.head or 0)  # refused: nothing is read
        head = int(row["head"] or 0)
        self.advance(head, after, row.get("changed"))
        listed = None if row["list_position"] is None else int(row["list_position"])
        fresh = (self, head, self._epoch) if self.size else None
        return TokenCheck(live_account(row, digest, now), head, listed, fresh)

    def advance(
        self, head: int, after: int | None = None, changed: list[Any] | None = None
    ) -> None:
        """Drops what changed between the last head this process saw and `head`.

        `changed` names the aggregates of the events after `after` up to `head`, when the
        check read them with the head (PostgreSQL): they are used when they cover what is
        to be dropped, else the store is asked."""
        while self.size:
            last = self.head
            if last is not None and head <= last:
                return  # this head, or a newer one, was taken in already
            names = None
            if last is not None and head - last <= MAX_GAP:
                covered = changed is not None and after is not None and after <= last
                # The store is asked outside the lock: loads and commands go on meanwhile.
                names = changed if covered else self._check.changed(last, head)
            with self._lock:
                if self.head != last:
                    continue  # another request moved the head first: start from its head
                if names is None:
                    self._accounts.clear()
                    self._bodies.clear()
                    self._new_epoch(head)
                else:
                    versions = self._versions
                    for item in names:
                        key, version = _change(item)
                        self._accounts.pop(key, None)
                        self._bodies.pop(key, None)
                        if version > versions.get(key, -1):
                            versions[key] = version
                    if len(versions) > VERSIONS_KEPT:
                        self._new_epoch(head)
                self.head = head
                return

    # ------------------------------------------------------------------ entries
    def account(self, account_id: UUID, head: int | None) -> Account:
        """The account as of `head` or later (raises NotFound like the application); with
        no head checked, straight from the store."""
        if head is None:
            return self.app.account(account_id)
        with self._lock:
            account = self._accounts.get(account_id)
            if account is not None:
                self._accounts.move_to_end(account_id)
                return account
        account = self.app.account(account_id)
        self._put(self._accounts, account_id, account, head)
        return account

    def initiative_body(
        self,
        initiative_id: UUID,
        caller: Caller,
        head: int | None,
        render: Callable[[], tuple[int, Any]],
    ) -> tuple[int, Any]:
        """(version, body) of the current initiative as `caller` sees it; `render` loads
        and renders it when this process has no rendering as of `head` or later (with no
        head checked, always)."""
        if head is None:
            return render()
        key = Caller(caller.account_id, caller.organisation_id, caller.roles)
        with self._lock:
            seen = self._bodies.get(initiative_id)
            if seen is not None and key in seen:
                self._bodies.move_to_end(initiative_id)
                return seen[key]
        rendered = render()
        with self._lock:
            if self.size and self.head == head:
                seen = self._bodies.setdefault(initiative_id, {})
                if len(seen) >= CALLERS_PER_INITIATIVE:
                    seen.pop(next(iter(seen)))
                seen[key] = rendered
                self._bodies.move_to_end(initiative_id)
                while len(self._bodies) > self.size:
                    self._bodies.popitem(last=False)
        return rendered

    def page(self, key: str, position: int | None, render: Callable[[], Any]) -> Any:
        """A page of the list view at `position` or later: one kept under `position` is
        served to requests that read that same position (the view's rows and position are
        written in one transaction); `render` reads it otherwise (possibly a little later
        than `position`: never older), and only text bodies are kept."""
        if position is None or not self.size:
            return render()
        with self._lock:
            hit = self._pages.get(key)
            if hit is not None and hit[0] == position:
                self._pages.move_to_end(key)
                return hit[1]
        body = render()
        if isinstance(body, str):
            with self._lock:
                self._pages[key] = (position, body)
                self._pages.move_to_end(key)
                while len(self._pages) > PAGES:
                    self._pages.popitem(last=False)
        return body

    def _put(self, entries: OrderedDict[UUID, Any], key: UUID, value: Any, head: int) -> None:
        with self._lock:
            if not self.size or self.head != head:
                return  # a newer head came in while loading: the value may predate it
            entries[key] = value
            entries.move_to_end(key)
            while len(entries) > self.size:
                entries.popitem(last=False)


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


def _change(item: Any) -> tuple[UUID, int]:
    """(aggregate, version) of one changed event: "<id> <version>" from the PostgreSQL
    check's array, or a row of `_CHANGED`."""
    if isinstance(item, str):
        ident, _, version = item.rpartition(" ")
        return UUID(ident), int(version)
    return UUID(str(item[0])), int(item[1])


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


class _PostgresCheck:
    """Events, tokens and views share the database: one statement, prepared on a connection
    each request thread keeps for it (autocommit), and run through libpq itself.

    Process CPU per call, measured (docs/PERFORMANCE.md, item 8): through the event store's
    pool and psycopg's cursor about 140 us, of which the pool's checkout and return about
    60 us; on the thread's own connection through libpq about 50 us. A connection the server
    dropped (a restart) fails once and is closed, and the next attempt opens another; during
    a known outage no attempt waits (infrastructure.availability), and one that cannot
    connect marks the outage."""

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
    def changed(self, after: int, upto: int) -> list[Any]:
        """The aggregates the events after position `after`, up to `upto`, were about."""
        conn = self.connections.get()
        try:
            rows = conn.execute(self.changed_statement, (after, upto)).fetchall()
        except psycopg.OperationalError as error:
            if conn.broken or conn.closed:
                self.connections.discard()
            raise OperationalError(str(error)) from error
        return [(row[0], row[1]) for row in rows]

    def close(self) -> None:
        self.connections.close()


class _SqliteCheck:
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

    def changed(self, after: int, upto: int) -> list[Any]:
        rows = self.connections.get().execute(self.changed_statement, (after, upto)).fetchall()
        return [(row["originator_id"], row["originator_version"]) for row in rows]

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


class CheckedRepository(Repository[UUID]):
    """eventsourcing's repository, fast-forwarding a cached aggregate only when the request
    cannot show it current, and keeping what each save recorded in the cache.

    eventsourcing fetches the events after a cached aggregate's version on every load, so
    that no process acts on an aggregate another process changed: one statement per
    aggregate per command. The request's check (`ReadCache.check_token`) has already read
    the store's head, and the read cache has learnt, for every event between its heads, the
    aggregate and version it recorded. A cached object stamped as holding every event of its
    aggregate up to a position at or after the epoch's start, and not behind any version
    seen since, holds every event up to the head the request read; an event recorded after
    that check is concurrent with the request, and an insert that meets it fails on the
    version as before (the application then drops the cached copy and loads afresh).

    Objects are stamped when a request loaded or fast-forwarded them (they then hold every
    event up to the request's head), and when a save recorded them: a copy of the saved
    aggregate goes into the cache, stamped with the position of its last event, since its
    insert succeeding means no other event of it comes earlier. A conflict on insert marks
    the version tried as seen (`ReadCache.conflicted`). What the cache holds is never
    changed in place: a fast-forward works on a copy and puts it back, so a copy being taken
    for a command or a read never meets a half-applied event. Loads outside a request (the
    projector, the command line) fast-forward every time, as eventsourcing does."""

    def __init__(self, reads: ReadCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reads = reads

    def get(  # type: ignore[override]
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        cache = self.cache
        if version is not None or cache is None:
            return super().get(
                aggregate_id,
                version=version,
                projector_func=projector_func,
                fastforward_skipping=fastforward_skipping,
                deepcopy_from_cache=deepcopy_from_cache,
            )
        fresh = _request_fresh(self.reads)
        cached = _cached(cache, aggregate_id)
        if cached is None:
            kept = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        elif fresh is not None and self.reads.is_current(aggregate_id, cached):
            return deepcopy(cached)
        else:  # fast-forwarded on a copy: what the cache holds is never changed in place
            events = self.event_store.get(originator_id=aggregate_id, gt=cached.version)
            kept = projector_func(deepcopy(cached), events)
            if kept is None:
                raise AggregateNotFoundError(aggregate_id)
        cache.put(aggregate_id, kept)
        if fresh is not None:  # read after the request's check: every event up to its head
            self.reads.stamp(aggregate_id, kept, *fresh)
        return deepcopy(kept)

    def saved(self, aggregates: Mapping[UUID, Any], recordings: list[Any]) -> None:
        """After a save in a request: a copy of each aggregate it recorded, stamped."""
        fresh = _request_fresh(self.reads)
        cache = self.cache
        if fresh is None or cache is None:
            return
        last: dict[UUID, int] = {}
        for recording in recordings:
            key = recording.domain_event.originator_id
            last[key] = max(last.get(key, 0), recording.notification.id)
        for key, aggregate in aggregates.items():
            if key in last:
                kept = deepcopy(aggregate)
                cache.put(key, kept)
                self.reads.stamp(key, kept, last[key], fresh[1])


def _cached(cache: Any, aggregate_id: UUID) -> Any:
    try:
        return cache.get(aggregate_id)
    except KeyError:
        return None


def _request_fresh(reads: ReadCache) -> tuple[int, int] | None:
    """(head, epoch) the current request's check read in `reads`, or None outside a request
    checked there."""
    if not has_request_context():
        return None
    fresh: tuple[Any, int, int] | None = request_globals().get("fresh")
    if fresh is None or fresh[0] is not reads:
        return None
    return fresh[1], fresh[2]
