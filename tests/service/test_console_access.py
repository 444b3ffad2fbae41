"""Who may open which console page: every console route, for every kind of person.

The API's bearer-token matrix (test_authorization_matrix.py) leaves the console out; this
table covers it, and fails when a console route is added without a row here."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Browser, World, browser
from tests.service.test_activities_api import plan_body

PEOPLE = ("anonymous", "partner", "reviewer", "auditor", "admin")
# GET path (with {id} for an initiative of the partner's, {activity} for an activity their
# organisation organises, {registration} for one of its registrations) → status per person,
# in PEOPLE order.
PAGES: dict[str, tuple[str, tuple[int, ...]]] = {
    "/console/static/<path:filename>": ("/console/static/console.css", (200,) * 5),
    "/console/login": ("/console/login", (200,) * 5),
    "/console/good-practices": ("/console/good-practices", (200,) * 5),
    "/console/": ("/console/", (303, 200, 200, 200, 200)),
    "/console/initiatives": ("/console/initiatives", (303, 200, 200, 200, 200)),
    "/console/initiatives/<uuid:initiative_id>": (
        "/console/initiatives/{id}",
        (303, 200, 200, 200, 200),
    ),
    "/console/impact": ("/console/impact", (303, 200, 200, 200, 200)),
    "/console/initiatives/new": ("/console/initiatives/new", (303, 200, 200, 200, 200)),
    "/console/initiatives/<uuid:initiative_id>/edit": (
        "/console/initiatives/{id}/edit",
        (303, 200, 200, 200, 200),
    ),
    "/console/initiatives/<uuid:initiative_id>/amend": (
        "/console/initiatives/{id}/amend",
        (303, 200, 200, 200, 200),
    ),
    "/console/review": ("/console/review", (303, 403, 200, 403, 403)),
    "/console/review/<uuid:initiative_id>": (
        "/console/review/{id}",
        (303, 403, 200, 403, 403),
    ),
    "/console/audit": ("/console/audit", (303, 403, 403, 200, 200)),
    "/console/audit.csv": ("/console/audit.csv", (303, 403, 403, 200, 200)),
    "/console/audit/integrity": ("/console/audit/integrity", (303, 403, 403, 200, 200)),
    "/console/initiatives/<uuid:initiative_id>/timeline": (
        "/console/initiatives/{id}/timeline",
        (303, 403, 403, 200, 200),
    ),
    "/console/initiatives/<uuid:initiative_id>/diff": (
        "/console/initiatives/{id}/diff",
        (303, 403, 403, 200, 200),
    ),
    "/console/activities": ("/console/activities", (200,) * 5),
    "/console/activities/new": ("/console/activities/new", (303, 200, 403, 403, 403)),
    "/console/activities/<uuid:activity_id>": ("/console/activities/{activity}", (200,) * 5),
    "/console/activities/<uuid:activity_id>/desk": (
        "/console/activities/{activity}/desk",
        (303, 200, 403, 403, 403),
    ),
    "/console/activities/<uuid:activity_id>/registrations/<uuid:registration_id>/erase": (
        "/console/activities/{activity}/registrations/{registration}/erase",
        (303, 200, 403, 403, 403),
    ),
    "/console/password": ("/console/password", (303, 200, 200, 200, 200)),
    "/console/me": ("/console/me", (303, 200, 200, 200, 200)),
    "/console/me/data": ("/console/me/data", (303, 200, 200, 200, 200)),
    "/console/accounts": ("/console/accounts", (303, 403, 403, 403, 200)),
    "/console/accounts/<uuid:account_id>": (
        "/console/accounts/{account}",
        (303, 403, 403, 403, 200),
    ),
    "/console/accounts/<uuid:account_id>/data": (
        "/console/accounts/{account}/data",
        (303, 403, 403, 403, 200),
    ),
    "/console/accounts/<uuid:account_id>/erase": (
        "/console/accounts/{account}/erase",
        (303, 403, 403, 403, 200),
    ),
}
# Form targets: without a CSRF token every one is refused (400), whoever sends it.
FORMS = {
    "/console/login": "/console/login",
    "/console/logout": "/console/logout",
    "/console/initiatives/new": "/console/initiatives/new",
    "/console/initiatives/<uuid:initiative_id>/edit": "/console/initiatives/{id}/edit",
    "/console/initiatives/<uuid:initiative_id>/amend": "/console/initiatives/{id}/amend",
    "/console/initiatives/<uuid:initiative_id>/do/<action>": "/console/initiatives/{id}/do/submit",
    "/console/review/<uuid:initiative_id>": "/console/review/{id}",
    "/console/activities/new": "/console/activities/new",
    "/console/activities/<uuid:activity_id>/do/<action>": (
        "/console/activities/{activity}/do/mark_held"
    ),
    "/console/activities/<uuid:activity_id>/registrations": (
        "/console/activities/{activity}/registrations"
    ),
    "/console/activities/<uuid:activity_id>/desk": "/console/activities/{activity}/desk",
    "/console/activities/<uuid:activity_id>/registrations/<uuid:registration_id>/erase": (
        "/console/activities/{activity}/registrations/{registration}/erase"
    ),
    "/console/password": "/console/password",
    "/console/me": "/console/me",
    "/console/accounts": "/console/accounts",
    "/console/accounts/<uuid:account_id>/do/<action>": "/console/accounts/{account}/do/reset",
    "/console/accounts/<uuid:account_id>/erase": "/console/accounts/{account}/erase",
}


def console_routes(world: World) -> tuple[set[str], set[str]]:
    gets, posts = set(), set()
    for rule in world.app.url_map.iter_rules():
        if rule.rule.startswith("/console"):
            if "GET" in (rule.methods or ()):
                gets.add(rule.rule)
            if "POST" in (rule.methods or ()):
                posts.add(rule.rule)
    return gets, posts


@pytest.fixture
def people(world: World) -> dict[str, Any]:
    partner = world.partner()
    initiative = world.propose(partner)
    activity = partner.post("/api/v1/activities", plan_body()).json
    registration = partner.post(
        f"/api/v1/activities/{activity['id']}/registrations",
        {"name": "Ada", "country": "IT", "town": "Bologna", "participant_type": "local"},
        version=activity["version"],
    ).json
    world.project()
    board = world.organisation(type_="other", country="BE")
    return {
        "id": initiative["id"],
        "account": partner.id,
        "activity": activity["id"],
        "registration": registration["id"],
        "anonymous": Browser(world.app),
        "partner": browser(world, partner),
        "reviewer": browser(world, world.account(board, "reviewer")),
        "auditor": browser(world, world.account(board, "auditor")),
        "admin": browser(world, world.login("admin@twinning.test")),
    }


def ids(people: dict[str, Any]) -> dict[str, str]:
    return {key: people[key] for key in ("id", "account", "activity", "registration")}


def test_every_console_route_is_in_the_table(world: World) -> None:
    gets, posts = console_routes(world)
    assert gets == set(PAGES)
    assert posts == set(FORMS)


def test_every_person_gets_the_expected_status(world: World, people: dict[str, Any]) -> None:
    unexpected = []
    for route, (path, statuses) in PAGES.items():
        for person, expected in zip(PEOPLE, statuses, strict=True):
            response = people[person].http.get(path.format(**ids(people)))
            response.get_data()  # a CSV is streamed: read it to the end
            response.close()
            if response.status_code != expected:
                unexpected.append(f"{person} GET {route}: {response.status_code} != {expected}")
            if expected == 303:
                assert response.headers["Location"].startswith("/console/login?next=")
            if expected == 403:
                assert "text/html" in response.content_type
    assert not unexpected, "\n".join(unexpected)


def test_no_form_is_taken_without_its_csrf_token(world: World, people: dict[str, Any]) -> None:
    for route, path in FORMS.items():
        for person in PEOPLE:
            response = people[person].http.post(path.format(**ids(people)), data={})
            assert response.status_code == 400, (person, route, response.status_code)
