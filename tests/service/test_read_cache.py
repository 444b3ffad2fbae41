"""The per-process read cache (service/infrastructure/readcache/): two applications on one
database stand for two API processes; whatever one records, the other shows at once, and what the
cache serves is byte for byte what a process without the cache renders."""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.values import system_actor
from service.app import close_app
from service.infrastructure.readcache.aggregates import Change
from service.infrastructure.readcache.checks import CHECK_APPLICATION, PostgresCheck
from service.infrastructure.runtime import runtime
from tests.conftest import PG_URL, drop_schema, require_postgres
from tests.service.conftest import (
    Client,
    World,
    as_in,
    ok,
    other_process,
    problem,
    proposal,
)


def test_an_edit_recorded_by_another_process_is_read_at_once(
    world: World, second: Flask, uncached: Flask
) -> None:
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    elsewhere = as_in(second, lead)
    first = elsewhere.get(path)
    assert first.status_code == 200 and first.headers["ETag"] == f'"{body["version"]}"'
    assert UUID(body["id"]) in runtime(second).read_cache._bodies  # kept for the next read
    assert elsewhere.get(path).data == first.data

    edited = ok(lead.patch(path, {"summary": {"en": "Changed"}, "base_version": body["version"]}))
    after = elsewhere.get(path)
    assert after.json["version"] == edited["version"] == body["version"] + 1
    assert after.json["summary"] == {"en": "Changed"}
    assert after.headers["ETag"] == f'"{edited["version"]}"'
    assert after.data == as_in(uncached, lead).get(path).data


def test_allowed_actions_follow_the_caller(world: World, second: Flask, uncached: Flask) -> None:
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    for person in (lead, partner, world.reviewer(), world.admin):
        cached = as_in(second, person).get(path)
        assert cached.data == as_in(uncached, person).get(path).data
    lead_actions = as_in(second, lead).get(path).json["allowed_actions"]
    partner_actions = as_in(second, partner).get(path).json["allowed_actions"]
    assert "submit" in lead_actions and "submit" not in partner_actions


def test_a_role_granted_elsewhere_counts_at_once(world: World, second: Flask) -> None:
    person = world.partner()
    elsewhere = as_in(second, person)
    assert elsewhere.get("/api/v1/review-queue").status_code == 403
    ok(world.admin.post(f"/api/v1/users/{person.id}/roles", {"role": "reviewer"}), 200)
    assert elsewhere.get("/api/v1/review-queue").status_code == 200


def test_a_revoked_token_and_a_deactivated_account_are_refused_at_once(
    world: World, second: Flask
) -> None:
    leaving, staying = world.partner(), world.partner()
    other = world.login(staying.account["email"])
    for person in (leaving, staying, other):
        assert as_in(second, person).get("/api/v1/users/me").status_code == 200
    assert staying.delete("/api/v1/auth/tokens/current").status_code == 204
    problem(as_in(second, staying).get("/api/v1/users/me"), 401)
    assert as_in(second, other).get("/api/v1/users/me").status_code == 200
    ok(world.admin.post(f"/api/v1/users/{leaving.id}/deactivate"), 200)
    problem(as_in(second, leaving).get("/api/v1/users/me"), 401)


def test_list_pages_follow_the_view_position(world: World, second: Flask) -> None:
    lead = world.partner()
    world.propose(lead, title={"en": "First"})
    world.project()
    elsewhere = as_in(second, lead)
    page = elsewhere.get("/api/v1/initiatives").json
    assert [i["title"]["en"] for i in page["items"]] == ["First"]
    assert len(runtime(second).read_cache._pages) == 1  # kept at the view's position
    assert elsewhere.get("/api/v1/initiatives").json == page
    response = lead.post("/api/v1/initiatives", proposal(title={"en": "Second"}))
    position = int(response.headers["X-Position"])
    world.project()
    read = elsewhere.get("/api/v1/initiatives", headers={"X-Min-Position": str(position)})
    assert [i["title"]["en"] for i in read.json["items"]] == ["Second", "First"]
    assert [i["title"]["en"] for i in elsewhere.get("/api/v1/initiatives").json["items"]] == [
        "Second",
        "First",
    ]


def test_a_load_that_raced_a_newer_head_is_not_kept(world: World) -> None:
    cache = runtime(world.app).read_cache
    person = world.partner()
    account_id = UUID(person.id)
    cache._accounts.pop(account_id, None)  # as if never loaded in this process
    head = int(cache.head or 0)
    world.organisation()  # records an event: the store's head moves on
    newer = int(runtime(world.app).app.recorder.max_notification_id() or 0)
    assert newer > head
    cache.advance(newer)
    cache.account(account_id, head)  # loaded by a request that had seen the older head
    assert account_id not in cache._accounts
    cache.account(account_id, newer)
    assert account_id in cache._accounts


