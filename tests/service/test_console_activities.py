"""The console's activities over the real application and read views (SQLite and
PostgreSQL): the list, the plan form, the organisers' commands with the version read,
registrations with a waiting list, erasure, and the registration desk at the door."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest

from tests.service.conftest import Browser, World, browser, ok
from tests.service.test_activities_api import A, plan_body
from tests.service.test_console import follow, version_of

NAME = "Zoë Dupré-Lefèvre"


def html(response: Any) -> str:
    return str(response.get_data(as_text=True))


class Desk:
    """An organiser (Italy) in the console and by the API, a co-organiser, an outsider, an
    auditor and the admin."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.org = world.partner(country="IT")
        self.co = world.partner(country="FR")
        self.outsider = world.partner(country="DE")
        self.auditor = world.account(world.organisation(type_="other"), "auditor")
        self.console = browser(world, self.org)

    def plan(self, **overrides: Any) -> dict[str, Any]:
        body = plan_body(co_organiser_ids=[self.co.organisation_id], **overrides)
        return ok(self.org.post(A, body), 201)

    def read(self, activity: dict[str, Any]) -> dict[str, Any]:
        return ok(self.world.anonymous.get(f"{A}/{activity['id']}"))

    def step(self, activity: dict[str, Any], command: str) -> dict[str, Any]:
        return ok(self.org.post(f"{A}/{activity['id']}/{command}", version=activity["version"]))

    def register(self, activity: dict[str, Any], name: str, **fields: Any) -> str:
        body = {"name": name, "country": "IT", "town": "Bologna", "participant_type": "local"}
        path = f"{A}/{activity['id']}/registrations"
        version = self.read(activity)["version"]
        return str(ok(self.org.post(path, {**body, **fields}, version=version), 201)["id"])

    def page(
        self, activity: dict[str, Any], suffix: str = "", person: Browser | None = None
    ) -> Any:
        return (person or self.console).get(f"/console/activities/{activity['id']}{suffix}")


@pytest.fixture
def desk(world: World) -> Desk:
    return Desk(world)


def plan_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "kind": "national_workshop",
        "original_language": "en",
        "title": "Workshop on shared rivers",
        "summary": "Towns along the river plan together.",
        "themes": ["environment"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": "2027-05-01T09:00",
        "ends_at": "2027-05-01T17:30",
        "capacity": "",
        "initiative_id": "",
    }
    form.update(overrides)
    return form


# ------------------------------------------------------------------------ list, plan
def test_plan_with_errors_then_success_and_the_list(desk: Desk, world: World) -> None:
    person = desk.console
    assert person.get("/console/activities/new").status_code == 200
    refused = person.post(
        "/console/activities/new",
        plan_form(title="", ends_at="2027-04-30T09:00", capacity="many", city="Bologna"),
    )
    assert refused.status_code == 422
    page = html(refused)
    assert 'id="ends_at-error"' in page and "Must not be before starts_at." in page
    assert 'id="capacity-error"' in page
    assert 'value="Bologna"' in page  # the form as the person left it
    response = person.post(
        "/console/activities/new",
        plan_form(capacity="30", co_organiser_ids=[desk.co.organisation_id]),
    )
    shown = follow(person, response)
    assert "The activity is planned." in html(shown)
    activity_id = re.search(r"/console/activities/([0-9a-f-]{36})", response.headers["Location"])
    assert activity_id
    body = ok(world.anonymous.get(f"{A}/{activity_id.group(1)}"))
    # The datetime-local fields are UTC, as the form says.
    assert body["starts_at"].startswith("2027-05-01T09:00:00")
    assert body["starts_at"].endswith(("+00:00", "Z"))
    assert body["capacity"] == 30
    assert body["organiser_ids"] == [desk.org.organisation_id, desk.co.organisation_id]
    world.project()
    listing = html(person.get("/console/activities"))
    assert "My organisation&#39;s activities" in listing or "My organisation's" in listing
    assert listing.count("Workshop on shared rivers") == 2  # mine, then all
    others = html(browser(world, desk.outsider).get("/console/activities"))
    assert others.count("Workshop on shared rivers") == 1
    anonymous = Browser(world.app).get("/console/activities?kind=national_workshop&country=it")
    assert anonymous.status_code == 200 and "Workshop on shared rivers" in html(anonymous)
    assert "Workshop on shared rivers" not in html(person.get("/console/activities?kind=webinar"))
    assert person.get("/console/activities?state=asleep").status_code == 422
    # Planning is for partners.
    assert browser(world, desk.auditor).get("/console/activities/new").status_code == 403


