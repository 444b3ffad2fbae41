"""A commit whose connection fails is retried by the store and meets its own rows: the command
did land, and says so, instead of failing with an integrity error (or a 500)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.initiative import Initiative
from domain.values import Caller
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING, a_proposal

LEAD = Caller("lead", "3f2b9a53-7a43-4a8e-9a39-0f4c1b1f5b21", frozenset({"partner"}), "req-1")
FIELDS = a_proposal(title={"en": "Landed once"})


@pytest.fixture
def rt(backend: dict[str, Any]) -> Any:
    runtime = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING}))
    yield runtime
    runtime.close()


def test_a_save_that_meets_its_own_rows_reports_their_position(rt: Runtime) -> None:
    app = rt.app
    initiative = Initiative.propose(LEAD, FIELDS)
    # The first attempt's rows, committed before the connection failed.
    first_attempt = [app.mapper.to_stored_event(e) for e in initiative.pending_events]
    [position] = app.recorder.insert_events(first_attempt)
    assert position is not None
    assert app._save(initiative) == position
    assert app.repository.get(initiative.id).version == 1
    assert app.recorder.max_notification_id() == position  # nothing recorded twice


def test_a_save_that_meets_someone_elses_rows_still_conflicts(rt: Runtime) -> None:
    app = rt.app
    initiative = Initiative.propose(LEAD, FIELDS)
    other = Initiative.propose(LEAD, {**FIELDS, "title": {"en": "Another"}})
    # Another writer's first event, under the same id.
    theirs = [
        dataclasses.replace(app.mapper.to_stored_event(e), originator_id=initiative.id)
        for e in other.pending_events
    ]
    app.recorder.insert_events(theirs)
    with pytest.raises(IntegrityError):
        app._save(initiative)
