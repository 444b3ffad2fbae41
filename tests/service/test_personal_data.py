"""Personal data through the API: an account's email and name are sealed with its own key;
erasure destroys the key (the account reads as erased everywhere, the chain still verifies,
the email can be registered again); a person can download everything held about them."""

from __future__ import annotations

import json

from flask import Flask

from service.infrastructure.runtime import runtime
from tests.service.conftest import World, as_in, ok, problem


def test_an_erased_account_reads_as_null_everywhere_and_the_chain_verifies(
    app: Flask, world: World
) -> None:
    person = world.partner()
    email = person.account["email"]
    created = world.propose(person)
    world.project()
    erased = ok(world.admin.post(f"/api/v1/users/{person.id}/erase", {"reason": "Art. 17 request"}))
    assert erased == {
        "id": person.id,
        "erased": True,
        "email": None,
        "name": None,
        "organisation_id": person.account["organisation_id"],
        "roles": ["partner"],
        "active": False,
    }
    assert ok(world.admin.get(f"/api/v1/users/{person.id}")) == erased
    assert person.get("/api/v1/users/me").status_code == 401  # its tokens are gone
    again = problem(world.admin.post(f"/api/v1/users/{person.id}/erase", {"reason": "x"}), 409)
    assert "erased" in again["detail"]
    world.project()
    entries = ok(world.admin.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    kinds = [e["type"] for e in entries]
    assert kinds[0] == "Registered" and kinds[-1] == "Erased"
    assert entries[0]["changes"]["email"] == {"old": None, "new": None}
    assert entries[-1]["rationale"] == "Art. 17 request"
    assert entries[-1]["actor"]["account_id"] == world.admin.id
    history = ok(world.admin.get(f"/api/v1/initiatives/{created['id']}/history"))["items"]
    assert history[0]["actor"]["account_id"] == person.id  # what the id did stays
    assert ok(world.admin.get("/api/v1/audit/verify"))["ok"] is True
    # the email is free again, for a new account with a new key
    again_person = world.account(email=email)
    assert again_person.id != person.id and again_person.account["email"] == email
    feed = ok(world.admin.get("/api/v1/events?limit=200"))["items"]
    text = json.dumps(feed)
    assert email not in text and "Test Person" not in text


def test_an_auditor_reads_an_accounts_data_until_it_is_erased(app: Flask, world: World) -> None:
    person = world.partner()
    world.project()
    entries = ok(world.admin.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    assert entries[0]["changes"]["email"]["new"] == person.account["email"]
    assert entries[0]["changes"]["name"]["new"] == "Test Person"
    # the view itself holds it sealed only
    with runtime(app).engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT changes FROM audit_entries").scalars().all()
    assert person.account["email"] not in "".join(stored)


def test_a_person_downloads_their_data(app: Flask, world: World) -> None:
    person = world.partner()
    created = world.propose(person)
    world.project()
    response = person.get("/api/v1/users/me/data")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    data = response.json
    assert data["account"]["email"] == person.account["email"]
    assert [(g["role"], g["change"], g["by"]) for g in data["role_grants"]] == [
        ("partner", "granted", world.admin.id)
    ]
    assert [(e["type"], e["aggregate_id"]) for e in data["events"]] == [("Proposed", created["id"])]
    assert data["texts"][0]["texts"]["fields"]["title"] == created["title"]
    assert data["tokens"] and all(t["issued_at"] and t["expires_at"] for t in data["tokens"])
    assert "token" not in json.dumps(data["tokens"]).replace('"tokens"', "").replace("_at", "")
    assert ok(world.admin.get(f"/api/v1/users/{person.id}/data"))["account"]["id"] == person.id
    problem(person.get(f"/api/v1/users/{world.admin.id}/data"), 403)
    problem(person.post(f"/api/v1/users/{world.admin.id}/erase", {"reason": "x"}), 403)
    problem(world.admin.post(f"/api/v1/users/{world.admin.id}/erase", {"reason": "x"}), 403)
    problem(world.admin.post(f"/api/v1/users/{person.id}/erase", {"reason": ""}), 422)


def test_an_erasure_in_one_process_shows_at_once_in_another(
    app: Flask, second: Flask, world: World
) -> None:
    person = world.partner()
    world.project()
    elsewhere = as_in(second, world.admin)
    # The other process reads the person's data, so it holds their key and account.
    entries = ok(elsewhere.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    assert entries[0]["changes"]["name"]["new"] == "Test Person"
    assert ok(elsewhere.get(f"/api/v1/users/{person.id}"))["name"] == "Test Person"
    ok(world.admin.post(f"/api/v1/users/{person.id}/erase", {"reason": "Art. 17 request"}))
    entries = ok(elsewhere.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    assert entries[0]["changes"]["name"]["new"] is None
    assert ok(elsewhere.get(f"/api/v1/users/{person.id}"))["name"] is None
    assert "Test Person" not in elsewhere.get(f"/api/v1/users/{person.id}/data").get_data(
        as_text=True
    )