def test_a_head_another_request_moved_meanwhile_still_drops_what_changed(world: World) -> None:
    """Two requests take in heads at once: the one that retries from the other's head still
    drops what the events it read (as one pass over them) were about."""
    rt = runtime(world.app)
    cache = rt.read_cache
    person = world.partner()
    account_id = UUID(person.id)
    cache.advance(int(rt.app.recorder.max_notification_id() or 0))
    last = int(cache.head or 0)
    cache.account(account_id, last)
    assert account_id in cache._accounts
    organisation = rt.app.register_organisation(
        actor=system_actor(), name="Raced", type_="other", country="BE"
    )
    granted = rt.app.grant_role(account_id, actor=system_actor(), role="reviewer")
    changes = [
        Change(organisation.aggregate.id, organisation.aggregate.version),
        Change(account_id, granted.aggregate.version),
    ]

    class MovedFirst:
        """The cache's lock, taken first by a request that took in the organisation's head."""

        def __init__(self, lock: Any) -> None:
            self.lock, self.raced = lock, False

        def __enter__(self) -> None:
            self.lock.__enter__()
            if not self.raced:
                self.raced = True
                cache.head = organisation.position

        def __exit__(self, *exc: Any) -> None:
            self.lock.__exit__(*exc)

    real = cache._lock
    cache._lock = MovedFirst(real)
    try:
        cache.advance(granted.position, last, (change for change in changes))
    finally:
        cache._lock = real
    assert cache.head == granted.position
    assert account_id not in cache._accounts


STEPS = st.lists(
    st.tuples(st.sampled_from(["edit", "read", "project", "list"]), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_any_interleaving_reads_what_an_uncached_process_reads(
    world: World, second: Flask, uncached: Flask, steps: list[tuple[str, bool]]
) -> None:
    """Edits and reads alternate between two processes at random: every read, from either
    one, is byte for byte what a process without the cache answers."""
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    people = {True: lead, False: partner}
    processes = {True: world.app, False: second}
    n = 0
    for step, flag in steps:
        here = as_in(processes[flag], people[flag])
        if step == "edit":
            n += 1
            current = here.get(path).json["version"]
            ok(here.patch(path, {"expected_participants": n, "base_version": current}))
        elif step == "project":
            world.project()
        else:
            target = path if step == "read" else "/api/v1/initiatives?limit=5"
            assert here.get(target).data == as_in(uncached, people[flag]).get(target).data


def live_check_connections(app: Flask) -> int:
    """The check's connections this process holds open (one per thread that asked)."""
    return sum(1 for closer in runtime(app).read_cache._check.connections.closers if closer.alive)


def this_thread_s_check_pid(app: Flask) -> int | None:
    """The server process behind this thread's check connection (None on SQLite)."""
    holder = getattr(runtime(app).read_cache._check.connections.local, "holder", None)
    info = getattr(holder.conn, "info", None) if holder is not None else None
    return None if info is None else int(info.backend_pid)


def still_connected(pids: list[int]) -> set[int]:
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid = ANY(%s)",
            (CHECK_APPLICATION, pids),
        ).fetchall()
    return {int(row[0]) for row in rows}


def test_a_thread_s_connection_goes_with_the_thread(world: World) -> None:
    """A server that starts a thread per request leaves no connection behind."""
    lead = world.partner()
    assert lead.get("/api/v1/users/me").status_code == 200
    held = live_check_connections(world.app)
    answers: list[int] = []
    pids: list[int] = []

    def request() -> None:
        answers.append(lead.get("/api/v1/users/me").status_code)
        pid = this_thread_s_check_pid(world.app)
        if pid is not None:
            pids.append(pid)

    for _ in range(5):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    assert answers == [200] * 5
    gc.collect()
    assert live_check_connections(world.app) == held
    if pids:  # PostgreSQL: the server saw each of them go
        assert len(set(pids)) == 5
        deadline = time.monotonic() + 10
        while still_connected(pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert still_connected(pids) == set()


@pytest.fixture
def on_postgres() -> Iterator[World]:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    app = other_process({"database_url": PG_URL, "database_schema": schema, "pool_size": 2})
    try:
        yield World(app)
    finally:
        close_app(app)
        drop_schema(schema)


@pytest.mark.postgres
def test_a_check_connection_the_server_dropped_is_replaced(on_postgres: World) -> None:
    world = on_postgres
    lead = world.partner()
    assert lead.get("/api/v1/users/me").status_code == 200
    pid = this_thread_s_check_pid(world.app)
    assert pid is not None
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        dropped = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert dropped is not None and dropped[0]
    me = lead.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json["id"] == lead.id
    problem(
        Client(world.app.test_client(), "not-a-token", lead.account).get("/api/v1/users/me"), 401
    )


@pytest.mark.postgres
def test_a_check_that_cannot_be_prepared_is_an_error_not_an_outage(on_postgres: World) -> None:
    rt = runtime(on_postgres.app)
    check = PostgresCheck(rt.app.recorder, f"missing_{uuid.uuid4().hex[:8]}", rt.availability)
    with pytest.raises(ProgrammingError, match="cannot be prepared"):
        check.row("0" * 64, None)
    assert not rt.availability.down
    assert on_postgres.admin.get("/api/v1/users/me").status_code == 200
    check.close()
