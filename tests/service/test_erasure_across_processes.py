"""An account erased through one process reads as erased through every other at once: each
process keeps the data keys it read for a while, and the erasure's events make the others
read the key again (and find it destroyed)."""

from __future__ import annotations

from flask import Flask

from tests.service.conftest import World, as_in, ok


def test_another_process_stops_revealing_an_erased_account_at_once(
    world: World, second: Flask
) -> None:
    person = world.partner()
    world.project()
    auditor = as_in(second, world.admin)
    path = f"/api/v1/audit/entries?aggregate_id={person.id}"
    # The other process reads the email: the person's key is in its key cache now.
    registered = ok(auditor.get(path))["items"][0]
    assert registered["changes"]["email"]["new"] == person.account["email"]
    assert registered["changes"]["name"]["new"] == "Test Person"
    ok(world.admin.post(f"/api/v1/users/{person.id}/erase", {"reason": "Art. 17 request"}))
    world.project()
    registered = ok(auditor.get(path))["items"][0]
    assert registered["changes"]["email"] == {"old": None, "new": None}
    assert registered["changes"]["name"] == {"old": None, "new": None}
    assert ok(auditor.get(f"/api/v1/users/{person.id}"))["email"] is None
