"""The audit view: one entry per recorded event (who, when, what changed, why) and the hash
chain over the events exactly as stored.

Changes are computed with the domain's own aggregates: the view keeps each aggregate's state
(as an eventsourcing snapshot), applies the event to it, and compares the flattened state
before and after. No rule of the domain is written again here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent

from projections.chain import CHAIN_START, link_hash
from projections.view import View, insert_many

AGGREGATE_TYPES = {
    "Initiative": "initiative",
    "Organisation": "organisation",
    "Account": "account",
    "EmailIndex": "email_claim",
}


def flatten(aggregate: Any) -> dict[str, Any]:
    """An aggregate's state as field paths and plain values (multilingual text per language)."""
    if aggregate is None:
        return {}
    kind = type(aggregate).__name__
    flat: dict[str, Any] = {}
    if kind == "Initiative":
        flat["state"] = aggregate.state.value
        flat["lead_organisation_id"] = aggregate.lead_organisation_id
        for name, value in aggregate.fields.items():
            if isinstance(value, dict):
                for lang, text in value.items():
                    flat[f"{name}.{lang}"] = text
            else:
                flat[name] = value
        for org, status in aggregate.partners.items():
            flat[f"partners.{org}"] = status
        for amendment in aggregate.amendments:
            flat[f"amendments.{amendment['id']}"] = amendment["status"]
        if aggregate.approval is not None:
            flat["approval.round"] = aggregate.approval["round"]
            for step in aggregate.approval["steps"]:
                flat[f"approval.{step['name']}"] = step["status"]
        for report in aggregate.reports:
            flat[f"reports.{report['id']}.participants"] = report["participants"]
            flat[f"reports.{report['id']}.activities"] = report["activities"]
        for lang, text in (aggregate.outcomes or {}).items():
            flat[f"outcomes.{lang}"] = text
        flat["good_practice"] = aggregate.good_practice
    elif kind == "Account":
        flat.update(
            email=aggregate.email,
            name=aggregate.name,
            organisation_id=aggregate.organisation_id,
            roles=list(aggregate.roles),
            active=aggregate.active,
        )
    elif kind == "Organisation":
        flat.update(name=aggregate.name, type=aggregate.type, country=aggregate.country)
    elif kind == "EmailIndex":
        flat["account_id"] = str(aggregate.account_id)
    return flat


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def aggregate_type(topic: str) -> str:
    name = topic.rsplit(":", 1)[-1].split(".", 1)[0]
    return AGGREGATE_TYPES.get(name, name.lower())