# ------------------------------------------------------------------------ state commands
def test_each_state_command_with_the_version_read(desk: Desk) -> None:
    activity = desk.plan()
    person = desk.console
    page = desk.page(activity)
    read = version_of(page)
    base = f"/console/activities/{activity['id']}/do"
    shown = follow(person, person.post(f"{base}/open_registration", {"version": read}))
    assert "The registration is open." in html(shown)
    assert desk.read(activity)["state"] == "registration_open"
    # The version read before: someone changed it meanwhile.
    stale = person.post(f"{base}/close_registration", {"version": read})
    assert stale.status_code == 412
    assert "The activity changed meanwhile" in html(stale)
    assert desk.read(activity)["state"] == "registration_open"
    for action, state in (("close_registration", "registration_closed"), ("mark_held", "held")):
        version = version_of(desk.page(activity))
        follow(person, person.post(f"{base}/{action}", {"version": version}))
        assert desk.read(activity)["state"] == state
    # Held: no command left to show, and none taken.
    held = html(desk.page(activity))
    assert "/do/" not in held
    refused = person.post(
        f"{base}/cancel", {"version": desk.read(activity)["version"], "reason": "x"}
    )
    assert refused.status_code == 409 and "Not possible in this state" in html(refused)
    other = desk.plan()
    version = version_of(desk.page(other))
    path = f"/console/activities/{other['id']}/do/cancel"
    assert person.post(path, {"version": version, "reason": ""}).status_code == 422
    shown = follow(person, person.post(path, {"version": version, "reason": "The hall flooded."}))
    assert "The activity is cancelled." in html(shown) and "The hall flooded." in html(shown)
    assert desk.read(other)["state"] == "cancelled"
    # Without the version: the console says it is missing.
    assert person.post(f"/console/activities/{other['id']}/do/mark_held").status_code == 428


# ------------------------------------------------------------------------ registrations
def register_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "name": NAME,
        "email": "",
        "country": "IT",
        "town": "Bologna",
        "organisation_id": "",
        "participant_type": "local",
        "age_band": "31_64",
        "gender": "",
    }
    form.update(overrides)
    return form


def test_registered_then_waitlisted_cancel_promotes_and_erase(desk: Desk) -> None:
    activity = desk.plan(capacity=1)
    person = desk.console
    path = f"/console/activities/{activity['id']}/registrations"
    invalid = person.post(path, {**register_form(name="", email="nope"), "version": 1})
    assert invalid.status_code == 422
    assert 'id="name-error"' in html(invalid) and 'id="email-error"' in html(invalid)
    first = follow(person, person.post(path, {**register_form(), "version": 1}))
    assert "The person is registered." in html(first)
    second = person.post(
        path, {**register_form(name="Ahmed Ben Ali"), "version": version_of(first)}
    )
    second = follow(person, second)
    assert "the person is on the waiting list" in html(second)
    counts = desk.read(activity)
    assert (counts["registered"], counts["waitlisted"]) == (1, 1)
    ids = re.findall(r'id="registration-([0-9a-f-]{36})"', html(second))
    assert len(ids) == 2 and NAME in html(second)
    # Cancelling the registered one promotes the waitlisted one.
    cancel = f"/console/activities/{activity['id']}/do/cancel_registration"
    follow(person, person.post(cancel, {"registration_id": ids[0], "version": version_of(second)}))
    counts = desk.read(activity)
    assert (counts["registered"], counts["waitlisted"]) == (1, 0)
    # Erasure: a confirmation page, then a reason and the word typed.
    erase = f"/console/activities/{activity['id']}/registrations/{ids[0]}/erase"
    assert NAME in html(person.get(erase))
    refused = person.post(erase, {"reason": "Asked by email.", "confirm": ""})
    assert refused.status_code == 422
    shown = follow(person, person.post(erase, {"reason": "Asked by email.", "confirm": "ERASE"}))
    assert "personal data is erased" in html(shown)
    assert NAME not in html(shown) and "data erased" in html(shown)
    assert "Ahmed Ben Ali" in html(shown)


