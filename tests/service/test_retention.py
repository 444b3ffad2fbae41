"""Retention on real stores (SQLite, PostgreSQL): once TWINNING_PARTICIPANT_RETENTION has
passed since an activity ended, the service shreds its participants by itself; the counts,
the certified lists and the audit chain stay, the keys go, and a second run does nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from domain.activity import Activity
from domain.errors import NotPermitted, StateConflict
from domain.values import Caller, system_actor, system_caller
from projections.queries import audit as audit_reads
from service.cli import main as cli
from service.config import Settings
from service.infrastructure.keys import personal_keys
from service.infrastructure.retention import RetentionChore, expire, shred_expired
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING

KEYS = {"master_key": "m" * 32, "secret_key": "s" * 32}
ENDS = datetime(2027, 5, 1, 16, 0, tzinfo=UTC)  # 18:00 in Bologna
RETENTION = timedelta(days=1825)
DUE = ENDS + RETENTION


class Clock:
    """The runtime's clock, set by the test."""

    def __init__(self) -> None:
        self.now = datetime(2027, 4, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def settings(backend: dict[str, Any]) -> Settings:
    return Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING, **KEYS})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(backend: dict[str, Any], clock: Clock) -> Iterator[Runtime]:
    runtime = Runtime(settings(backend), clock=clock)
    yield runtime
    runtime.close()


class Organisers:
    """An organiser in Italy and a local organisation there, a partner of each."""

    def __init__(self, rt: Runtime) -> None:
        self.app = rt.app

        def org(name: str) -> str:
            outcome = self.app.register_organisation(
                actor=system_actor(), name=name, type_="local_authority", country="IT"
            )
            return str(outcome.aggregate.id)

        self.org, self.local = org("Bologna"), org("San Lazzaro")
        self.p = Caller("p", self.org, frozenset({"partner"}), "req-p")
        self.local_p = Caller("l", self.local, frozenset({"partner"}), "req-l")

    def version(self, activity_id: UUID) -> int:
        return self.app.activity(activity_id).version

    def held_activity(self, ends: datetime, people: int, capacity: int) -> UUID:
        """Planned, `people` registered (beyond `capacity` waitlisted), held, the
        registered ones marked attended, the list certified by both sides."""
        fields = {
            "kind": "citizens_meeting",
            "title": {"en": "Citizens' meeting"},
            "summary": {"en": "On shared squares."},
            "original_language": "en",
            "themes": ["local_democracy"],
            "country": "IT",
            "city": "Bologna",
            "starts_at": (ends - timedelta(hours=8)).isoformat(),
            "ends_at": ends.isoformat(),
            "capacity": capacity,
        }
        activity_id = self.app.plan_activity(caller=self.p, fields=fields).aggregate.id
        ids = []
        for n in range(people):
            _, registration_id, _ = self.app.register_participant(
                activity_id,
                caller=self.p,
                expected_version=self.version(activity_id),
                fields={
                    "name": f"Participant {n}",
                    "email": f"p{n}@bologna.example",
                    "country": "IT",
                    "town": "San Lazzaro",
                    "participant_type": "local",
                    "organisation_id": self.local,
                    "gender": "female",
                },
            )
            ids.append(registration_id)
        for command in ("open_registration", "close_registration", "mark_held"):
            getattr(self.app, command)(
                activity_id, caller=self.p, expected_version=self.version(activity_id)
            )
        self.app.mark_attendance(
            activity_id,
            caller=self.p,
            expected_version=self.version(activity_id),
            registration_ids=ids[:capacity],
            attended=True,
        )
        for signer in (self.p, self.local_p):
            self.app.certify_list(
                activity_id,
                caller=signer,
                expected_version=self.version(activity_id),
                town="San Lazzaro",
                country="IT",
            )
        return activity_id


def counts(activity: Activity) -> tuple[Any, ...]:
    """What must survive shredding: states, attendance, lists and their digests."""
    people = sorted(
        (r["id"], r["status"], r["attended"], r["country"], r["participant_type"])
        for r in activity.registrations.values()
    )
    return activity.state, people, activity.lists


def names(activity: Activity) -> list[str | None]:
    return [r["name"].value for r in activity.registrations.values()]


def keys_of(rt: Runtime, activity: Activity) -> int:
    with rt.engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.count()).where(
                personal_keys.c.subject.in_(list(activity.registrations))
            )
        )
        return int(found.scalar_one())


