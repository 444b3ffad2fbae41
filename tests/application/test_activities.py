"""Activities through the application, on real stores (SQLite, PostgreSQL): the checks only
the application can make, If-Match, the participants' data sealed in events and snapshots,
a thousand registrations reloaded from a snapshot, and erasure that leaves the counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.activity import Activity, list_digest
from domain.errors import (
    InvalidFields,
    NotPermitted,
    PreconditionRequired,
    StaleVersion,
    StateConflict,
)
from domain.values import Caller, system_actor
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING, a_proposal

# Personal data sealed with keys wrapped by a master key, as in production.
KEYS = {"master_key": "m" * 32, "secret_key": "s" * 32}
NAME = "Ada Lovelace-Bianchi"
EMAIL = "ada.lovelace@bologna.example"
INTERVAL = 50


def settings(backend: dict[str, Any]) -> Settings:
    overrides = {**backend, **FAST_HASHING, **KEYS, "snapshot_interval": INTERVAL}
    return Settings.from_env(environ={}, overrides=overrides)


@pytest.fixture
def rt(backend: dict[str, Any]) -> Iterator[Runtime]:
    runtime = Runtime(settings(backend))
    yield runtime
    runtime.close()


class World:
    """Three organisations (the organiser and a local one in Italy, a co-organiser in
    France) and a partner of each."""

    def __init__(self, rt: Runtime) -> None:
        app = rt.app
        self.app = app

        def org(name: str, country: str) -> str:
            outcome = app.register_organisation(
                actor=system_actor(), name=name, type_="local_authority", country=country
            )
            return str(outcome.aggregate.id)

        self.org, self.co, self.local = org("Bologna", "IT"), org("Lyon", "FR"), org("SL", "IT")
        self.p = Caller("p", self.org, frozenset({"partner"}), "req-p")
        self.co_p = Caller("c", self.co, frozenset({"partner"}), "req-c")
        self.local_p = Caller("l", self.local, frozenset({"partner"}), "req-l")

    def fields(self, **overrides: Any) -> dict[str, Any]:
        return {
            "kind": "citizens_meeting",
            "title": {"en": "Citizens' meeting"},
            "summary": {"en": "On shared squares."},
            "original_language": "en",
            "themes": ["local_democracy"],
            "country": "IT",
            "city": "Bologna",
            "starts_at": "2027-05-01T10:00:00+02:00",
            "ends_at": "2027-05-01T18:00:00+02:00",
            **overrides,
        }

    def plan(self, **overrides: Any) -> Activity:
        return self.app.plan_activity(
            caller=self.p, fields=self.fields(**overrides), co_organiser_ids=[self.co]
        ).aggregate

    def register(self, activity: Activity, name: str = NAME, **overrides: Any) -> str:
        current = self.app.activity(activity.id)
        _, registration_id, _ = self.app.register_participant(
            activity.id,
            caller=self.p,
            expected_version=current.version,
            fields={
                "name": name,
                "email": EMAIL,
                "country": "IT",
                "town": "San Lazzaro",
                "participant_type": "local",
                "organisation_id": self.local,
                "gender": "female",
                **overrides,
            },
        )
        return registration_id

    def step(self, activity: Activity, command: str, caller: Caller | None = None) -> Activity:
        current = self.app.activity(activity.id)
        outcome = getattr(self.app, command)(
            activity.id, caller=caller or self.p, expected_version=current.version
        )
        aggregate: Activity = outcome.aggregate
        return aggregate


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt)


def snapshot(activity: Activity) -> tuple[Any, ...]:
    return (
        activity.version,
        activity.state,
        activity.fields,
        activity.organiser_ids,
        activity.registrations,
        activity.lists,
    )


def test_planning_names_every_bad_field_the_application_checks_too(world: World) -> None:
    app = world.app
    theirs = app.propose(caller=world.co_p, fields=a_proposal()).aggregate
    unknown = str(uuid4())
    with pytest.raises(InvalidFields) as refused:
        app.plan_activity(
            caller=world.p,
            fields=world.fields(initiative_id=str(theirs.id), city="", capacity=0),
            co_organiser_ids=[unknown],
        )
    assert refused.value.errors == {
        "initiative_id": ["Must be an initiative your organisation leads or has joined."],
        "co_organiser_ids": [f"No organisation {unknown}."],
        "city": ["Must not be empty."],
        "capacity": ["Must be a whole number from 1 to 1,000,000."],
    }
    ours = app.propose(caller=world.p, fields=a_proposal()).aggregate
    activity = world.plan(initiative_id=str(ours.id))
    assert activity.fields["initiative_id"] == str(ours.id)
    assert activity.organiser_ids == [world.org, world.co]
    with pytest.raises(NotPermitted):
        app.plan_activity(caller=Caller("a", world.org, frozenset({"admin"})), fields={})


def test_commands_need_the_version_read(world: World) -> None:
    app = world.app
    activity = world.plan()
    with pytest.raises(PreconditionRequired):
        app.open_registration(activity.id, caller=world.p, expected_version=None)
    with pytest.raises(StaleVersion) as stale:
        app.open_registration(activity.id, caller=world.p, expected_version=7)
    assert stale.value.current_version == 1
    with pytest.raises(InvalidFields) as refused:
        app.register_participant(
            activity.id,
            caller=world.p,
            expected_version=1,
            fields={
                "name": "",
                "country": "IT",
                "town": "X",
                "participant_type": "local",
                "organisation_id": str(uuid4()),
            },
        )
    assert refused.value.errors == {
        "name": ["Must not be empty."],
        "organisation_id": ["No such organisation."],
    }


def test_participants_are_sealed_in_the_store_and_lists_certified(
    rt: Runtime, world: World, backend: dict[str, Any]
) -> None:
    app = world.app
    activity = world.plan(capacity=1)
    first = world.register(activity)
    waiting = world.register(activity, name="Second Person", town="san  lazzaro")
    outcome, promoted = app.cancel_registration(
        activity.id, caller=world.co_p, expected_version=3, registration_id=first
    )
    assert promoted == waiting
    activity = world.step(activity, "open_registration")
    activity = world.step(activity, "close_registration")
    app.mark_attendance(
        activity.id,
        caller=world.p,
        expected_version=activity.version,
        registration_ids=[waiting],
        attended=True,
    )
    activity = world.step(activity, "mark_held")
    # the local side: the application resolves the signer's organisation's country
    outcome, certified = app.certify_list(
        activity.id,
        caller=world.local_p,
        expected_version=activity.version,
        town="San Lazzaro",
        country="IT",
    )
    assert not certified
    outcome, certified = app.certify_list(
        activity.id,
        caller=world.p,
        expected_version=outcome.aggregate.version,
        town="San Lazzaro",
        country="IT",
    )
    assert certified
    expected = list_digest(str(activity.id), "IT", 1, [{"id": waiting, "attended": True}])
    assert outcome.aggregate.lists["1"]["digest"] == expected

    rows = app.recorder.select_events(activity.id)
    assert any(b'"_type_":"personal"' in row.state for row in rows)
    for row in rows:
        for clear in (NAME.encode(), EMAIL.encode(), b"San Lazzaro", b"Second Person"):
            assert clear not in row.state
    # another process on the same store reads the same activity, names opened
    other = Runtime(settings(backend))
    try:
        reloaded = other.app.activity(activity.id)
        assert snapshot(reloaded) == snapshot(outcome.aggregate)
        assert reloaded.participant(waiting)["name"] == "Second Person"
    finally:
        other.close()


def test_a_thousand_registrations_reload_from_a_snapshot_and_erasure_keeps_counts(
    rt: Runtime, world: World, backend: dict[str, Any]
) -> None:
    app = world.app
    activity = world.plan(capacity=900)
    version = activity.version
    ids = []
    for i in range(1000):
        outcome, rid, _ = app.register_participant(
            activity.id,
            caller=world.p,
            expected_version=version,
            fields={
                "name": f"{NAME} {i}",
                "email": f"p{i}@bologna.example",
                "country": "IT" if i % 2 else "FR",
                "town": f"Town {i % 3}",
                "participant_type": "local" if i % 3 else "invited",
                "age_band": "18_30",
            },
        )
        version = outcome.aggregate.version
        ids.append(rid)
    activity = outcome.aggregate
    assert activity.counts()["registered"] == 900 and activity.counts()["waitlisted"] == 100

    # the latest snapshot is recent: loading replays fewer than INTERVAL events
    snapshots = app.snapshots
    assert snapshots is not None
    [latest] = snapshots.get(activity.id, desc=True, limit=1)
    assert activity.version - latest.originator_version < INTERVAL
    stored = snapshots.recorder.select_events(activity.id, desc=True, limit=1)[0].state
    assert f"{NAME} 999".encode() not in stored and b"p999@bologna" not in stored

    other = Runtime(settings(backend))
    try:
        assert snapshot(other.app.activity(activity.id)) == snapshot(activity)
    finally:
        other.close()

    counts = activity.counts()
    app.erase_registration(
        activity.id, caller=world.p, registration_id=ids[0], reason="Asked to be forgotten"
    )
    assert rt.keyring.key(ids[0], fresh=True) is None
    activity = world.step(activity, "open_registration")
    activity = world.step(activity, "close_registration")
    activity = world.step(activity, "mark_held")
    outcome, shredded = app.shred_participants(
        activity.id, caller=world.p, reason="Retention period over"
    )
    assert shredded == ids[1:]
    assert all(rt.keyring.key(rid, fresh=True) is None for rid in ids[:5])

    other = Runtime(settings(backend))
    try:
        reloaded = other.app.activity(activity.id)
        assert reloaded.counts() == counts
        for rid in (ids[0], ids[1], ids[999]):
            participant = reloaded.participant(rid)
            assert (participant["name"], participant["email"], participant["town"]) == (
                None,
                None,
                None,
            )
            assert participant["age_band"] is None and participant["country"] in ("IT", "FR")
    finally:
        other.close()


def test_an_erasure_retried_destroys_the_key_again(rt: Runtime, world: World) -> None:
    app = world.app
    activity = world.plan()
    rid = world.register(activity)
    app.erase_registration(activity.id, caller=world.p, registration_id=rid, reason="Asked")
    rt.keyring.create(rid)  # as if the key outlived a crash between the two steps
    with pytest.raises(Exception, match="erased already"):
        app.erase_registration(activity.id, caller=world.p, registration_id=rid, reason="Again")
    assert rt.keyring.key(rid, fresh=True) is None
    assert app.activity(activity.id).participant(rid)["name"] is None
    assert UUID(rid)


def test_a_shredding_retried_destroys_the_keys_again(rt: Runtime, world: World) -> None:
    app = world.app
    activity = world.plan()
    ids = [world.register(activity, name=f"P{i}") for i in range(2)]
    app.cancel_activity(activity.id, caller=world.p, expected_version=3, reason="The venue flooded")
    with pytest.raises(NotPermitted):
        app.shred_participants(
            activity.id, caller=Caller("x", str(uuid4()), frozenset({"partner"})), reason="No"
        )
    _, shredded = app.shred_participants(activity.id, caller=world.co_p, reason="Retention")
    assert shredded == ids
    for rid in ids:
        rt.keyring.create(rid)  # as if the keys outlived a crash between the two steps
    with pytest.raises(StateConflict, match="erased already"):
        app.shred_participants(activity.id, caller=world.p, reason="Again")
    assert all(rt.keyring.key(rid, fresh=True) is None for rid in ids)
