"""Stores written before personal data was sealed (docs/PRIVACY.md): the service refuses to
start on one, and `twinning migrate-personal-data` copies one into a new, empty store with
every email and name sealed.

Such a store cannot be sealed in place: the audit chain hashes each event's bytes as
stored, so rewriting them would break it. The copy keeps every aggregate's id, versions,
timestamps and topics (an email's claim gets its keyed id instead of the guessable one) and
starts a new chain whose first event (domain.lineage) records the old chain's head.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent

from domain.account import normalise_email
from domain.application import Twinning
from domain.lineage import StoreLineage
from domain.personal import Personal
from domain.values import system_actor
from projections.chain import CHAIN_START, link_hash
from projections.verification import ID, ORIGINATOR_ID, STATE, TOPIC, VERSION, normal_id, raw_rows
from service.config import ConfigError
from service.infrastructure.credentials import credentials

CLEAR_TEXT = (
    "This store holds personal data in clear text (written by an earlier release): stop the "
    "service and run `twinning migrate-personal-data --to <new database URL>` (docs/PRIVACY.md)"
)
REGISTERED = "domain.account:Account.Registered"
PERSONAL_TOPICS = frozenset({REGISTERED, "domain.account:Account.Rectified"})
PERSONAL_FIELDS = ("email", "name")
INDEX_TOPIC = "domain.account:EmailIndex."
# Events a read from the old store and an insert into the new one carry.
BATCH = 500

Progress = Callable[[int, int], None]


class MigrationError(Exception):
    """The copy cannot be made (or was not completed): one line saying why."""


def _first_state(recorder: Any, topic: str) -> bytes | None:
    """The state of the first stored event with this topic: the table is read in position
    order (its primary key) up to that event only, so on a large store this stays cheap
    (the first account is registered among a store's first events)."""
    datastore, table = recorder.datastore, recorder.events_table_name
    if hasattr(datastore, "schema"):  # PostgreSQL
        from psycopg import sql
        from psycopg.rows import tuple_row

        statement: Any = sql.SQL(
            "SELECT state FROM {}.{} WHERE topic = %s ORDER BY notification_id LIMIT 1"
        ).format(sql.Identifier(datastore.schema), sql.Identifier(table))
    else:
        statement = f'SELECT state FROM "{table}" WHERE topic = ? ORDER BY rowid LIMIT 1'
    with datastore.transaction(commit=False) as cursor:
        if hasattr(datastore, "schema"):
            cursor.row_factory = tuple_row
        cursor.execute(statement, (topic,))
        row = cursor.fetchone()
    return None if row is None else bytes(row[0])


def in_clear_text(state: bytes) -> bool:
    """Whether an account event's stored state holds its email or name as plain text."""
    document = json.loads(state)
    return any(isinstance(document.get(name), str) for name in PERSONAL_FIELDS)


def holds_clear_text(recorder: Any) -> bool:
    """Whether the store was written by a release that kept personal data in clear text:
    every release writes all its accounts one way, so the first registration tells."""
    state = _first_state(recorder, REGISTERED)
    return state is not None and in_clear_text(state)


def refuse_clear_text(app: Twinning) -> None:
    """Stops the start (ConfigError, one line naming the migration) on a clear-text store;
    the application's connections are closed first."""
    if holds_clear_text(app.recorder):
        app.close()
        raise ConfigError(CLEAR_TEXT)


def old_index_id(email: str) -> UUID:
    """An email claim's id as earlier releases made it (computable from a guessed email)."""
    return uuid5(NAMESPACE_URL, f"/twinning/accounts/email/{normalise_email(email)}")


def blocks(recorder: Any, stop: int, size: int = BATCH) -> Iterator[list[Any]]:
    """The stored rows up to position `stop`, in position order, `size` at a time."""
    start = 1
    while start <= stop:
        rows = raw_rows(recorder, start, stop, size)
        if not rows:
            return
        yield rows
        start = int(rows[-1][ID]) + 1


@dataclass
class Survey:
    """The old store as read before copying: its chain's head link, its number of events
    and last position, and the email of each old claim id."""

    head: str
    events: int
    position: int
    emails: dict[UUID, str]


def survey(recorder: Any, progress: Progress | None = None) -> Survey:
    """Reads the old store once: its chain, linked exactly as the audit view links it
    (projections.audit), and every email its accounts ever had (each email claim's)."""
    stop = int(recorder.max_notification_id() or 0)
    head, events, position = CHAIN_START, 0, 0
    emails: dict[UUID, str] = {}
    claims: set[UUID] = set()
    for rows in blocks(recorder, stop):
        for row in rows:
            position, topic, state = int(row[ID]), str(row[TOPIC]), bytes(row[STATE])
            head = link_hash(
                head, position, normal_id(row[ORIGINATOR_ID]), int(row[VERSION]), topic, state
            )
            if topic in PERSONAL_TOPICS:
                email = json.loads(state).get("email")
                if isinstance(email, str):
                    emails[old_index_id(email)] = email
            elif topic.startswith(INDEX_TOPIC):
                claims.add(UUID(normal_id(row[ORIGINATOR_ID])))
        events += len(rows)
        if progress is not None:
            progress(position, stop)
    strays = claims - set(emails)
    if strays:  # found before anything is written to the new store
        raise MigrationError(
            f"{len(strays)} email claims (such as {min(strays)}) match no email any account "
            "had: the store is not as an earlier release wrote it"
        )
    return Survey(head, events, position, emails)


def audit_view_head(engine: sa.Engine, position: int) -> str | None:
    """The link the old store's audit view recorded at `position`; None when it has no
    audit view or has not reached that position."""
    if position == 0 or not sa.inspect(engine).has_table("audit_entries"):
        return None
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT link_hash FROM audit_entries WHERE position = :position"),
            {"position": position},
        ).scalar()


