"""The activities view on real stores (SQLite, PostgreSQL): after every command its counts are
the aggregate's (registrations, the waiting list's promotion, attendance, erasure), no
participant's personal value reaches its tables, and a rebuild gives the same tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from domain.activity import Activity
from projections.activities import ActivitiesView, item
from projections.registry import LIVE, VIEW_BY_NAME
from service.infrastructure.runtime import Runtime
from tests.application.test_activities import EMAIL, NAME, World, settings

MAIN = LIVE["activities"]["main"]
THEMES = LIVE["activities"]["themes"]
TOWN = "San Lazzaro"


@pytest.fixture
def rt(backend: dict[str, Any]) -> Iterator[Runtime]:
    runtime = Runtime(settings(backend))
    yield runtime
    runtime.close()


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt)


def stored(rt: Runtime, activity: Activity) -> dict[str, Any]:
    """The view's document of the activity, once the projector has caught up."""
    rt.projector.catch_up()
    with rt.engine.connect() as conn:
        row = conn.execute(sa.select(MAIN).where(MAIN.c.id == str(activity.id))).one()
    document: dict[str, Any] = json.loads(row.doc)
    assert json.loads(row.card) == item(document)
    assert (row.state, row.version, row.kind) == (
        activity.state,
        activity.version,
        activity.kind,
    )
    return document


def check(rt: Runtime, world: World, activity: Activity) -> dict[str, Any]:
    """The view agrees with the aggregate as the store holds it now."""
    current = world.app.activity(activity.id)
    document = stored(rt, current)
    assert document["counts"] == current.counts()
    assert document["state"] == current.state
    return document


def everything_stored(rt: Runtime) -> str:
    """Every value of every activities table, as text."""
    texts = []
    with rt.engine.connect() as conn:
        for table in LIVE["activities"].values():
            for row in conn.execute(sa.select(table)):
                texts.extend(str(value) for value in row)
    return "\n".join(texts)


def test_counts_follow_registrations_promotions_attendance_and_erasure(
    rt: Runtime, world: World
) -> None:
    app = world.app
    activity = world.plan(capacity=2, themes=["local_democracy", "environment"])
    document = check(rt, world, activity)
    assert document["starts_at"] == "2027-05-01T08:00:00Z"  # UTC, as the API writes moments
    assert document["ends_at"] == "2027-05-01T16:00:00Z"
    assert document["organiser_ids"] == [world.org, world.co]
    first = world.register(activity)
    second = world.register(activity, name="Bruno", participant_type="invited")
    third = world.register(activity, name="Carla", country="FR", town="Lyon")
    document = check(rt, world, activity)
    assert (document["counts"]["registered"], document["counts"]["waitlisted"]) == (2, 1)

    current = app.activity(activity.id)
    _, promoted = app.cancel_registration(
        activity.id, caller=world.p, expected_version=current.version, registration_id=first
    )
    assert promoted == third
    document = check(rt, world, activity)
    assert document["counts"]["registered"] == 2
    assert document["counts"]["waitlisted"] == 0
    assert document["counts"]["cancelled"] == 1

    activity = world.step(activity, "open_registration")
    activity = world.step(activity, "close_registration")
    current = app.activity(activity.id)
    app.mark_attendance(
        activity.id,
        caller=world.p,
        expected_version=current.version,
        registration_ids=[second, third],
        attended=True,
    )
    current = app.activity(activity.id)
    app.mark_attendance(
        activity.id,
        caller=world.p,
        expected_version=current.version,
        registration_ids=[second],
        attended=False,
    )
    document = check(rt, world, activity)
    assert document["counts"]["attended"] == 1
    assert document["counts"]["by_country"] == {
        "IT": {"invited": {"registered": 1, "attended": 0}},
        "FR": {"local": {"registered": 1, "attended": 1}},
    }
    activity = world.step(activity, "mark_held")
    before = check(rt, world, activity)["counts"]

    app.erase_registration(activity.id, caller=world.p, registration_id=second, reason="Asked")
    assert check(rt, world, activity)["counts"] == before
    app.shred_participants(activity.id, caller=world.p, reason="Retention")
    document = check(rt, world, activity)
    assert document["counts"] == before
    assert document["state"] == "held"

    kept = everything_stored(rt)
    for personal in (NAME, EMAIL, TOWN, "Bruno", "Carla", "Lyon", "female"):
        assert personal not in kept


def test_cancelled_activities_and_themes_are_stored(rt: Runtime, world: World) -> None:
    activity = world.plan(themes=["environment"])
    current = world.app.activity(activity.id)
    world.app.cancel_activity(
        activity.id, caller=world.p, expected_version=current.version, reason="Storm"
    )
    assert check(rt, world, activity)["state"] == "cancelled"
    with rt.engine.connect() as conn:
        themes = conn.execute(
            sa.select(THEMES.c.theme).where(THEMES.c.ref == str(activity.id))
        ).all()
    assert [t for (t,) in themes] == ["environment"]


def test_a_rebuild_gives_the_tables_the_live_view_holds(rt: Runtime, world: World) -> None:
    rt.projector.batch_size = 3  # several batches, each folding part of an activity
    for n in range(3):
        activity = world.plan(capacity=1, city=f"Town {n}")
        world.register(activity)
        waiting = world.register(activity, name="Dora")
        world.register(activity, name="Enzo")
        current = world.app.activity(activity.id)
        world.app.cancel_registration(
            activity.id, caller=world.p, expected_version=current.version, registration_id=waiting
        )
    rt.projector.catch_up()
    live = rt.projector.checksums()
    assert everything_stored(rt)  # the view holds them
    rt.projector.rebuild(VIEW_BY_NAME["activities"])
    assert rt.projector.checksums() == live


def test_an_event_of_an_activity_never_planned_is_ignored(world: World) -> None:
    activity = Activity.plan(world.p, world.fields())
    activity.open_registration(world.p)
    planned, opened = activity.collect_events()
    view = ActivitiesView()
    assert view.fold(None, opened, 2) is None
    document = view.fold(None, planned, 1)
    assert document is not None
    assert view.fold(document, opened, 2)["state"] == "registration_open"  # type: ignore[index]