def rationale_of(event: Any) -> str | None:
    for name in ("rationale", "reason"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    return None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class AuditView(View):
    name = "audit"
    main_key = "entries"

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        entries = f"audit_entries{suffix}"
        return {
            "entries": sa.Table(
                entries,
                metadata,
                sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
                sa.Column("aggregate_type", sa.String(40), nullable=False),
                sa.Column("aggregate_id", sa.String(36), nullable=False),
                sa.Column("initiative_id", sa.String(36), nullable=True),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("type", sa.String(80), nullable=False),
                sa.Column("at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("actor_account_id", sa.String(36), nullable=True),
                sa.Column("actor_organisation_id", sa.String(36), nullable=True),
                sa.Column("actor_role", sa.String(20), nullable=True),
                sa.Column("request_id", sa.String(64), nullable=True),
                sa.Column("changes", sa.Text, nullable=False),
                sa.Column("rationale", sa.Text, nullable=True),
                sa.Column("link_hash", sa.String(64), nullable=False),
                sa.Index(f"ix_{entries}_aggregate", "aggregate_id", "position"),
                sa.Index(f"ix_{entries}_actor", "actor_account_id", "position"),
                sa.Index(f"ix_{entries}_organisation", "actor_organisation_id", "position"),
                sa.Index(f"ix_{entries}_type", "type", "position"),
                sa.Index(f"ix_{entries}_at", "at", "position"),
            ),
            "aggregates": sa.Table(
                f"audit_aggregates{suffix}",
                metadata,
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("topic", sa.Text, nullable=False),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("state", sa.LargeBinary, nullable=False),
            ),
        }

    def apply(
        self,
        conn: sa.Connection,
        tables: dict[str, sa.Table],
        events: list[tuple[Any, Any]],
        app: Any = None,
        stored: set[str] | None = None,
    ) -> None:
        assert app is not None, "the audit view needs the application's mapper"
        entries, states = tables["entries"], tables["aggregates"]
        previous = (
            conn.execute(
                sa.select(entries.c.link_hash).order_by(entries.c.position.desc()).limit(1)
            ).scalar()
            or CHAIN_START
        )
        ids = list({str(event.originator_id) for _, event in events})
        aggregates: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            rows = conn.execute(sa.select(states).where(states.c.id.in_(ids[start : start + 500])))
            for row in rows:
                stored = StoredEvent(UUID(row.id), row.version, row.topic, bytes(row.state))
                aggregates[row.id] = app.mapper.to_domain_event(stored).mutate(None)
        existing = set(aggregates)
        flat: dict[str, dict[str, Any]] = {}
        rows_out = []
        for notification, event in events:
            key = str(event.originator_id)
            aggregate = aggregates.get(key)
            before = flat[key] if key in flat else flatten(aggregate)
            aggregate = event.mutate(aggregate)
            aggregates[key] = aggregate
            after = flat[key] = flatten(aggregate)
            previous = link_hash(
                previous,
                notification.id,
                str(notification.originator_id),
                notification.originator_version,
                notification.topic,
                bytes(notification.state),
            )
            actor = getattr(event, "actor", None)
            kind = aggregate_type(notification.topic)
            rows_out.append(
                {
                    "position": notification.id,
                    "aggregate_type": kind,
                    "aggregate_id": key,
                    "initiative_id": key if kind == "initiative" else None,
                    "version": notification.originator_version,
                    "type": type(event).__name__,
                    "at": event.timestamp,
                    "actor_account_id": getattr(actor, "account_id", None),
                    "actor_organisation_id": getattr(actor, "organisation_id", None),
                    "actor_role": getattr(actor, "role", None),
                    "request_id": getattr(actor, "request_id", None),
                    "changes": _json(changes(before, after)),
                    "rationale": rationale_of(event),
                    "link_hash": previous,
                }
            )
        if rows_out:
            insert_many(conn, entries, rows_out)
        touched = list(flat)
        for start in range(0, len(touched), 500):
            chunk = [key for key in touched[start : start + 500] if key in existing]
            if chunk:
                conn.execute(sa.delete(states).where(states.c.id.in_(chunk)))
        snapshots = []
        for key in touched:
            aggregate = aggregates[key]
            taken = type(aggregate).Snapshot.take(aggregate)
            # Stamped with the aggregate's own time, so a rebuild stores the same bytes.
            snapshot = type(taken)(
                originator_id=taken.originator_id,
                originator_version=taken.originator_version,
                timestamp=aggregate.modified_on,
                topic=taken.topic,
                state=taken.state,
            )
            stored = app.mapper.to_stored_event(snapshot)
            snapshots.append(
                {
                    "id": key,
                    "topic": stored.topic,
                    "version": stored.originator_version,
                    "state": stored.state,
                }
            )
        if snapshots:
            insert_many(conn, states, snapshots)

    def fold(self, document: Any, event: Any, position: int) -> Any:  # pragma: no cover
        raise NotImplementedError("the audit view appends entries; see apply()")

    def rows(self, document: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("the audit view appends entries; see apply()")


def digest(conn: sa.Connection, entries: sa.Table) -> dict[str, Any]:
    """The head of the chain: its position, link hash and the time of that event."""
    row = conn.execute(
        sa.select(entries.c.position, entries.c.link_hash, entries.c.at)
        .order_by(entries.c.position.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"position": 0, "head_hash": CHAIN_START, "at": None}
    return {"position": int(row.position), "head_hash": row.link_hash, "at": row.at}


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
    position that no longer matches; an event that cannot be read counts as changed.

    The stored events are read in blocks of positions. Each link depends on every event
    before it, so comparing the last recorded link of a block is enough to know the block
    is intact; only a block that differs is compared event by event to name the first bad
    position. The recorded chain is thus read once per block, not once per event.
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
    row links as "unreadable"), inlined because verification spends its time here."""
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
