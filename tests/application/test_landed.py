"""A commit whose connection fails is retried by the store and meets its own rows: the command
did land, and says so, instead of failing with an integrity error (or a 500)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from domain.account import Account, EmailIndex
from domain.initiative import Initiative
from domain.values import Caller, Role
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING, a_proposal

LEAD = Caller("lead", "3f2b9a53-7a43-4a8e-9a39-0f4c1b1f5b21", frozenset({"partner"}), "req-1")
ADMIN = Caller("admin", "3f2b9a53-7a43-4a8e-9a39-0f4c1b1f5b21", frozenset({"admin"}), "req-2")
FIELDS = a_proposal(title={"en": "Landed once"})
# Personal data sealed with keys wrapped by a master key, as in production.
KEYS = {"master_key": "m" * 32, "secret_key": "s" * 32}


@pytest.fixture
def rt(backend: dict[str, Any]) -> Any:
    runtime = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING, **KEYS}))
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


def registration(rt: Runtime, email: str) -> tuple[Account, EmailIndex]:
    """An account registered with its email's index, unsaved, as `register_account` makes
    them (its key created first: the email and name are sealed with it when encoded)."""
    account = Account.register(email, "Ada", str(uuid4()), ["partner"], ADMIN.acting_as(Role.ADMIN))
    rt.app.personal.keyring.create(account.subject)
    return account, EmailIndex.claim(rt.app.email_index_id(email), account.id)


def test_a_registration_that_meets_its_own_sealed_rows_reports_their_position(
    rt: Runtime,
) -> None:
    app = rt.app
    account, claim = registration(rt, "ada@landed.test")
    events = [*account.pending_events, *claim.pending_events]
    # The first attempt's rows, committed before the connection failed: encoded apart from
    # the retry's, as the retry would be if anything encoded again.
    first_attempt = [app.mapper.to_stored_event(e) for e in events]
    positions = app.recorder.insert_events(first_attempt)
    assert positions is not None and len(positions) == 2
    retried = [app.mapper.to_stored_event(e) for e in events]
    # A fresh nonce at each sealing: the bytes of the same event differ (so no comparison of
    # bytes could find the rows its own); the index, which holds nothing personal, does not.
    assert retried[0].state != first_attempt[0].state
    assert retried[1].state == first_attempt[1].state
    assert b"ada@landed.test" not in first_attempt[0].state

    assert app._save(account, claim) == max(positions)
    stored = app.account(account.id)
    assert stored.version == 1 and stored.email == "ada@landed.test" and stored.name == "Ada"
    found = app.account_by_email("Ada@Landed.test")
    assert found is not None and found.id == account.id
    assert app.recorder.max_notification_id() == max(positions)  # nothing recorded twice


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            {"actor": dataclasses.replace(ADMIN.acting_as(Role.ADMIN), request_id="req-9")},
            id="another-request",
        ),
        pytest.param({"timestamp": timedelta(milliseconds=1)}, id="another-time"),
    ],
)
def test_a_registration_that_meets_another_requests_rows_still_conflicts(
    rt: Runtime, change: dict[str, Any]
) -> None:
    app = rt.app
    account, claim = registration(rt, "bob@landed.test")
    [registered] = account.pending_events
    if "timestamp" in change:
        change = {"timestamp": registered.timestamp + change["timestamp"]}
    # The same aggregate at the same version, stored by another request (or at another
    # time), beside the very same index event: one row not this save's own is enough.
    theirs = dataclasses.replace(registered, **change)
    app.recorder.insert_events(
        [app.mapper.to_stored_event(e) for e in (theirs, *claim.pending_events)]
    )
    with pytest.raises(IntegrityError):
        app._save(account, claim)
