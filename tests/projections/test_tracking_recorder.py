"""The tracking recorder passes eventsourcing's own recorder test case, on both databases."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, TrackingRecorder
from eventsourcing.tests import persistence as es_tests

from projections.tracking import SqlTrackingRecorder
from service.config import Database, Settings
from service.infrastructure.runtime import make_engine, prepare_database
from tests.conftest import PG_URL, drop_schema, require_postgres


class SQLiteTrackingRecorderTest(es_tests.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        folder = Path(tempfile.mkdtemp())
        engine = make_engine(Database.parse("", folder), Settings())
        self.addCleanup(engine.dispose)
        recorder = SqlTrackingRecorder(engine)
        recorder.create_table()
        return recorder


@pytest.mark.postgres
class PostgresTrackingRecorderTest(es_tests.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        require_postgres()
        schema = f"r_{uuid.uuid4().hex[:16]}"
        database = Database.parse(PG_URL, Path("."), schema)
        engine = make_engine(database, Settings(pool_size=1, max_overflow=1))
        prepare_database(engine, database)
        self.addCleanup(drop_schema, schema)
        self.addCleanup(engine.dispose)
        recorder = SqlTrackingRecorder(engine)
        recorder.create_table()
        return recorder


def test_positions_only_move_forward_inside_a_transaction(tmp_path: Path) -> None:
    engine = make_engine(Database.parse("", tmp_path), Settings())
    recorder = SqlTrackingRecorder(engine)
    recorder.create_table()
    from projections.tracking import advance

    with engine.begin() as conn:
        advance(conn, "v", 5)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        advance(conn, "v", 5)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        advance(conn, "v", 4)
    assert recorder.max_tracking_id("v") == 5
    engine.dispose()
