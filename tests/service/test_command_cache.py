"""Commands and the aggregate cache (service.infrastructure.readcache.CheckedRepository): a process
fast-forwards a cached aggregate only when the request's check cannot show it current, yet
never acts on an aggregate another process changed before the request was checked; two
applications on one database stand for two API processes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import StaleVersion
from service.infrastructure.credentials import token_digest
from service.infrastructure.readcache import checks, reading_at
from service.infrastructure.runtime import runtime
from tests.service.conftest import Client, World, as_in, ok


class FastForwards:
    """Counts the fast-forwards of one process: the event store reads after a cached
    version (a real store; the calls are only counted)."""

    def __init__(self, app: Flask) -> None:
        store = runtime(app).app.repository.event_store
        self.calls = 0
        original = store.get

        def counted(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("gt") is not None and kwargs.get("lte") is None:
                self.calls += 1
            return original(*args, **kwargs)

        store.get = counted  # type: ignore[method-assign]


def edit(person: Client, path: str, version: int, n: int) -> dict[str, Any]:
    """A command that must be given the current version (If-Match): a process acting on
    an older copy answers 412."""
    return ok(person.patch(path, {"expected_participants": n}, version=version))


def test_a_command_after_one_in_another_process_sees_it(world: World, second: Flask) -> None:
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    here, there = lead, as_in(second, lead)
    counted = FastForwards(second)
    v = edit(there, path, body["version"], 1)["version"]  # kept in the second process
    v = edit(there, path, v, 2)["version"]
    assert counted.calls == 0  # its own save showed it current
    v = edit(here, path, v, 3)["version"]  # recorded by the first process
    v = edit(there, path, v, 4)["version"]  # the second must see it
    assert counted.calls == 1
    assert ok(there.get(path))["expected_participants"] == 4


def test_a_new_epoch_forgets_what_was_shown_current(
    world: World, second: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_GAP events since a process last looked, it no longer knows every version:
    what it had shown current is fast-forwarded again."""
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    there = as_in(second, lead)
    v = edit(there, path, body["version"], 1)["version"]
    monkeypatch.setattr(checks, "MAX_GAP", 2)
    for _ in range(2):
        world.organisation()
    v = edit(lead, path, v, 2)["version"]  # with the organisations: a gap of 3 events
    assert edit(there, path, v, 3)["version"] == v + 1


def test_a_command_that_meets_a_concurrent_one_loads_afresh(world: World, second: Flask) -> None:
    """The check, then an event recorded elsewhere, then the load: the cached copy looks
    current and is not; the insert fails on the version, the copy is dropped, and an edit
    (which merges and retries) is recorded on top of the other."""
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    there = as_in(second, lead)
    v = edit(there, path, body["version"], 1)["version"]
    rt = runtime(second)
    initiative_id = UUID(body["id"])
    caller = rt.read_cache.account(UUID(lead.id), None).caller("test")
    cache = rt.app.repository.cache
    assert cache is not None
    check = rt.read_cache.check_token(token_digest(lead.token or ""), rt.now())
    with reading_at(check.freshness):
        kept = cache.get(initiative_id)  # the copy another thread could still be holding
        assert rt.stamps.is_current(initiative_id, kept)
        edit(lead, path, v, 2)  # recorded by the first process after the check
        with pytest.raises(StaleVersion) as stale:
            rt.app.edit(
                initiative_id,
                caller=caller,
                expected_version=v,
                fields={"expected_participants": 3},
                base_version=None,
            )
        assert stale.value.current_version == v + 1
        # A thread that loaded before the conflict puts its copy back, stamped: the
        # conflict has marked the version tried, so the copy is not taken for current.
        cache.put(initiative_id, kept)
        assert check.freshness is not None
        rt.stamps.stamp(initiative_id, kept, check.head, check.freshness.epoch)
        assert not rt.stamps.is_current(initiative_id, kept)
        merged = rt.app.edit(
            initiative_id,
            caller=caller,
            expected_version=None,
            fields={"target_groups": ["youth"]},
            base_version=v,
        )
    assert merged.aggregate.version == v + 2
    assert merged.aggregate.fields["expected_participants"] == 2


STEPS = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=10)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_commands_in_any_order_across_processes_act_on_the_current_version(
    world: World, second: Flask, uncached: Flask, steps: list[tuple[bool, bool]]
) -> None:
    """Commands that must name the current version alternate between two processes at
    random, each sometimes after a read: every one is accepted, what each process then
    shows is byte for byte what a process replaying the store shows (the copy a save keeps
    is the aggregate the events rebuild), and the last state is the last command's."""
    lead, partner = world.partner(), world.partner()
    body = world.in_co_design(lead, partner)
    path = f"/api/v1/initiatives/{body['id']}"
    processes = {True: world.app, False: second}
    version = body["version"]
    for n, (where, read_first) in enumerate(steps, start=1):
        here = as_in(processes[where], lead)
        if read_first:
            assert ok(here.get(path))["version"] == version
        version = edit(here, path, version, n)["version"]
        assert here.get(path).data == as_in(uncached, lead).get(path).data
    for app in processes.values():
        shown = ok(as_in(app, lead).get(path))
        assert (shown["version"], shown["expected_participants"]) == (version, len(steps))
