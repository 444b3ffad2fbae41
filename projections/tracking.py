"""How far each read view has got: one row per view, written in the view's own transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

metadata = sa.MetaData()

tracking_table = sa.Table(
    "twinning_tracking",
    metadata,
    sa.Column("name", sa.String(120), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)


class SqlTrackingRecorder(TrackingRecorder):
    """eventsourcing's TrackingRecorder on SQLAlchemy, beside the read-view tables.

    A position only moves forward: recording one at or below the current position raises
    IntegrityError, which is what makes each event land in a view exactly once when two
    projectors race or one restarts after a crash.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.engine.begin() as conn:
            advance(conn, tracking.application_name, tracking.notification_id)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.engine.connect() as conn:
            return position_of(conn, application_name)

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tracking_table.c.name, tracking_table.c.position))
            return {row.name: int(row.position) for row in rows}


def position_of(conn: sa.Connection, name: str) -> int | None:
    value = conn.execute(
        sa.select(tracking_table.c.position).where(tracking_table.c.name == name)
    ).scalar()
    return None if value is None else int(value)


def advance(conn: sa.Connection, name: str, position: int) -> None:
    """Moves a view's position forward inside the caller's transaction, or refuses."""
    moved = conn.execute(
        sa.update(tracking_table)
        .where(tracking_table.c.name == name, tracking_table.c.position < position)
        .values(position=position)
    ).rowcount
    if moved:
        return
    if position_of(conn, name) is not None:
        raise IntegrityError(f"{name} is already at or beyond position {position}")
    inserted = conn.execute(
        insert_ignoring_conflicts(conn, tracking_table).values(name=name, position=position)
    ).rowcount
    if not inserted:
        raise IntegrityError(f"{name} was recorded concurrently")


def insert_ignoring_conflicts(conn: sa.Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def ensure(conn: sa.Connection, name: str) -> None:
    """Creates a view's row at position 0 unless it exists."""
    conn.execute(insert_ignoring_conflicts(conn, tracking_table).values(name=name, position=0))


def reset(conn: sa.Connection, name: str, position: int | None) -> None:
    conn.execute(sa.delete(tracking_table).where(tracking_table.c.name == name))
    if position is not None:
        conn.execute(sa.insert(tracking_table).values(name=name, position=position))


def lock(conn: sa.Connection, name: str) -> Any:
    """Takes the write lock on a view's row (a no-op update) for the rest of the transaction."""
    return conn.execute(
        sa.update(tracking_table)
        .where(tracking_table.c.name == name)
        .values(position=tracking_table.c.position)
    )