def sealed_state(app: Twinning, subject: str, state: bytes) -> bytes:
    """An account event's state with its email and name sealed with the subject's key,
    encoded by the application's own transcoder: the bytes the application writes."""
    transcoder = app.mapper.transcoder
    document = transcoder.decode(state)
    app.personal.keyring.create(subject)  # before the first value is sealed with it
    for name in PERSONAL_FIELDS:
        value = document.get(name)
        if not isinstance(value, Personal):
            document[name] = Personal(subject, value)
    return transcoder.encode(document)


def converted(app: Twinning, row: Any, rekeyed: dict[UUID, UUID]) -> StoredEvent:
    """One old stored row as the new store holds it."""
    topic, state = str(row[TOPIC]), bytes(row[STATE])
    originator_id = UUID(normal_id(row[ORIGINATOR_ID]))
    if topic in PERSONAL_TOPICS:
        state = sealed_state(app, str(originator_id), state)
    elif topic.startswith(INDEX_TOPIC):
        originator_id = rekeyed[originator_id]  # every claim's email was found (survey)
    return StoredEvent(originator_id, int(row[VERSION]), topic, state)


def refuse_non_empty(app: Twinning) -> None:
    """MigrationError unless the new store holds no event yet."""
    held = int(app.recorder.max_notification_id() or 0)
    if held:
        raise MigrationError(
            f"The target already holds {held} events: the copy goes into a new, empty store"
        )


@dataclass(frozen=True)
class Migrated:
    """What was copied: the old chain's head and extent, the new store's last position."""

    previous_head: str
    previous_events: int
    previous_position: int
    position: int
    accounts: int
    passwords: int
    audit_view_checked: bool


def migrate(
    source: Any,
    target: Any,
    *,
    source_views: sa.Engine | None = None,
    reading: Progress | None = None,
    copying: Progress | None = None,
) -> Migrated:
    """Copies the old store (`source`: a recorder) into `target` (a Runtime on a new, empty
    store): the lineage event first, then every event in position order, personal fields
    sealed. `source_views` is the old views' database: its audit view's head is checked
    against the chain recomputed here, and its password hashes are copied."""
    app = target.app
    refuse_non_empty(app)
    if not holds_clear_text(source):
        raise MigrationError("The store holds no personal data in clear text: nothing to migrate")
    old = survey(source, reading)
    recorded = None if source_views is None else audit_view_head(source_views, old.position)
    if recorded is not None and recorded != old.head:
        raise MigrationError(
            f"The audit view's link at position {old.position} ({recorded}) is not the one "
            f"recomputed from the stored events ({old.head}): run `twinning audit verify` "
            "with the earlier release before migrating"
        )
    lineage = StoreLineage.continued(
        previous_head=old.head,
        previous_events=old.events,
        previous_position=old.position,
        migrated_at=target.now(),
        actor=system_actor(),
    )
    position = app.save(lineage)[-1].notification.id
    rekeyed = {old_id: app.email_index_id(email) for old_id, email in old.emails.items()}
    accounts = 0
    for rows in blocks(source, old.position):
        events = [converted(app, row, rekeyed) for row in rows]
        accounts += sum(1 for event in events if event.topic == REGISTERED)
        ids = app.recorder.insert_events(events)
        position = max(ids) if ids else position
        if copying is not None:
            copying(int(rows[-1][ID]), old.position)
    now = int(source.max_notification_id() or 0)
    if now != old.position:
        raise MigrationError(
            f"The old store changed while it was copied (position {old.position}, now {now}): "
            "stop the service, drop the new store and migrate again"
        )
    passwords = 0 if source_views is None else copy_passwords(source_views, target.engine)
    return Migrated(
        old.head, old.events, old.position, position, accounts, passwords, recorded is not None
    )


def copy_passwords(source: sa.Engine, target: sa.Engine) -> int:
    """The password hashes (by account id, which the copy keeps), so that people log in to
    the new store as before; tokens and resets are not copied (everyone logs in again)."""
    if not sa.inspect(source).has_table(credentials.name):
        return 0
    copied = 0
    with source.connect() as reading, target.begin() as writing:
        result = reading.execute(sa.select(credentials)).mappings()
        while chunk := result.fetchmany(BATCH):
            writing.execute(sa.insert(credentials), [dict(row) for row in chunk])
            copied += len(chunk)
    return copied