# ------------------------------------------------------------------------ the desk
def test_desk_search_ignores_accents_and_case(desk: Desk) -> None:
    activity = desk.plan()
    for name in (NAME, "Ahmed Ben Ali", "Åsa Öberg"):
        desk.register(activity, name)
    page = html(desk.page(activity, "/desk?q=dupre"))
    assert NAME in page and "Ahmed" not in page and "Åsa" not in page
    assert NAME in html(desk.page(activity, "/desk?q=ZOË"))
    page = html(desk.page(activity, "/desk?q=OBERG"))
    assert "Åsa Öberg" in page and NAME not in page
    assert "Nobody registered matches" in html(desk.page(activity, "/desk?q=xyz"))
    everyone = html(desk.page(activity, "/desk"))
    assert all(name in everyone for name in (NAME, "Ahmed Ben Ali", "Åsa Öberg"))
    # htmx's live search gets the results alone.
    fragment = desk.console.get(
        f"/console/activities/{activity['id']}/desk?q=ben", headers={"HX-Request": "true"}
    )
    assert "<html" not in html(fragment) and "Ahmed Ben Ali" in html(fragment)
    # A walk-in: the desk's link to the registration form, and back to the desk.
    walk_in = re.search(r'href="([^"]+back=desk[^"]*)"', everyone)
    assert walk_in
    form = desk.console.get(walk_in.group(1).replace("&amp;", "&"))
    assert 'name="back" value="desk"' in html(form)
    response = desk.console.post(
        f"/console/activities/{activity['id']}/registrations",
        {**register_form(name="Walk In"), "version": version_of(form), "back": "desk"},
    )
    assert "/desk" in response.headers["Location"]
    back = html(follow(desk.console, response))
    assert "The person is registered." in back and "Walk In" in back


def tick(desk: Desk, activity: dict[str, Any], rid: str, version: int, **kw: Any) -> Any:
    return desk.console.post(
        f"/console/activities/{activity['id']}/desk",
        {"registration_id": rid, "attended": "1", "version": version, "q": "zo"},
        **kw,
    )


