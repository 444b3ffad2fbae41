"""The console's personal-data pages (SQLite and PostgreSQL): a person downloads their data
and corrects their name; an admin downloads an account's data and erases it, only after a
confirmation page, a reason and the confirmation word."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import TestResponse

from tests.service.conftest import Browser, World, browser, ok


def attachment(response: TestResponse) -> dict[str, Any]:
    """The downloaded JSON document, after checking it is a download no cache keeps."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    document: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return document


def test_a_person_downloads_their_own_data_the_same_as_the_api_gives(world: World) -> None:
    person = world.partner()
    created = world.propose(person)
    world.project()
    console = browser(world, person)
    page = console.get("/console/me")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'href="/console/me/data"' in html
    assert person.account["email"] in html and "/console/me" in console.get("/console/").text
    downloaded = attachment(console.get("/console/me/data"))
    assert downloaded == ok(person.get("/api/v1/users/me/data"))
    assert downloaded["account"] == {
        **{k: person.account[k] for k in ("id", "email", "name", "organisation_id", "roles")},
        "erased": False,
        "active": True,
    }
    events = downloaded["events"]
    assert [(e["type"], e["aggregate_id"]) for e in events] == [("Proposed", created["id"])]
    signed_out = Browser(world.app).get("/console/me/data")
    assert signed_out.status_code == 303 and "/console/login" in signed_out.headers["Location"]


def test_an_admin_downloads_an_accounts_data_and_others_may_not(world: World) -> None:
    person = world.partner()
    admin = browser(world, world.admin)
    page = admin.get(f"/console/accounts/{person.id}").get_data(as_text=True)
    assert f'href="/console/accounts/{person.id}/data"' in page
    downloaded = attachment(admin.get(f"/console/accounts/{person.id}/data"))
    assert downloaded == ok(world.admin.get(f"/api/v1/users/{person.id}/data"))
    assert downloaded["account"]["email"] == person.account["email"]
    other = browser(world, world.partner())
    assert other.get(f"/console/accounts/{person.id}/data").status_code == 403


