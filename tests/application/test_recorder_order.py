"""The PostgreSQL insert that runs under the table lock in one server-side statement
(service/infrastructure/recorder.py): eventsourcing's own application recorder test cases
pass against it, and under concurrent writers (some of them conflicting, so that ids are
burnt) a reader tailing the table never sees an id appear below one it has already seen.
The same check finds such late ids when the lock is left out, so it can fail."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.tests import persistence as es_tests

from service.config import Settings
from service.infrastructure.recorder import LockedInsertRecorder
from service.infrastructure.runtime import Runtime
from tests.conftest import PG_URL, drop_schema, require_postgres

pytestmark = pytest.mark.postgres


def new_datastore(add_cleanup: Callable[..., Any], pool_size: int = 10) -> PostgresDatastore:
    require_postgres()
    schema = f"r_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    datastore = PostgresDatastore(
        str(info.get("dbname", "test")),
        str(info.get("host", "127.0.0.1")),
        str(info.get("port", 5432)),
        str(info.get("user", "postgres")),
        str(info.get("password", "")),
        schema=schema,
        pool_size=pool_size,
        lock_timeout=10,
    )
    add_cleanup(drop_schema, schema)
    add_cleanup(datastore.close)
    return datastore


def locked_recorder(add_cleanup: Callable[..., Any]) -> ApplicationRecorder:
    recorder = LockedInsertRecorder(new_datastore(add_cleanup), events_table_name="tested_events")
    recorder.create_table()
    return recorder


class LockedInsertRecorderTest(es_tests.ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        return locked_recorder(self.addCleanup)


class LockedInsertNonInterleavingTest(es_tests.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return locked_recorder(self.addCleanup)


@pytest.fixture
def cleanups() -> Iterator[contextlib.ExitStack]:
    """Cleanups for plain test functions (`callback` takes what unittest's `addCleanup` does)."""
    with contextlib.ExitStack() as stack:
        yield stack


class UnlockedRecorder(PostgresApplicationRecorder):
    """eventsourcing's insert without its table lock: what the check must catch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock_table_statements = []


def late_ids(recorder: ApplicationRecorder, schema: str, writers: int = 8) -> list[int]:
    """Ids a tailing reader saw appear below the highest id it had already seen, while
    `writers` threads insert (one in ten of their inserts conflicts and rolls back)."""
    table = f'"{schema}"."tested_events"'
    stop = threading.Event()
    late: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        originator = uuid.uuid4()
        try:
            for version in range(120):
                recorder.insert_events([StoredEvent(originator, version, "t", b"{}")])
                if version % 10 == 0:
                    with pytest.raises(IntegrityError):  # burns a sequence value
                        recorder.insert_events([StoredEvent(originator, version, "t", b"{}")])
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        seen: set[int] = set()
        high = 0
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    f"SELECT notification_id FROM {table} WHERE notification_id > %s",
                    (high - 5000,),
                ).fetchall()
                new = {row[0] for row in rows} - seen
                late.extend(n for n in new if n < high)
                seen |= new
                high = max(seen, default=0)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()
    assert not errors, errors
    return late


def test_a_tailing_reader_never_sees_an_id_appear_below_one_it_saw(
    cleanups: contextlib.ExitStack,
) -> None:
    datastore = new_datastore(cleanups.callback)
    recorder = LockedInsertRecorder(datastore, events_table_name="tested_events")
    recorder.create_table()
    assert late_ids(recorder, datastore.schema) == []


def test_the_check_finds_late_ids_without_the_lock(cleanups: contextlib.ExitStack) -> None:
    datastore = new_datastore(cleanups.callback)
    recorder = UnlockedRecorder(datastore, events_table_name="tested_events")
    recorder.create_table()
    assert any(late_ids(recorder, datastore.schema) for _ in range(3))


def test_the_service_records_through_it(cleanups: contextlib.ExitStack) -> None:
    require_postgres()
    schema = f"r_{uuid.uuid4().hex[:16]}"
    cleanups.callback(drop_schema, schema)
    rt = Runtime(Settings.from_env(overrides={"database_url": PG_URL, "database_schema": schema}))
    cleanups.callback(rt.close)
    assert isinstance(rt.app.recorder, LockedInsertRecorder)
    with psycopg.connect(PG_URL) as conn:
        body = conn.execute(
            "SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s AND p.proname LIKE %s",
            (schema, "%insert_locked"),
        ).fetchone()
    assert body is not None and "LOCK TABLE" in body[0]