def test_ticking_attendance_only_when_the_rules_allow(desk: Desk) -> None:
    activity = desk.step(desk.plan(), "open-registration")
    rid = desk.register(activity, NAME)
    desk.register(activity, "Ahmed Ben Ali")
    # Registration still open: not yet, and the desk says why.
    page = desk.page(activity, "/desk")
    assert "Attendance is marked once the registration is closed" in html(page)
    refused = tick(desk, activity, rid, version_of(desk.page(activity)))
    assert refused.status_code == 409
    assert desk.read(activity)["attended"] == 0
    activity = desk.step(desk.read(activity), "close-registration")
    page = desk.page(activity, "/desk")
    assert "Attended: 0 of 2" in html(page)
    assert "Walk-ins cannot be registered now" in html(page)
    response = tick(desk, activity, rid, version_of(page))
    assert response.status_code == 303 and "q=zo" in response.headers["Location"]
    assert "Attended: 1 of 2" in html(desk.console.get(response.headers["Location"]))
    assert desk.read(activity)["attended"] == 1
    # A stale desk (another phone ticked meanwhile) says so.
    stale = tick(desk, activity, rid, version_of(page))
    assert stale.status_code == 412 and "The activity changed meanwhile" in html(stale)
    # htmx: the results answered in place, the counter updated.
    version = desk.read(activity)["version"]
    fragment = desk.console.post(
        f"/console/activities/{activity['id']}/desk",
        {"registration_id": rid, "attended": "0", "version": version},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and "Attended: 0 of 2" in html(fragment)
    assert "<html" not in html(fragment)
    # Held, and the list signed by the organiser: frozen.
    activity = desk.step(desk.read(activity), "held")
    ok(
        desk.org.post(
            f"{A}/{activity['id']}/attendance-lists/certify",
            {"town": "Bologna", "country": "IT"},
            version=activity["version"],
        )
    )
    frozen = tick(desk, activity, rid, desk.read(activity)["version"])
    assert frozen.status_code == 409 and "attendance list is signed" in html(frozen)
    assert "Signed list" in html(desk.page(activity, "/desk"))


# ------------------------------------------------------------------------ who sees what
def test_who_reads_participants_and_who_uses_the_desk(desk: Desk, world: World) -> None:
    activity = desk.plan()
    rid = desk.register(activity, NAME)
    outsider = browser(world, desk.outsider)
    auditor = browser(world, desk.auditor)
    admin = browser(world, world.login("admin@twinning.test"))
    anonymous = Browser(world.app)
    public = desk.page(activity, person=anonymous)
    assert public.status_code == 200
    assert "Citizens" in html(public) and NAME not in html(public)
    assert "Registered" in html(public) and "Bologna" in html(public)  # the city, a count
    assert NAME not in html(desk.page(activity, person=outsider))
    for reader in (auditor, admin):
        page = html(desk.page(activity, person=reader))
        assert NAME in page  # read-only: no command, no erasure link
        assert "/do/" not in page and "/erase" not in page and "Add a registration" not in page
    for person in (outsider, auditor, admin):
        assert desk.page(activity, "/desk", person=person).status_code == 403
        erase = f"/registrations/{rid}/erase"
        assert desk.page(activity, erase, person=person).status_code == 403
    assert desk.page(activity, "/desk", person=anonymous).status_code == 303
    version = desk.read(activity)["version"]
    base = f"/console/activities/{activity['id']}"
    assert outsider.post(f"{base}/do/open_registration", {"version": version}).status_code == 403
    ticked = outsider.post(
        f"{base}/desk", {"registration_id": rid, "attended": "1", "version": version}
    )
    assert ticked.status_code == 403
    registered = outsider.post(f"{base}/registrations", {**register_form(), "version": version})
    assert registered.status_code == 403
    assert desk.read(activity)["registered"] == 1


def test_the_pages_read_in_french(desk: Desk, world: World) -> None:
    activity = desk.plan()
    public = html(desk.page(activity, "?lang=fr", person=Browser(world.app)))
    assert "Inscrits" in public and "Prévue" in public and "Rencontre citoyenne" in public
    french = html(desk.page(activity, "/desk?lang=fr"))
    assert "Présents : 0 sur 0" in french and "Accueil des participants" in french


def test_bad_input_gets_a_page_that_says_so_never_a_500(desk: Desk) -> None:
    activity = desk.step(desk.plan(), "open-registration")
    person = desk.console
    base = f"/console/activities/{activity['id']}"
    plans = [
        {"capacity": "9" * 30},
        {"capacity": "-3"},
        {"starts_at": "tomorrow", "ends_at": "2027-13-45T99:99"},
        {"country": "ZZ", "kind": "party", "original_language": "xx"},
        {"co_organiser_ids": ["not-a-uuid"], "initiative_id": "nope"},
        {"co_organiser_ids": [str(UUID(int=7))], "initiative_id": str(UUID(int=8))},
        {"title": "a\x00b", "themes": ["no-such-theme"]},
        {"title": "x" * 5000, "city": ""},
    ]
    for overrides in plans:
        response = person.post("/console/activities/new", plan_form(**overrides))
        assert response.status_code in (400, 422), (overrides, response.status_code)
    version = desk.read(activity)["version"]
    forms = [
        ("/registrations", {"version": version, "name": "A", "country": "I", "town": ""}),
        ("/registrations", {"version": "x" * 50, **register_form()}),
        ("/registrations", {"version": version, **register_form(organisation_id="nope")}),
        ("/registrations", {"version": version, **register_form(age_band="ancient")}),
        ("/desk", {"version": version, "registration_id": "nope", "attended": "1"}),
        ("/desk", {"version": "", "registration_id": str(UUID(int=1))}),
        ("/do/cancel_registration", {"version": version, "registration_id": "../.."}),
        ("/do/cancel", {"version": version, "reason": "r" * 6000}),
        ("/do/destroy", {"version": version}),
    ]
    for suffix, data in forms:
        response = person.post(base + suffix, data)
        assert 400 <= response.status_code < 500, (suffix, data, response.status_code)
        assert "text/html" in response.content_type
    for path in (
        "/console/activities?cursor=garbage",
        "/console/activities?country=ZZZ&kind=party",
        f"/console/activities/{UUID(int=5)}",
        f"/console/activities/{UUID(int=5)}/desk",
        f"{base}/registrations/{UUID(int=6)}/erase",
        f"{base}/desk?q=" + "%00" * 300,
    ):
        status = person.get(path).status_code
        assert status < 500, (path, status)
    assert person.get(f"{base}/desk?q=" + "é" * 300).status_code == 200
