"""Retention: the participants of an activity are shredded by the service itself once
TWINNING_PARTICIPANT_RETENTION has passed since the activity ended.

Finding the activities. Replaying every activity on every run would cost more each year, so
a small table, `twinning_retention`, holds one row an activity: its id, when it ends (epoch
seconds), and two positions in the event store: the last registration and the last
shredding recorded. An activity holds participants to shred while `registered > shredded`.
Each run first reads only the notifications recorded since the table's own position (a
second row, `activity_id = POSITION`), and of three topics only (planned, registered,
shredded); only the planned events are decoded (for `ends_at`, which no later event
changes). Every update is a `max()`, so it is idempotent and commutes: two processes
reading the same notifications in any order leave the same rows. The table is derived from
the event store alone, like a read view: lost, it is made again from position 0.

Shredding. For each row due, `Twinning.shred_participants` with the system caller: one
event in the activity's stream, then the keys destroyed. The domain answers StateConflict
when every participant was erased already (another process won, or each was erased one by
one): that is done too, and their keys are destroyed again (a crash may have come between
the event and the keys). A StaleVersion (the activity changed meanwhile) is retried once.

Concurrency. On PostgreSQL a run holds an advisory lock of its own, so that of several
projectors (and the CLI) one shreds at a time; the others skip the run. Without it the
result would be the same, only with wasted work.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.utils import get_topic
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain.activity import Activity
from domain.errors import StaleVersion, StateConflict
from domain.values import system_caller
from service.infrastructure.runtime import Runtime

log = logging.getLogger("twinning.retention")

# The projector shreds at most this often (seconds).
RETENTION_EVERY = 600.0
PAGE = 1000
POSITION = "position"  # the row holding how far the table has read the event store

metadata = sa.MetaData()
table = sa.Table(
    "twinning_retention",
    metadata,
    sa.Column("activity_id", sa.String(36), primary_key=True),
    sa.Column("ends_at", sa.BigInteger, nullable=False, default=0),
    sa.Column("registered", sa.BigInteger, nullable=False, default=0),
    sa.Column("shredded", sa.BigInteger, nullable=False, default=0),
)
TOPICS = {
    get_topic(Activity.Planned): "planned",
    get_topic(Activity.Registered): "registered",
    get_topic(Activity.ParticipantsShredded): "shredded",
}


def describe(retention: timedelta) -> str:
    """The retention as the settings write it (1825d, 90m)."""
    seconds = int(retention.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def shred_expired(rt: Runtime, now: datetime) -> list[UUID]:
    """Shreds the participants of every activity whose retention has passed by `now`;
    returns the activities shredded by this run."""
    return list(expire(rt, now))


def expire(rt: Runtime, now: datetime) -> dict[UUID, int]:
    """As `shred_expired`, with how many participants each activity had shredded."""
    with _exclusive(rt.engine) as mine:
        if not mine:
            return {}
        _create_table(rt.engine)
        _follow(rt)
        try:
            cutoff = math.floor((now - rt.settings.participant_retention).timestamp())
        except OverflowError:  # a retention longer than the calendar: nothing is due yet
            return {}
        with rt.engine.connect() as conn:
            due = [
                (UUID(row.activity_id), row.registered)
                for row in conn.execute(
                    sa.select(table.c.activity_id, table.c.registered).where(
                        table.c.activity_id != POSITION,
                        table.c.ends_at <= cutoff,
                        table.c.registered > table.c.shredded,
                    )
                )
            ]
        reason = f"retention of {describe(rt.settings.participant_retention)} passed"
        done: dict[UUID, int] = {}
        for activity_id, registered in due:
            try:
                shredded, position = _shred(rt, activity_id, reason)
            except Exception:  # one activity failing must not hold the others back
                log.exception("could not shred the participants of activity %s", activity_id)
                continue
            if shredded:
                done[activity_id] = shredded
            with rt.engine.begin() as conn:
                _advance(conn, str(activity_id), shredded=max(position, registered))
        return done


def _shred(rt: Runtime, activity_id: UUID, reason: str) -> tuple[int, int]:
    """(participants shredded, position that covers them); (0, 0) when done already."""
    for attempt in range(2):
        try:
            outcome, erased = rt.app.shred_participants(
                activity_id, caller=system_caller(), reason=reason
            )
            log.info("shredded %d participants of activity %s", len(erased), activity_id)
            return len(erased), outcome.position
        except StaleVersion:
            if attempt:
                raise
        except StateConflict:
            # Every participant erased already: destroy their keys again, in case a crash
            # came between the erasure's event and its keys.
            activity = rt.app.activity(activity_id)
            rt.keyring.destroy_many(list(activity.registrations))
            return 0, 0
    raise AssertionError("unreachable")


def _create_table(engine: sa.Engine) -> None:
    try:
        metadata.create_all(engine)
    except sa.exc.DBAPIError:  # another process made it between the check and the CREATE
        if not sa.inspect(engine).has_table(table.name):
            raise


def _follow(rt: Runtime) -> None:
    """Brings the table up to the event store's head (the notifications of TOPICS only),
    one transaction a page."""
    with rt.engine.connect() as conn:
        start = conn.execute(
            sa.select(table.c.registered).where(table.c.activity_id == POSITION)
        ).scalar_one_or_none()
    start = (start or 0) + 1
    while True:
        page = rt.app.recorder.select_notifications(start, PAGE, topics=list(TOPICS))
        if not page:
            return
        rows: dict[str, dict[str, int]] = {POSITION: {"registered": page[-1].id}}
        for notification in page:
            kind = TOPICS[notification.topic]
            row = rows.setdefault(str(notification.originator_id), {})
            if kind == "planned":
                planned = rt.app.mapper.to_domain_event(notification)
                ends = datetime.fromisoformat(planned.fields["ends_at"])  # type: ignore[attr-defined]
                row["ends_at"] = math.ceil(ends.timestamp())
            else:
                row[kind] = max(row.get(kind, 0), notification.id)
        with rt.engine.begin() as conn:
            for activity_id, values in rows.items():
                _advance(conn, activity_id, **values)
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def _advance(conn: sa.Connection, activity_id: str, **values: int) -> None:
    """Raises the row's columns to at least `values` (made if missing)."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
    conn.execute(
        insert(table)
        .values(activity_id=activity_id, ends_at=0, registered=0, shredded=0)
        .on_conflict_do_nothing()
    )
    if values:
        raised = {
            table.c[name]: sa.case((table.c[name] < value, value), else_=table.c[name])
            for name, value in values.items()
        }
        conn.execute(table.update().where(table.c.activity_id == activity_id).values(raised))


