"""The public activities list and its iCalendar feed, on SQLite and PostgreSQL: readable
without an account, filters and pages, the feed parsed back field by field, and no
participant anywhere in either answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from icalendar import Calendar

from domain.activity import Activity
from domain.values import Caller
from service.infrastructure.runtime import runtime
from tests.service.conftest import Client, World, ok, problem

A = "/api/v1/activities"
NAME = "Ada Lovelace-Bianchi"
EMAIL = "ada.lovelace@bologna.example"
TOWN = "San Lazzaro di Savena"


def fields(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "citizens_meeting",
        "title": {"en": "Citizens' meeting", "it": "Assemblea cittadina"},
        "summary": {"en": "On shared squares."},
        "original_language": "en",
        "themes": ["local_democracy"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": "2027-05-01T10:00:00+02:00",
        "ends_at": "2027-05-01T18:00:00+02:00",
        **overrides,
    }


class Programme:
    """Activities planned through the application by one partner of the API world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.partner = world.partner()
        self.caller = Caller(
            self.partner.id, self.partner.organisation_id, frozenset({"partner"}), "req"
        )
        self.app = runtime(world.app).app
        self.position = 0

    def plan(self, **overrides: Any) -> Activity:
        outcome = self.app.plan_activity(caller=self.caller, fields=fields(**overrides))
        self.position = outcome.position
        return outcome.aggregate

    def register(self, activity: Activity, name: str = NAME, **overrides: Any) -> str:
        current = self.app.activity(activity.id)
        outcome, registration_id, _ = self.app.register_participant(
            activity.id,
            caller=self.caller,
            expected_version=current.version,
            fields={
                "name": name,
                "email": EMAIL,
                "country": "IT",
                "town": TOWN,
                "participant_type": "local",
                "gender": "female",
                **overrides,
            },
        )
        self.position = outcome.position
        return registration_id

    def cancel(self, activity: Activity) -> None:
        current = self.app.activity(activity.id)
        outcome = self.app.cancel_activity(
            activity.id, caller=self.caller, expected_version=current.version, reason="Storm"
        )
        self.position = outcome.position


@pytest.fixture
def programme(world: World) -> Programme:
    return Programme(world)


