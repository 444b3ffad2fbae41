"""The event store's recorders: the PostgreSQL insert, run by the server in one statement under
the table lock; on both databases, the lookup of one stored event (domain.application.StoredEvents).

The table lock keeps notification ids in commit order, so that no projection ever skips an
event: keep it. eventsourcing's own recorder holds it across round trips to a busy API worker;
here one PL/pgSQL function, called in autocommit, takes it and releases it on the server
(docs/PERFORMANCE.md, item 9). tests/application/test_recorder_order.py checks the order under
concurrent writers, and eventsourcing's recorder tests run against this class too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from domain.application import StoredRow


class LockedInsertRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # Named after the table (eventsourcing's name is one per schema and type).
        self.pg_function_name_insert_events = f"{self.events_table_name}_insert_locked"
        self.check_identifier_length(self.pg_function_name_insert_events)
        schema = Identifier(self.datastore.schema)
        function = Identifier(self.pg_function_name_insert_events)
        table = Identifier(self.events_table_name)
        self.sql_invoke_pg_function_insert_events = SQL(
            "SELECT * FROM {schema}.{function}((%s))"
        ).format(schema=schema, function=function)
        self.sql_create_pg_function_insert_events = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
            "RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            schema=schema,
            function=function,
            event=Identifier(self.stored_event_type_name),
            table=table,
            lock_timeout=self.datastore.lock_timeout,
            channel=Identifier(self.channel_name),
        )
        self.sql_create_statements[self.create_insert_function_statement_index] = (
            self.sql_create_pg_function_insert_events
        )
        self.sql_stored_event = SQL(
            "SELECT notification_id, state, topic FROM {schema}.{table} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(schema=schema, table=table)

    def stored_event(self, originator_id: UUID, version: int) -> StoredRow | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.sql_stored_event, (originator_id, version))
            row = cursor.fetchone()
        if row is None:
            return None
        position, state, topic = row.values() if isinstance(row, dict) else row
        return StoredRow(int(position), bytes(state), topic)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        events = [
            self.construct_pg_stored_event(
                originator_id=e.originator_id,
                originator_version=e.originator_version,
                topic=e.topic,
                state=e.state,
            )
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            # Autocommit: the call is its own transaction, committed by the server.
            curs.execute(self.sql_invoke_pg_function_insert_events, (events,), prepare=True)
            return [row[self.pg_function_name_insert_events] for row in curs.fetchall()]


class LookupSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, with the lookup of one stored event."""

    def stored_event(self, originator_id: UUID, version: int) -> StoredRow | None:
        statement = (
            f'SELECT rowid, state, topic FROM "{self.events_table_name}" '
            "WHERE originator_id = ? AND originator_version = ?"
        )
        with self.datastore.transaction(commit=False) as cursor:
            # eventsourcing's SQLite recorder stores a UUID as its 32 hex digits
            cursor.execute(statement, (originator_id.hex, version))
            row = cursor.fetchone()
        if row is None:
            return None
        position, state, topic = tuple(row)
        return StoredRow(int(position), bytes(state), topic)