@contextmanager
def _exclusive(engine: sa.Engine) -> Iterator[bool]:
    """On PostgreSQL, whether this process took the retention lock (held until the end of
    the block); on SQLite always True (the database lets one writer in at a time)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        schema = str(conn.execute(sa.text("SELECT current_schema()")).scalar())
        digest = hashlib.sha256(f"twinning-retention:{schema}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        mine = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # the lock is the session's: no transaction stays open meanwhile
        try:
            yield mine
        finally:
            if mine:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


class RetentionChore:
    """Run by the projector after each catch-up: shreds at most every `every` seconds, and
    only while this process is active for some view (a standby leaves it to the active one)."""

    def __init__(self, rt: Runtime, every: float = RETENTION_EVERY) -> None:
        self.rt = rt
        self.every = every
        self.last: float | None = None

    def __call__(self, active: list[Any]) -> None:
        if not active:
            return
        started = time.monotonic()
        if self.last is not None and started - self.last < self.every:
            return
        self.last = started
        try:
            done = expire(self.rt, self.rt.now())
        except Exception:  # the projector keeps projecting; the next run tries again
            log.exception("shredding expired participants failed; retrying later")
            return
        if done:
            log.info(
                "retention: %d participants of %d activities shredded",
                sum(done.values()),
                len(done),
            )
