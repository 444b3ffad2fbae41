"""The console's account pages (SQLite and PostgreSQL): changing one's password, and an
admin's account page with a one-time password reset, deactivation and reactivation."""

from __future__ import annotations

import re

from tests.service.conftest import PASSWORD, Browser, World, browser, ok, problem

NEW_PASSWORD = "a console passphrase 2031"


def test_a_password_change_in_the_console_ends_the_session_and_asks_to_sign_in(
    world: World,
) -> None:
    partner = world.partner()
    person = browser(world, partner)
    assert "/console/password" in person.get("/console/").get_data(as_text=True)
    page = person.get("/console/password")
    assert page.status_code == 200 and 'name="new_password"' in page.get_data(as_text=True)
    form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    wrong = person.post("/console/password", {**form, "current_password": "not it at all"})
    assert wrong.status_code == 403 and "current password is wrong" in wrong.get_data(as_text=True)
    common = person.post(
        "/console/password",
        {
            "current_password": PASSWORD,
            "new_password": "1qaz2wsx3edc",
            "confirm_password": "1qaz2wsx3edc",
        },
    )
    assert common.status_code == 422 and "Too common" in common.get_data(as_text=True)
    differ = person.post(
        "/console/password", {**form, "current_password": PASSWORD, "confirm_password": "x"}
    )
    assert differ.status_code == 422
    ok(partner.get("/api/v1/users/me"))  # nothing changed so far
    changed = person.post("/console/password", {**form, "current_password": PASSWORD})
    html = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "sign in again" in html
    assert "twinning_session=;" in changed.headers.get("Set-Cookie", "")
    assert NEW_PASSWORD not in html
    problem(partner.get("/api/v1/users/me"), 401)  # the API token is revoked as well
    assert person.get("/console/").status_code == 303
    Browser(world.app).sign_in(partner.account["email"], NEW_PASSWORD)


def test_an_admin_issues_a_reset_shown_once_and_reactivates(world: World) -> None:
    partner = world.partner()
    admin = browser(world, world.admin)
    assert "/console/accounts" in admin.get("/console/").get_data(as_text=True)
    assert admin.get("/console/accounts").status_code == 200
    missing = admin.post("/console/accounts", {"email": "nobody@twinning.test"})
    assert missing.status_code == 404
    found = admin.post("/console/accounts", {"email": partner.account["email"].upper()})
    assert found.status_code == 303 and found.headers["Location"].endswith(partner.id)
    page_path = f"/console/accounts/{partner.id}"
    assert partner.account["email"] in admin.get(page_path).get_data(as_text=True)

    issued = admin.post(f"{page_path}/do/reset")
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    match = re.search(r'<code id="reset-token">([^<]+)</code>', issued.get_data(as_text=True))
    assert match
    token = match.group(1)
    assert token not in admin.get(page_path).get_data(as_text=True)  # never shown again
    redeemed = world.http.post(
        "/api/v1/auth/password-resets", json={"reset_token": token, "new_password": NEW_PASSWORD}
    )
    assert redeemed.status_code == 204

    off = admin.post(f"{page_path}/do/deactivate")
    assert off.status_code == 303
    page = admin.get(off.headers["Location"]).get_data(as_text=True)
    assert "deactivated" in page and "/do/reactivate" in page
    on = admin.post(f"{page_path}/do/reactivate")
    assert on.status_code == 303
    assert "/do/deactivate" in admin.get(on.headers["Location"]).get_data(as_text=True)
    assert admin.post(f"{page_path}/do/reactivate").status_code == 409
    assert admin.post(f"{page_path}/do/nothing").status_code == 404
    Browser(world.app).sign_in(partner.account["email"], NEW_PASSWORD)


def test_account_pages_are_for_admins_only(world: World) -> None:
    partner = world.partner()
    person = browser(world, partner)
    assert "/console/accounts" not in person.get("/console/").get_data(as_text=True)
    assert person.get("/console/accounts").status_code == 403
    assert person.get(f"/console/accounts/{partner.id}").status_code == 403
    assert person.post(f"/console/accounts/{partner.id}/do/reset").status_code == 403


def test_an_admin_corrects_a_name_and_email_and_a_taken_email_is_refused(world: World) -> None:
    partner, other = world.partner(), world.partner()
    admin = browser(world, world.admin)
    path = f"/console/accounts/{partner.id}"
    admin.get(path)
    taken = admin.post(f"{path}/do/rectify", {"name": "Ana", "email": other.account["email"]})
    assert taken.status_code == 409 and "This email is taken" in taken.get_data(as_text=True)
    bad = admin.post(f"{path}/do/rectify", {"name": "", "email": "not an email"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="name-error"' in html and 'id="email-error"' in html
    done = admin.post(f"{path}/do/rectify", {"name": "Ana Novak", "email": "ana@twinning.test"})
    assert done.status_code == 303
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "Ana Novak" in page and "ana@twinning.test" in page and "corrected" in page
    assert ok(world.login("ana@twinning.test").get("/api/v1/users/me"))["id"] == partner.id
