"""The audit view's reads: entries (filtered, paged or streamed), an initiative's history
and the states it entered, the head of the hash chain and its verification."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from domain.errors import InvalidFields
from domain.initiative import STATE_AFTER, Initiative
from projections import verification
from projections.chain import CHAIN_START
from projections.queries.paging import BadCursor, decode_cursor, encode_cursor
from projections.registry import LIVE
from projections.view import iso

ENTRIES = LIVE["audit"]["entries"]
# The events that may change an initiative's state: the domain's transitions, and reviews.
STATE_EVENTS = sorted(
    {kind.__name__ for kind in STATE_AFTER} | {Initiative.ReviewRecorded.__name__}
)


def entry(row: Any) -> dict[str, Any]:
    """An audit entry as the API shows it."""
    return {
        "position": int(row.position),
        "version": int(row.version),
        "type": row.type,
        "at": iso(row.at),
        "actor": {
            "account_id": row.actor_account_id,
            "organisation_id": row.actor_organisation_id,
            "role": row.actor_role,
        },
        "request_id": row.request_id,
        "changes": json.loads(row.changes),
        "rationale": row.rationale,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "initiative_id": row.initiative_id,
    }


def cursor_position(cursor: str) -> int:
    """The position a page cursor continues after; InvalidFields for a bad cursor."""
    try:
        [after] = decode_cursor(cursor, 1)
    except BadCursor as error:
        raise InvalidFields({"cursor": [str(error)]}) from None
    if not isinstance(after, int):
        raise InvalidFields({"cursor": ["Invalid cursor."]})
    return after


def _entry_conditions(query: dict[str, Any]) -> list[Any]:
    conditions = []
    for field, column in (
        ("actor_id", ENTRIES.c.actor_account_id),
        ("organisation_id", ENTRIES.c.actor_organisation_id),
        ("initiative_id", ENTRIES.c.initiative_id),
        ("type", ENTRIES.c.type),
        ("aggregate_type", ENTRIES.c.aggregate_type),
        ("aggregate_id", ENTRIES.c.aggregate_id),
    ):
        if query.get(field) is not None:
            conditions.append(column == str(query[field]))
    if query.get("from") is not None:
        conditions.append(ENTRIES.c.at >= query["from"])
    if query.get("to") is not None:
        conditions.append(ENTRIES.c.at < query["to"])
    return conditions


def entries_statement(query: dict[str, Any]) -> Any:
    """The audit entries matching the filters (and after the cursor), in position order."""
    conditions = _entry_conditions(query)
    if query.get("cursor"):
        conditions.append(ENTRIES.c.position > cursor_position(query["cursor"]))
    return sa.select(ENTRIES).where(*conditions).order_by(ENTRIES.c.position)


def entries_page(
    conn: sa.Connection, statement: Any, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of entries and the cursor of the next (None on the last page)."""
    rows = conn.execute(statement.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [entry(row) for row in rows], encode_cursor(int(rows[-1].position)) if more else None


def entry_stream(engine: sa.Engine, statement: Any) -> Iterator[dict[str, Any]]:
    """Every entry the statement selects, fetched 500 at a time. On a connection of its
    own: PostgreSQL's server-side cursor needs a transaction, which the request's reader
    (autocommit) has not."""
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=500).execute(statement):
            yield entry(row)


def _history_rows(conn: sa.Connection, initiative_id: UUID) -> list[Any]:
    return list(
        conn.execute(
            sa.select(ENTRIES)
            .where(ENTRIES.c.aggregate_id == str(initiative_id))
            .order_by(ENTRIES.c.position)
        ).all()
    )


def history(conn: sa.Connection, initiative_id: UUID) -> list[dict[str, Any]]:
    """The audit entries of one initiative, in order."""
    return [entry(row) for row in _history_rows(conn, initiative_id)]


def chain_links(conn: sa.Connection, initiative_id: UUID) -> list[dict[str, Any]]:
    """The entries of one initiative with the chain links around each: the link before it
    (of whichever aggregate) and its own."""
    links = []
    for row in _history_rows(conn, initiative_id):
        previous = (
            conn.execute(
                sa.select(ENTRIES.c.link_hash)
                .where(ENTRIES.c.position < row.position)
                .order_by(ENTRIES.c.position.desc())
                .limit(1)
            ).scalar()
            or CHAIN_START
        )
        links.append({"entry": entry(row), "previous_link": previous, "link": row.link_hash})
    return links


def states_entered(conn: sa.Connection, initiative_id: UUID) -> list[dict[str, Any]]:
    """The states the initiative went through and when it entered each, in order."""
    rows = conn.execute(
        sa.select(ENTRIES.c.changes, ENTRIES.c.at)
        .where(
            ENTRIES.c.aggregate_id == str(initiative_id),
            ENTRIES.c.type.in_(STATE_EVENTS),
        )
        .order_by(ENTRIES.c.position)
    ).all()
    reached: list[dict[str, Any]] = []
    for row in rows:
        state = (json.loads(row.changes).get("state") or {}).get("new")
        if state:
            reached.append({"state": state, "at": row.at})
    return reached


def digest(conn: sa.Connection) -> dict[str, Any]:
    """The head of the chain: its position, link hash and the time of that event (ISO)."""
    row = conn.execute(
        sa.select(ENTRIES.c.position, ENTRIES.c.link_hash, ENTRIES.c.at)
        .order_by(ENTRIES.c.position.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"position": 0, "head_hash": CHAIN_START, "at": None}
    return {"position": int(row.position), "head_hash": row.link_hash, "at": iso(row.at)}


def verify(app: Any, conn: sa.Connection, position: int, head_hash: str | None) -> dict[str, Any]:
    """The chain up to `position` recomputed from the stored events and compared with the
    recorded links, then with `head_hash` (see `verification.verify`)."""
    return verification.verify(app, conn, ENTRIES, position, head_hash)


def verify_up_to(
    app: Any, conn: sa.Connection, position: int | None, head_hash: str | None
) -> dict[str, Any]:
    """`verify` up to `position` (the head when None); InvalidFields for a position beyond
    the head."""
    head = digest(conn)["position"]
    position = head if position is None else position
    if position > head:
        raise InvalidFields({"position": [f"The chain has reached position {head}."]})
    result = verify(app, conn, position, head_hash)
    return {
        "ok": result["ok"],
        "checked": result["checked"],
        "first_bad_position": result["first_bad_position"],
        "position": position,
    }


def acted_by(conn: sa.Connection, account_id: str) -> list[dict[str, Any]]:
    """Every event the account acted in, in order (a person's data export)."""
    rows = conn.execute(
        sa.select(
            ENTRIES.c.position,
            ENTRIES.c.type,
            ENTRIES.c.aggregate_type,
            ENTRIES.c.aggregate_id,
            ENTRIES.c.version,
            ENTRIES.c.at,
        )
        .where(ENTRIES.c.actor_account_id == account_id)
        .order_by(ENTRIES.c.position)
    )
    return [
        {
            "position": int(row.position),
            "type": row.type,
            "aggregate_type": row.aggregate_type,
            "aggregate_id": row.aggregate_id,
            "version": int(row.version),
            "at": iso(row.at),
        }
        for row in rows
    ]