def test_participants_are_shredded_once_the_retention_has_passed(
    backend: dict[str, Any], rt: Runtime, clock: Clock
) -> None:
    organisers = Organisers(rt)
    old = organisers.held_activity(ENDS, people=3, capacity=2)
    later = organisers.held_activity(ENDS + timedelta(days=30), people=2, capacity=2)
    before = {a: counts(rt.app.activity(a)) for a in (old, later)}
    assert names(rt.app.activity(old)) == ["Participant 0", "Participant 1", "Participant 2"]
    assert keys_of(rt, rt.app.activity(old)) == 3

    rt.projector.catch_up()
    with rt.engine.connect() as conn:
        kept_head = audit_reads.digest(conn)  # as an auditor keeps it outside

    clock.now = DUE - timedelta(seconds=1)
    assert shred_expired(rt, rt.now()) == []
    assert None not in names(rt.app.activity(old))

    clock.now = DUE
    assert shred_expired(rt, rt.now()) == [old]
    assert shred_expired(rt, rt.now()) == []  # a second run does nothing

    fresh = Runtime(settings(backend), clock=clock)
    try:
        shredded = fresh.app.activity(old)
        assert names(shredded) == [None, None, None]
        assert all(r["erased"] for r in shredded.registrations.values())
        assert counts(shredded) == before[old]
        assert keys_of(fresh, shredded) == 0
        kept = fresh.app.activity(later)
        assert None not in names(kept) and keys_of(fresh, kept) == 2
        last = list(fresh.app.events.get(old))[-1]
        assert type(last).__name__ == "ParticipantsShredded"
        assert last.actor == system_actor()  # type: ignore[attr-defined]
        assert last.reason == "retention of 1825d passed"  # type: ignore[attr-defined]

        fresh.projector.catch_up()
        with fresh.engine.connect() as conn:
            head = audit_reads.digest(conn)
            result = audit_reads.verify(fresh.app, conn, head["position"], None)
            earlier = audit_reads.verify(
                fresh.app, conn, kept_head["position"], kept_head["head_hash"]
            )
        assert head["position"] > kept_head["position"]
        assert result["ok"] and earlier["ok"], (result, earlier)

        clock.now = DUE + timedelta(days=30)
        assert shred_expired(fresh, fresh.now()) == [later]
        assert counts(fresh.app.activity(later)) == before[later]
        assert shred_expired(fresh, fresh.now()) == []
    finally:
        fresh.close()


