"""Checking the audit chain: the links recomputed from the stored events, exactly as
stored, against the links the audit view recorded when it first saw each event."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from projections.chain import CHAIN_START, link_hash

VERIFY_BLOCK = 2000


def verify(
    app: Any,
    conn: sa.Connection,
    entries: sa.Table,
    position: int,
    head_hash: str | None,
    block: int = VERIFY_BLOCK,
) -> dict[str, Any]:
    """Recomputes the chain from the stored events up to `position` and compares it with
    the links recorded when each event was first seen, then the head with `head_hash`.

    A changed, removed, re-ordered or inserted event makes `first_bad_position` the first
    position that no longer matches; an event that cannot be read counts as changed. Each
    link depends on all before it: a block whose last link matches is intact, and only a
    block that differs is walked event by event (docs/PERFORMANCE.md, item 21).
    """
    previous, checked, start = CHAIN_START, 0, 1
    while start <= position:
        stop = min(position, start + block - 1)
        rows = raw_rows(app.recorder, start, stop, block)
        links = _block_links(previous, rows)
        link = next(reversed(links.values())) if links else previous
        last = conn.execute(
            sa.select(entries.c.position, entries.c.link_hash)
            .where(entries.c.position >= start, entries.c.position <= stop)
            .order_by(entries.c.position.desc())
            .limit(1)
        ).first()
        intact = (last is None and not rows) or (
            last is not None
            and links.get(int(last.position)) == last.link_hash
            and max(links, default=0) <= int(last.position)
        )
        if not intact:
            return _first_bad(conn, entries, rows, start, stop, previous, checked)
        previous = link
        checked += len(rows)
        start = stop + 1
    ok = head_hash is None or head_hash == previous
    return {"ok": ok, "checked": checked, "first_bad_position": None, "head_hash": previous}


def _first_bad(
    conn: sa.Connection,
    entries: sa.Table,
    rows: list[Any],
    start: int,
    stop: int,
    previous: str,
    checked: int,
) -> dict[str, Any]:
    """Walks one block event by event against the recorded links to find the first bad one."""
    recorded = conn.execute(
        sa.select(entries.c.position, entries.c.link_hash)
        .where(entries.c.position >= start, entries.c.position <= stop)
        .order_by(entries.c.position)
    ).all()
    stored = iter(rows)
    expected_rows = iter(recorded)
    expected, row = next(expected_rows, None), next(stored, None)
    while expected is not None or row is not None:
        number = int(row[ID]) if row is not None else None
        if expected is None or (number is not None and number < expected.position):
            return _bad(number if number is not None else stop, checked)  # inserted
        if number is None or number > expected.position:
            return _bad(int(expected.position), checked)  # removed
        link_now = _link(previous, row)
        if link_now != expected.link_hash:
            return _bad(number, checked)
        previous = link_now
        checked += 1
        expected, row = next(expected_rows, None), next(stored, None)
    return _bad(stop, checked)  # unreachable when the block differed; stay on the safe side


def _bad(position: int, checked: int) -> dict[str, Any]:
    return {"ok": False, "checked": checked, "first_bad_position": position, "head_hash": None}


ID, ORIGINATOR_ID, VERSION, TOPIC, STATE = range(5)  # the columns of a raw row


def raw_rows(recorder: Any, start: int, stop: int, limit: int) -> list[Any]:
    """Stored event rows by position, straight from the table: a row too broken for the
    recorder to decode is still returned, to be counted as changed. Each row is indexed by
    position: ID, ORIGINATOR_ID, VERSION, TOPIC, STATE."""
    datastore = recorder.datastore
    table = recorder.events_table_name
    if hasattr(datastore, "schema"):  # PostgreSQL
        from psycopg import sql

        statement = sql.SQL(
            "SELECT notification_id AS id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id >= %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(datastore.schema), sql.Identifier(table))
    else:
        statement = (
            "SELECT rowid AS id, originator_id, originator_version, topic, state "
            f'FROM "{table}" WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?'
        )
    with datastore.transaction(commit=False) as cursor:
        if hasattr(datastore, "schema"):
            from psycopg.rows import tuple_row

            cursor.row_factory = tuple_row
        cursor.execute(statement, (start, stop, limit))
        return list(cursor.fetchall())


def _link(previous: str, row: Any) -> str | None:
    """The link of a stored row after `previous`; None for a row that cannot be read."""
    try:
        return link_hash(
            previous,
            int(row[ID]),
            normal_id(row[ORIGINATOR_ID]),
            int(row[VERSION]),
            str(row[TOPIC]),
            bytes(row[STATE]),
        )
    except (TypeError, ValueError, KeyError, IndexError):
        return None


def _block_links(previous: str, rows: list[Any]) -> dict[int, str]:
    """The links of a block of rows, position -> link: `_link` row after row (an unreadable
    row links as "unreadable"), inlined: verification spends its time here."""
    links: dict[int, str] = {}
    sha256 = hashlib.sha256
    lengths = _LENGTHS
    ids: dict[Any, bytes] = {}  # an aggregate's events tend to come together
    for row in rows:
        try:
            position = int(row[ID])
            o = ids.get(row[ORIGINATOR_ID])
            if o is None:
                o = ids[row[ORIGINATOR_ID]] = normal_id(row[ORIGINATOR_ID]).encode()
            p, v = str(position).encode(), str(int(row[VERSION])).encode()
            t = str(row[TOPIC]).encode()
            state = bytes(row[STATE])
        except (TypeError, ValueError, KeyError, IndexError):
            previous = "unreadable"
            with contextlib.suppress(TypeError, ValueError, IndexError):
                links[int(row[ID])] = previous
            continue
        previous = sha256(
            b"".join(
                (
                    previous.encode("ascii"),
                    lengths[len(p)],
                    p,
                    lengths[len(o)] if len(o) < 256 else len(o).to_bytes(8, "big"),
                    o,
                    lengths[len(v)],
                    v,
                    lengths[len(t)] if len(t) < 256 else len(t).to_bytes(8, "big"),
                    t,
                    len(state).to_bytes(8, "big"),
                    state,
                )
            )
        ).hexdigest()
        links[position] = previous
    return links


_LENGTHS = [n.to_bytes(8, "big") for n in range(256)]  # a position or version is shorter
_HEX32 = re.compile(r"[0-9a-f]{32}")


def normal_id(value: Any) -> str:
    """An aggregate id as the chain hashes it: a UUID's canonical text."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str) and len(value) == 36 and value[8] == "-":
        return value
    if isinstance(value, str) and _HEX32.fullmatch(value):  # SQLite keeps UUIDs as hex
        v = value
        return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
    try:
        return str(UUID(str(value)))
    except ValueError:
        return str(value)


def stored_event(recorder: Any, position: int) -> dict[str, Any] | None:
    """The event at a position exactly as stored, its bytes in base64."""
    rows = raw_rows(recorder, position, position, 1)
    if not rows:
        return None
    row = rows[0]
    state = row[STATE]
    return {
        "position": int(row[ID]),
        "originator_id": normal_id(row[ORIGINATOR_ID]),
        "version": int(row[VERSION]),
        "topic": str(row[TOPIC]),
        "state": base64.b64encode(bytes(state)).decode("ascii") if state is not None else None,
    }
