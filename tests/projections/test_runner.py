"""The runner: batches, exactly-once under races, rebuild-and-swap, on both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from domain.values import Caller, system_actor
from projections import live
from projections.live import PostgresListener
from projections.registry import LIVE, VIEW_BY_NAME
from projections.runner import Projector
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING


@pytest.fixture
def rt(backend: dict[str, Any]) -> Iterator[Runtime]:
    runtime = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING}))
    yield runtime
    runtime.close()


def populate(rt: Runtime, initiatives: int = 30) -> None:
    """Organisations, and initiatives that go through invitations, edits and submission."""
    app = rt.app
    orgs = [
        str(
            app.register_organisation(
                actor=system_actor(),
                name=f"Org {n}",
                type_="civil_society",
                country=["IT", "RS", "AL"][n % 3],
            ).aggregate.id
        )
        for n in range(6)
    ]
    lead = Caller("lead", orgs[0], frozenset({"partner"}))
    partner = Caller("partner", orgs[1], frozenset({"partner"}))
    from uuid import UUID

    for n in range(initiatives):
        i = app.propose(
            caller=lead,
            fields={
                "title": {"en": f"Initiative {n}"},
                "summary": {"en": "S"},
                "original_language": "en",
                "themes": ["youth"],
                "level": "national",
                "countries": ["IT"],
            },
        ).aggregate
        if n % 2:
            app.invite_partner(i.id, caller=lead, expected_version=1, organisation_id=UUID(orgs[1]))
            app.join(i.id, caller=partner, expected_version=2, organisation_id=UUID(orgs[1]))
            app.edit(
                i.id,
                caller=partner,
                expected_version=None,
                fields={"expected_participants": n},
                base_version=3,
            )
            app.start_co_design(i.id, caller=lead, expected_version=4)
            app.submit(i.id, caller=lead, expected_version=5)


def rows(rt: Runtime, table: sa.Table) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def test_small_batches_and_one_big_rebuild_give_the_same_views(rt: Runtime) -> None:
    populate(rt)
    small = Projector(rt.app, rt.engine, batch_size=7)
    small.catch_up()
    assert set(small.positions().values()) == {small.head()}
    assert set(small.positions()) == {"organisations", "initiatives", "activities", "audit"}
    incremental = small.checksums()
    assert rows(rt, LIVE["initiatives"]["main"]) == 30
    assert rows(rt, LIVE["organisations"]["main"]) == 6
    for view in VIEW_BY_NAME.values():
        rt.projector.rebuild(view)
    assert rt.projector.checksums() == incremental
    rt.projector.rebuild(list(VIEW_BY_NAME.values()))  # all in one pass
    assert rt.projector.checksums() == incremental
    assert rt.projector.positions() == small.positions()


def test_racing_projectors_apply_each_event_exactly_once(rt: Runtime) -> None:
    populate(rt, initiatives=40)
    racers = [Projector(rt.app, rt.engine, batch_size=5) for _ in range(3)]
    errors: list[BaseException] = []

    def race(projector: Projector) -> None:
        try:
            projector.catch_up()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=race, args=(p,)) for p in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    raced = rt.projector.checksums()
    for view in VIEW_BY_NAME.values():
        rt.projector.rebuild(view)
    assert rt.projector.checksums() == raced


def test_a_rebuild_swaps_in_while_the_old_view_serves_and_new_events_follow(rt: Runtime) -> None:
    populate(rt, initiatives=10)
    rt.projector.catch_up()
    seen: list[tuple[int, int]] = []

    def progress(position: int, head: int) -> None:
        seen.append((position, head))
        # The live view answers during the rebuild.
        assert rows(rt, LIVE["initiatives"]["main"]) == 10

    rt.projector.rebuild(VIEW_BY_NAME["initiatives"], progress)
    assert seen and seen[-1][0] == seen[-1][1] == rt.projector.head()
    populate(rt, initiatives=2)
    rt.projector.catch_up()
    assert rows(rt, LIVE["initiatives"]["main"]) == 12
    with rt.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    assert not [name for name in names if "__r" in name]  # no leftovers


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_on_postgres_the_projector_is_woken_by_notify(rt: Runtime) -> None:
    stop = threading.Event()
    follower = threading.Thread(target=rt.projector.run, args=(stop, 0.1))
    follower.start()
    try:
        time.sleep(0.5)  # let it catch up and start listening
        latencies = []
        for n in range(5):
            recorded = rt.app.register_organisation(
                actor=system_actor(), name=f"Late {n}", type_="other", country="BE"
            )
            started = time.monotonic()
            while min(rt.projector.positions().values()) < recorded.position:
                assert time.monotonic() - started < 5
                time.sleep(0.005)
            latencies.append(time.monotonic() - started)
        # Without a notification it would look only every 2 s.
        assert max(latencies) < 1.0, latencies
    finally:
        stop.set()
        follower.join()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_catch_ups_start_at_least_coalesce_apart_and_no_later(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NOTIFY soon after the last catch-up started waits out the rest of COALESCE; one
    queued while a longer catch-up ran is taken at once (those events have waited)."""
    monkeypatch.setattr(live, "COALESCE", 0.5)  # wide: a slow moment blurs neither case
    listener = rt.projector._listener()
    assert isinstance(listener, PostgresListener)
    called = time.monotonic()
    listener(0)  # connects and listens
    assert listener.returned >= called  # a catch-up starts now
    pauses: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(live.time, "sleep", lambda s: (pauses.append(s), real_sleep(s)))
    try:
        for started_ago, pausing in ((0.0, True), (5 * live.COALESCE, False)):
            rt.app.register_organisation(
                actor=system_actor(), name=f"Notified {started_ago}", type_="other", country="BE"
            )
            listener.returned = time.monotonic() - started_ago
            pauses.clear()
            called = time.monotonic()
            listener(2.0)
            assert bool(pauses) is pausing, (started_ago, pauses)
            assert all(0 < pause <= live.COALESCE for pause in pauses)
            assert listener.returned >= called
        listener.conn.close()  # the database went away: the call fails, and still counts
        called = time.monotonic()
        listener(0.01)
        assert listener.conn is None and listener.returned >= called
    finally:
        listener.close()


def test_view_tables_of_an_earlier_release_gain_new_columns_and_lists_still_read(
    rt: Runtime,
) -> None:
    """A release that adds a (nullable) column to a view table upgrades it in place; rows
    written before it are rendered from their document, the same as fresh ones."""
    from projections import queries
    from projections.registry import create_tables

    populate(rt, 6)
    rt.projector.catch_up()
    with rt.engine.connect() as conn:
        fresh = queries.list_initiatives(conn, limit=4, cursor=None, scope=None).as_dict()
    main = LIVE["initiatives"]["main"]
    with rt.engine.begin() as conn:
        # As an earlier release left it: no card column.
        conn.exec_driver_sql(f"ALTER TABLE {main.name} DROP COLUMN card")
    create_tables(rt.engine)
    create_tables(rt.engine)  # a second process starting: nothing more to add
    with rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(main.c.card.is_(None))).scalar() == 6
        upgraded = queries.list_initiatives(conn, limit=4, cursor=None, scope=None).as_dict()
        assert upgraded == fresh and fresh["next_cursor"]
        second = queries.list_initiatives(conn, limit=4, cursor=fresh["next_cursor"], scope=None)
        assert len(second.as_dict()["items"]) == 2
    rt.projector.rebuild(VIEW_BY_NAME["initiatives"])
    with rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(main.c.card.is_(None))).scalar() == 0
        assert queries.list_initiatives(conn, limit=4, cursor=None, scope=None).as_dict() == fresh