def test_an_activity_never_marked_held_is_shredded_too(rt: Runtime, clock: Clock) -> None:
    """Organisers may leave a long-past activity planned: the platform shreds it anyway."""
    organisers = Organisers(rt)
    fields = {
        "kind": "webinar",
        "title": {"en": "Webinar"},
        "summary": {"en": "Online."},
        "original_language": "en",
        "themes": ["youth"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": (ENDS - timedelta(hours=1)).isoformat(),
        "ends_at": ENDS.isoformat(),
    }
    activity_id = rt.app.plan_activity(caller=organisers.p, fields=fields).aggregate.id
    rt.app.register_participant(
        activity_id,
        caller=organisers.p,
        expected_version=1,
        fields={
            "name": "Lone Participant",
            "country": "IT",
            "town": "Bologna",
            "participant_type": "local",
        },
    )
    clock.now = DUE
    assert expire(rt, rt.now()) == {activity_id: 1}
    assert names(rt.app.activity(activity_id)) == [None]
    assert rt.app.activity(activity_id).state == "planned"
    assert expire(rt, rt.now()) == {}

    # Still planned, so someone may register after the shredding: the next run takes them.
    rt.app.register_participant(
        activity_id,
        caller=organisers.p,
        expected_version=organisers.version(activity_id),
        fields={"name": "Late", "country": "IT", "town": "Bologna", "participant_type": "local"},
    )
    assert expire(rt, rt.now()) == {activity_id: 1}
    assert names(rt.app.activity(activity_id)) == [None, None]


def test_only_the_platform_shreds_in_any_state(rt: Runtime) -> None:
    """The domain's extension: the system caller (a role no account can hold) shreds in
    any state and records the system actor; accounts still need held or cancelled."""
    organisers = Organisers(rt)
    fields = {
        "kind": "webinar",
        "title": {"en": "Webinar"},
        "summary": {"en": "Online."},
        "original_language": "en",
        "themes": ["youth"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": (ENDS - timedelta(hours=1)).isoformat(),
        "ends_at": ENDS.isoformat(),
    }
    activity = Activity.plan(organisers.p, fields)
    activity.register(
        organisers.p,
        {"name": "A", "country": "IT", "town": "Bologna", "participant_type": "local"},
        organisation_exists=lambda _: True,
    )
    admin = Caller("a", organisers.local, frozenset({"admin"}))
    pretender = Caller("x", "system", frozenset({"admin", "partner"}))
    for caller in (organisers.p, admin, pretender):
        with pytest.raises((StateConflict, NotPermitted)):
            activity.shred_participants(caller, "too early")
    assert activity.shred_participants(system_caller("run-1"), "retention of 1d passed")
    assert activity.collect_events()[-1].actor == system_actor("run-1")  # type: ignore[attr-defined]


def test_the_projector_shreds_on_its_own_at_most_every_so_often(rt: Runtime, clock: Clock) -> None:
    organisers = Organisers(rt)
    first = organisers.held_activity(ENDS, people=1, capacity=1)
    second = organisers.held_activity(ENDS + timedelta(days=1), people=1, capacity=1)
    clock.now = DUE + timedelta(hours=1)
    chore = RetentionChore(rt, every=3600)
    chore([])  # a standby projector leaves it to the active one
    assert names(rt.app.activity(first)) == ["Participant 0"]

    stop = threading.Event()
    ran: list[Any] = []

    def once(active: list[Any]) -> None:
        chore(active)
        ran.append(active)
        stop.set()

    rt.projector.run(stop, chore=once)
    assert ran and names(rt.app.activity(first)) == [None]
    clock.now = DUE + timedelta(days=2)
    chore(ran[0])  # within the hour: not again yet
    assert names(rt.app.activity(second)) == ["Participant 0"]
    chore.every = 0
    chore(ran[0])
    assert names(rt.app.activity(second)) == [None]


def test_the_command_reports_what_it_shredded(backend: dict[str, Any], rt: Runtime) -> None:
    """The command reads the real clock: an activity that ended in 2020 has outlived a
    retention of 1825 days, not one of 3650."""
    organisers = Organisers(rt)
    organisers.held_activity(datetime(2020, 1, 31, 16, 0, tzinfo=UTC), people=3, capacity=2)
    env: dict[str, Any] = {f"TWINNING_{k.upper()}": str(v) for k, v in backend.items()}
    env.update({f"TWINNING_{k.upper()}": str(v) for k, v in {**FAST_HASHING, **KEYS}.items()})
    env["TWINNING_LOG_LEVEL"] = "ERROR"
    runner = CliRunner()

    early = runner.invoke(
        cli, ["shred-expired-participants"], env={**env, "TWINNING_PARTICIPANT_RETENTION": "3650d"}
    )
    assert early.exit_code == 0, early.output
    assert early.stdout == (
        "twinning: 0 activities past the retention of 3650d: 0 participants shredded\n"
    )
    done = runner.invoke(cli, ["shred-expired-participants"], env=env)  # the default, 1825d
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "twinning: 1 activities past the retention of 1825d: 3 participants shredded\n"
    )
    again = runner.invoke(cli, ["shred-expired-participants"], env=env)
    assert again.stdout.startswith("twinning: 0 activities")


def test_two_processes_running_at_once_shred_each_activity_once(
    backend: dict[str, Any], rt: Runtime, clock: Clock
) -> None:
    organisers = Organisers(rt)
    activities = [organisers.held_activity(ENDS, people=2, capacity=2) for _ in range(3)]
    clock.now = DUE
    other = Runtime(settings(backend), clock=clock)
    start = threading.Barrier(2)
    results: list[dict[UUID, int]] = []
    errors: list[BaseException] = []

    def run(runtime: Runtime) -> None:
        start.wait()
        try:
            results.append(expire(runtime, clock.now))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    try:
        threads = [threading.Thread(target=run, args=(r,)) for r in (rt, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert not errors, errors
    shredded: dict[UUID, int] = {}
    for result in results:
        assert not set(result) & set(shredded)  # no activity shredded by both
        shredded.update(result)
    assert shredded == dict.fromkeys(activities, 2)
    for activity_id in activities:
        kinds = [type(e).__name__ for e in rt.app.events.get(activity_id)]
        assert kinds.count("ParticipantsShredded") == 1
        assert names(rt.app.activity(activity_id)) == [None, None]
    assert expire(rt, clock.now) == {}
