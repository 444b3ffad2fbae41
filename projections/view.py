"""What a read view is: tables, and a fold of events into one document per aggregate.

A view folds each event into the document of its aggregate (a plain dict, pure Python), and
says how a document is stored: a main row plus rows in index tables for filtering. The
runner owns batching, loading, storing, tracking and transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

Document = dict[str, Any]
Rows = dict[str, list[dict[str, Any]]]  # table key -> rows


class View:
    """Base class of the read views: subclasses name their tables, fold and rows."""

    name: str = ""
    main_key: str = "main"

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        """The view's tables, named with `suffix` (empty for the live tables)."""
        raise NotImplementedError

    def fold(self, document: Document | None, event: Any, position: int) -> Document | None:
        """The document after the event; None for an event the view ignores."""
        raise NotImplementedError

    def rows(self, document: Document) -> Rows:
        """The rows that store a document, keyed like `define`'s tables."""
        raise NotImplementedError

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
        self, conn: sa.Connection, tables: dict[str, sa.Table], documents: dict[str, Document]
    ) -> None:
        """Replaces the rows of the given documents: delete them, then insert in bulk."""
        ids = list(documents)
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
                conn.execute(sa.insert(tables[key]), rows)


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


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def event_name(event: Any) -> str:
    return type(event).__qualname__