def listed(client: Client, query: str = "") -> list[dict[str, Any]]:
    """Every item of the list with this query, page after page of two."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = ok(client.get(f"{A}?limit=2{query}{suffix}"))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def feed(client: Client, query: str = "") -> Calendar:
    response = client.get(f"{A}.ics?{query.lstrip('&')}")
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.data)


def test_anyone_reads_the_list_with_counts_and_never_a_participant(
    world: World, programme: Programme
) -> None:
    activity = programme.plan(capacity=1)
    programme.register(activity)
    programme.register(activity, name="Bruno Rossi")
    world.project()
    for client in (world.anonymous, world.admin, programme.partner):
        response = client.get(A)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        for personal in (NAME, "Bruno Rossi", EMAIL, TOWN, "female"):
            assert personal not in text
        [item] = response.json["items"]
        assert item == {
            "id": str(activity.id),
            "kind": "citizens_meeting",
            "state": "planned",
            "version": 3,
            "title": {"en": "Citizens' meeting", "it": "Assemblea cittadina"},
            "summary": {"en": "On shared squares."},
            "original_language": "en",
            "themes": ["local_democracy"],
            "country": "IT",
            "city": "Bologna",
            "starts_at": "2027-05-01T08:00:00Z",
            "ends_at": "2027-05-01T16:00:00Z",
            "capacity": 1,
            "initiative_id": None,
            "organiser_ids": [programme.partner.organisation_id],
            "registered": 1,
            "waitlisted": 1,
            "attended": 0,
        }
    calendar = world.anonymous.get(f"{A}.ics").get_data(as_text=True)
    for personal in (NAME, "Bruno Rossi", EMAIL, TOWN):
        assert personal not in calendar


def test_read_your_writes_with_x_min_position(world: World, programme: Programme) -> None:
    programme.plan()
    beyond = world.anonymous.get(A, headers={"X-Min-Position": str(programme.position + 9)})
    assert problem(beyond, 503)
    world.project()
    response = world.anonymous.get(A, headers={"X-Min-Position": str(programme.position)})
    assert len(ok(response)["items"]) == 1
    ics = world.anonymous.get(f"{A}.ics", headers={"X-Min-Position": "x"})
    problem(ics, 400)


def test_filters_combine_and_pages_follow_the_start(world: World, programme: Programme) -> None:
    may = programme.plan()
    june = programme.plan(
        kind="national_workshop",
        country="FR",
        city="Lyon",
        themes=["environment"],
        starts_at="2027-06-10T09:00:00+00:00",
        ends_at="2027-06-12T17:00:00+00:00",
    )
    april = programme.plan(
        starts_at="2027-04-01T09:00:00+00:00", ends_at="2027-04-01T12:00:00+00:00"
    )
    same_start = [
        programme.plan(starts_at="2027-04-20T09:00:00Z", ends_at="2027-04-20T10:00:00Z")
        for _ in range(3)
    ]
    world.project()
    anonymous = world.anonymous

    def ids(query: str = "") -> list[str]:
        return [item["id"] for item in listed(anonymous, query)]

    ties = sorted(str(a.id) for a in same_start)
    assert ids() == [str(april.id), *ties, str(may.id), str(june.id)]
    assert ids("&kind=national_workshop") == [str(june.id)]
    assert ids("&country=FR") == [str(june.id)]
    assert ids("&theme=environment") == [str(june.id)]
    assert ids("&theme=local_democracy&country=FR") == []
    # Overlap with [from, to]: June's three days overlap a window opening on its second.
    assert ids("&from=2027-06-11T00:00:00Z") == [str(june.id)]
    assert ids("&to=2027-04-30T00:00:00Z") == [str(april.id), *ties]
    window = "&from=2027-05-01T15:00:00Z&to=2027-06-10T09:00:00Z"
    assert ids(window) == [str(may.id), str(june.id)]
    assert ids("&from=2027-05-01T16:00:01Z&to=2027-06-10T08:59:59Z") == []
    assert ids(f"&initiative_id={UUID(int=1)}") == []
    assert [str(e["uid"]) for e in feed(anonymous, "country=FR").walk("VEVENT")] == [
        f"activity-{june.id}@twinning"
    ]


@pytest.mark.parametrize(
    "query",
    [
        "kind=party",
        "country=ITA",
        "from=yesterday",
        "from=2027-05-01T00:00:00",  # no time zone
        "from=2027-06-01T00:00:00Z&to=2027-05-01T00:00:00Z",
        "from=0001-01-01T00:00:00%2B14:00",  # before year 1 in UTC
        "to=9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwieCJd",  # the same, in a cursor
        "initiative_id=nope",
        "limit=0",
        "cursor=bm9wZQ",
        "cursor=WyJub3QgYSBkYXRlIiwieCJd",  # ["not a date","x"]
    ],
)
def test_bad_queries_are_named(world: World, query: str) -> None:
    problem(world.anonymous.get(f"{A}?{query}"), 422)


def test_the_feed_is_icalendar_field_by_field(world: World, programme: Programme) -> None:
    planned = programme.plan()
    cancelled = programme.plan(
        title={"fr": "Visite d'étude"},
        summary={"fr": "Trois jours à Lyon."},
        original_language="fr",
        kind="study_visit",
        country="FR",
        city="Lyon",
        starts_at="2027-07-01T08:00:00Z",
        ends_at="2027-07-03T16:00:00Z",
    )
    programme.cancel(cancelled)
    world.project()
    calendar = feed(world.anonymous)
    assert str(calendar["version"]) == "2.0"
    first, second = calendar.walk("VEVENT")
    assert str(first["uid"]) == f"activity-{planned.id}@twinning"
    assert first.decoded("dtstart") == datetime(2027, 5, 1, 8, tzinfo=UTC)
    assert first.decoded("dtend") == datetime(2027, 5, 1, 16, tzinfo=UTC)
    assert str(first["summary"]) == "Citizens' meeting"
    assert str(first["description"]) == "On shared squares."
    assert str(first["location"]) == "Bologna, IT"
    assert str(first["url"]) == f"http://localhost/api/v1/activities/{planned.id}"
    assert str(first["status"]) == "CONFIRMED"
    assert str(second["uid"]) == f"activity-{cancelled.id}@twinning"
    assert second.decoded("dtstart") == datetime(2027, 7, 1, 8, tzinfo=UTC)
    assert second.decoded("dtend") == datetime(2027, 7, 3, 16, tzinfo=UTC)
    assert str(second["summary"]) == "Visite d'étude"
    assert str(second["location"]) == "Lyon, FR"
    assert str(second["status"]) == "CANCELLED"
    assert ok(world.anonymous.get(f"{A}?country=FR"))["items"][0]["state"] == "cancelled"
    assert [str(e["uid"]) for e in feed(world.anonymous, "kind=webinar").walk("VEVENT")] == []


def test_the_list_shares_its_url_with_planning(world: World, programme: Programme) -> None:
    """GET (this list, public) and POST (planning, partners) answer on one URL."""
    problem(world.anonymous.post(A, fields()), 401)
    created = programme.partner.post(A, fields(city="Modena"))
    assert created.status_code == 201, created.json
    world.project()
    [item] = ok(world.anonymous.get(A))["items"]
    assert (item["id"], item["city"]) == (created.json["id"], "Modena")
