"""The organisations list."""

from __future__ import annotations

import sqlalchemy as sa

from projections.queries.paging import BadCursor, Page, decode_cursor, encode_cursor
from projections.registry import LIVE
from projections.view import decode

ORGANISATIONS = LIVE["organisations"]["main"]


def list_organisations(conn: sa.Connection, *, limit: int, cursor: str | None) -> Page:
    query = sa.select(ORGANISATIONS.c.position, ORGANISATIONS.c.doc)
    if cursor:
        [after] = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise BadCursor("Invalid cursor.")
        query = query.where(ORGANISATIONS.c.position > after)
    rows = conn.execute(query.order_by(ORGANISATIONS.c.position).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [decode(row.doc) for row in rows]
    for item in items:
        item.pop("position", None)
    return Page(items, encode_cursor(rows[-1].position) if more else None)