def test_a_person_corrects_their_own_name_and_an_empty_one_is_refused(world: World) -> None:
    person = world.partner()
    console = browser(world, person)
    console.get("/console/me")
    empty = console.post("/console/me", {"name": "   "})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 422 and 'id="name-error"' in html and "Must not be empty" in html
    assert ok(person.get("/api/v1/users/me"))["name"] == "Test Person"
    done = console.post("/console/me", {"name": "  Ana Kovač "})
    assert done.status_code == 303 and done.headers["Location"].endswith("/console/me?done=rectify")
    page = console.get(done.headers["Location"]).get_data(as_text=True)
    assert "Ana Kovač" in page and "Your name is corrected." in page
    assert ok(person.get("/api/v1/users/me"))["name"] == "Ana Kovač"
    world.project()
    entries = ok(world.admin.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    assert entries[-1]["type"] == "Rectified"
    assert entries[-1]["actor"]["account_id"] == person.id  # the person, as themself
    french = console.get("/console/me?lang=fr")
    assert "Mon compte" in french.get_data(as_text=True)
    refused = console.post("/console/me", {"name": ""}).get_data(as_text=True)
    assert "Ne doit pas être vide." in refused and "Must not be empty" not in refused


def test_erasure_asks_for_confirmation_then_erases(world: World) -> None:
    person = world.partner()
    email = person.account["email"]
    admin = browser(world, world.admin)
    path = f"/console/accounts/{person.id}"
    assert f'href="{path}/erase"' in admin.get(path).get_data(as_text=True)
    confirm = admin.get(f"{path}/erase")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'name="reason"' in html and 'name="confirm"' in html
    assert "cannot be undone" in html and "registered again" in html and person.id in html
    assert ok(world.admin.get(f"/api/v1/users/{person.id}"))["erased"] is False  # not yet

    unconfirmed = admin.post(f"{path}/erase", {"reason": "Art. 17 request", "confirm": ""})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text
    wrong_word = admin.post(f"{path}/erase", {"reason": "Art. 17 request", "confirm": "yes"})
    assert wrong_word.status_code == 422
    no_reason = admin.post(f"{path}/erase", {"reason": " ", "confirm": "ERASE"})
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    assert 'id="confirm-error"' not in no_reason.text
    assert ok(world.admin.get(f"/api/v1/users/{person.id}"))["email"] == email  # still there

    erased = admin.post(f"{path}/erase", {"reason": "Art. 17 request", "confirm": "ERASE"})
    assert erased.status_code == 303 and erased.headers["Location"].endswith("done=erase")
    body = ok(world.admin.get(f"/api/v1/users/{person.id}"))
    assert body["erased"] is True and body["email"] is None and body["name"] is None
    page = admin.get(erased.headers["Location"]).get_data(as_text=True)
    assert "Erased account" in page and "personal data is erased" in page
    assert email not in page and "Test Person" not in page
    assert "/do/" not in page and f"{path}/erase" not in page  # no further actions
    again = admin.get(f"{path}/erase")
    assert again.status_code == 303 and again.headers["Location"].endswith(path)
    world.project()
    entries = ok(world.admin.get(f"/api/v1/audit/entries?aggregate_id={person.id}"))["items"]
    assert entries[-1]["type"] == "Erased" and entries[-1]["rationale"] == "Art. 17 request"
    world.account(email=email)  # the email is free again


def test_erasure_in_french_takes_the_french_word(world: World) -> None:
    person = world.partner()
    admin = browser(world, world.admin)
    path = f"/console/accounts/{person.id}"
    page = admin.get(f"{path}/erase?lang=fr").get_data(as_text=True)
    assert "Pour confirmer, saisissez EFFACER" in page and "irréversible" in page
    refused = admin.post(f"{path}/erase", {"reason": "", "confirm": "ERASE!"}).text
    assert "Saisissez EFFACER pour confirmer" in refused and "Ne doit pas être vide." in refused
    assert "Some fields are invalid." not in refused  # the problem's detail in French too
    done = admin.post(f"{path}/erase", {"reason": "Demande art. 17", "confirm": "EFFACER"})
    assert done.status_code == 303
    assert ok(world.admin.get(f"/api/v1/users/{person.id}"))["erased"] is True


def test_only_admins_erase_and_never_themselves(world: World) -> None:
    person = world.partner()
    other = browser(world, world.partner())
    form = {"reason": "Art. 17 request", "confirm": "ERASE"}
    assert other.get(f"/console/accounts/{person.id}/erase").status_code == 403
    assert other.post(f"/console/accounts/{person.id}/erase", form).status_code == 403
    assert ok(world.admin.get(f"/api/v1/users/{person.id}"))["erased"] is False

    admin = browser(world, world.admin)
    own = f"/console/accounts/{world.admin.id}"
    assert f"{own}/erase" not in admin.get(own).get_data(as_text=True)
    shown = admin.get(f"{own}/erase")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 403 and "cannot erase your own account" in html
    assert 'name="confirm"' not in html
    refused = admin.post(f"{own}/erase", form)
    assert refused.status_code == 403 and "cannot erase your own account" in refused.text
    assert ok(world.admin.get("/api/v1/users/me"))["erased"] is False
    french = admin.post(f"{own}/erase?lang=fr", {**form, "confirm": "EFFACER"})
    assert french.status_code == 403
    assert "Vous ne pouvez pas effacer votre propre compte." in french.text


def test_the_new_forms_need_their_csrf_token(world: World) -> None:
    person = world.partner()
    console = browser(world, person)
    admin = browser(world, world.admin)
    erase_path = f"/console/accounts/{person.id}/erase"
    form = {"reason": "Art. 17 request", "confirm": "ERASE"}
    forms = ((console, "/console/me", {"name": "Forged"}), (admin, erase_path, form))
    for who, path, data in forms:
        missing = who.http.post(path, data=data)
        forged = who.http.post(path, data={**data, "csrf_token": "not the token"})
        assert missing.status_code == 400 and forged.status_code == 400
        other_site = who.post(path, data, headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 400
    body = ok(world.admin.get(f"/api/v1/users/{person.id}"))
    assert body["name"] == "Test Person" and body["erased"] is False
