"""The registration desk at the door, in a real browser on a phone-sized screen (390x844):
headless Chromium against the real `twinning serve`. The page fits the width, the live
search finds a participant whatever their accents, and one tap marks them present and
updates the count. SQLite only: the desk's rules run the same on both databases
(tests/service/test_console_activities.py checks them on each)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.test_browser import Person, account, critical_violations, organisation
from tests.e2e.test_browser import browser as browser  # the same headless Chromium
from tests.e2e.test_serve import ADMIN, Server, call
from tests.e2e.test_serve import server as server

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("timed-recovery")]

PEOPLE = ("Zoë Dupré", "Ahmed Ben Ali", "Åsa Öberg")


def ready_activity(server: Server, token: str) -> str:
    """An activity whose registration is closed, with PEOPLE registered: its id."""
    status, _, body = call(
        server.base,
        "POST",
        "/api/v1/activities",
        {
            "kind": "citizens_meeting",
            "title": {"en": "Meeting on the river"},
            "summary": {"en": "Twinned towns meet about their river."},
            "original_language": "en",
            "themes": ["environment"],
            "country": "IT",
            "city": "Bologna",
            "starts_at": "2027-05-01T09:00:00+00:00",
            "ends_at": "2027-05-01T17:00:00+00:00",
        },
        token,
    )
    assert status == 201, body
    path = f"/api/v1/activities/{body['id']}"
    status, _, body = call(server.base, "POST", f"{path}/open-registration", None, token, 1)
    assert status == 200, body
    version = body["version"]
    for name in PEOPLE:
        person = {"name": name, "country": "IT", "town": "Bologna", "participant_type": "local"}
        status, headers, body = call(
            server.base, "POST", f"{path}/registrations", person, token, version
        )
        assert status == 201, body
        version = int(headers["ETag"].strip('"'))
    status, _, body = call(server.base, "POST", f"{path}/close-registration", None, token, version)
    assert status == 200, body
    return str(body["id"])


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_the_desk_on_a_phone_finds_and_ticks_a_participant(browser: Any, server: Server) -> None:
    admin = server.login(ADMIN)
    org = organisation(server, admin, "Comune di Bologna", "local_authority", "IT")
    account(server, admin, "desk@bologna.test", "Desk Person", "partner", org)
    activity_id = ready_activity(server, server.login("desk@bologna.test"))
    phone = Person(browser, server, "desk@bologna.test", viewport={"width": 390, "height": 844})
    try:
        phone.sign_in()
        page = phone.page
        page.goto(f"/console/activities/{activity_id}/desk")
        count = page.locator("#desk-count")
        assert count.inner_text() == "Attended: 0 of 3"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"the desk is {overflow}px wider than a phone screen"
        # Live search (htmx), without accents or capitals.
        page.get_by_label("Find a participant by name").fill("dupre")
        page.locator(".desk-row").filter(has_text="Ahmed").wait_for(state="detached")
        assert page.locator(".desk-row").count() == 1
        toggle = page.get_by_role("button", name="Present: Zoë Dupré")
        box = toggle.bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb's target
        toggle.click()
        page.locator("#desk-count", has_text="Attended: 1 of 3").wait_for()
        pressed = page.get_by_role("button", name="Present: Zoë Dupré")
        assert pressed.get_attribute("aria-pressed") == "true"
        assert re.search(r"/desk$", page.url)  # answered in place, no reload
        assert page.get_by_label("Find a participant by name").input_value() == "dupre"
        assert not critical_violations(page)
        assert not phone.errors, phone.errors
    finally:
        phone.close()
