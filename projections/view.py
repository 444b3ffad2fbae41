"""What a read view is: tables, and how a batch of events changes them.

Most views fold each event into one document per aggregate (`DocumentView`); the audit view
appends entries. The runner owns batching, tracking and transactions.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

Document = dict[str, Any]
Rows = dict[str, list[dict[str, Any]]]  # table key -> rows
Tables = dict[str, sa.Table]  # table key -> table
Batch = list[tuple[Any, Any]]  # (notification, event) pairs, in position order
Ids = set[str] | None  # the ids a rebuild's tables hold so far (None: not a rebuild)


class View:
    """A read view: the tables it is stored in, and how a batch of events changes them."""

    name: str = ""
    # The aggregate whose events the view reads (a prefix of the event's topic name);
    # empty: every event.
    aggregate: str = ""

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        """The view's tables, named with `suffix` (empty for the live tables)."""
        raise NotImplementedError

    def apply(
        self, conn: sa.Connection, tables: Tables, events: Batch, app: Any, stored: Ids
    ) -> None:
        """Applies a batch of (notification, event) pairs to the tables in `conn`'s
        transaction. `stored`, when given, holds every id the tables have (a rebuild's fresh
        tables)."""
        raise NotImplementedError


class DocumentView(View):
    """A view that folds each event into the document of its aggregate (a plain dict, pure
    Python) and stores a document as a main row plus rows in index tables for filtering.

    Subclasses dispatch on the event's class, as eventsourcing's `Projection` does: each
    defines `when`, a `singledispatchmethod` with a method registered per event class, and
    calls it through `handler`."""

    main_key: str = "main"

    def __init__(self) -> None:
        self._handlers: dict[type, Callable[..., Any] | None] = {}

    def handler(self, event: Any) -> Callable[..., Any] | None:
        """The method `when` dispatches the event to, bound to this view; None for an event
        of a class the view ignores (one `when` has no method registered for). Resolved once
        per class: a singledispatchmethod binds anew on every call (docs/PERFORMANCE.md,
        item 21)."""
        kind = type(event)
        try:
            return self._handlers[kind]
        except KeyError:
            dispatcher = inspect.getattr_static(self, "when").dispatcher
            method = dispatcher.dispatch(kind)
            found = None if method is dispatcher.dispatch(object) else method.__get__(self)
            self._handlers[kind] = found
            return found

    def fold(self, document: Document | None, event: Any, position: int) -> Document | None:
        """The document after the event; None for an event the view ignores."""
        raise NotImplementedError

    def rows(self, document: Document) -> Rows:
        """The rows that store a document, keyed like `define`'s tables."""
        raise NotImplementedError

    def apply(
        self, conn: sa.Connection, tables: Tables, events: Batch, app: Any, stored: Ids
    ) -> None:
        """Folds the batch into the documents and stores the changed ones; with `stored`,
        only those ids are looked up, and the ids stored by this batch are added to it."""
        keys = [str(event.originator_id) for _, event in events]
        ids = set(keys)
        documents = self.load(conn, tables, ids if stored is None else ids & stored)
        existing = set(documents)
        changed = {}
        for key, (notification, event) in zip(keys, events, strict=True):
            folded = self.fold(documents.get(key), event, notification.id)
            if folded is not None:
                documents[key] = changed[key] = folded
        self.store(conn, tables, changed, existing)
        if stored is not None:
            stored.update(changed)

    # ------------------------------------------------------------------ storage
    def load(
        self, conn: sa.Connection, tables: dict[str, sa.Table], ids: Iterable[str]
    ) -> dict[str, Document]:
        main = tables[self.main_key]
        found: dict[str, Document] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in conn.execute(sa.select(main.c.id, main.c.doc).where(main.c.id.in_(chunk))):
                found[row.id] = decode(row.doc)
        return found

    def store(
        self,
        conn: sa.Connection,
        tables: dict[str, sa.Table],
        documents: dict[str, Document],
        existing: set[str],
    ) -> None:
        """Replaces the rows of the given documents: deletes those that were stored before,
        then inserts every document's rows in bulk."""
        ids = [key for key in documents if key in existing]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for key, table in tables.items():
                column = table.c.id if key == self.main_key else table.c.ref
                conn.execute(sa.delete(table).where(column.in_(chunk)))
        batched: dict[str, list[dict[str, Any]]] = {key: [] for key in tables}
        for document in documents.values():
            for key, rows in self.rows(document).items():
                batched[key].extend(rows)
        for key, rows in batched.items():
            if rows:
                insert_many(conn, tables[key], rows)


def insert_many(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Bulk insert straight through the driver: the statement is compiled once, and only
    the columns whose type needs it are converted (docs/PERFORMANCE.md, item 21)."""
    dialect = conn.dialect
    columns = list(table.c)
    statement = str(sa.insert(table).compile(dialect=dialect))
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    names = [column.name for column in columns]
    converting = [(i, p) for i, p in enumerate(processors) if p is not None]
    pick = itemgetter(*names)
    if dialect.paramstyle == "qmark":
        parameters: list[Any] = []
        for row in rows:
            values = pick(row) if len(names) > 1 else (pick(row),)
            if converting:
                values = list(values)
                for i, process in converting:
                    values[i] = process(values[i])
            parameters.append(tuple(values))
    else:
        parameters = []
        for row in rows:
            values = dict(zip(names, pick(row) if len(names) > 1 else (pick(row),), strict=True))
            for i, process in converting:
                values[names[i]] = process(values[names[i]])
            parameters.append(values)
    conn.exec_driver_sql(statement, parameters)


def encode(document: Document) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_default)


def decode(raw: str | bytes | dict[str, Any]) -> Document:
    if isinstance(raw, dict):
        return raw
    return dict(json.loads(raw))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; everything stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the API's one way of writing a moment."""
    if moment.tzinfo is UTC:  # events' own timestamps: the common case, kept fast
        return moment.isoformat().replace("+00:00", "Z")
    return aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
