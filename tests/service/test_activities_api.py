"""The activities API over HTTP, on SQLite and PostgreSQL: planning, the public read, the
lifecycle, registrations with a waiting list, attendance, certified lists, eligibility,
erasure; every refusal as a problem document; participants sealed in the event store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from flask import Flask

from service.infrastructure.runtime import runtime
from tests.service.conftest import World, ok, problem, serving

A = "/api/v1/activities"
NAME = "Ada Lovelace-Bianchi"
EMAIL = "ada.lovelace@bologna.example"


def plan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "citizens_meeting",
        "title": {"en": "Citizens' meeting on the river"},
        "summary": {"en": "Twinned towns meet about their shared river."},
        "original_language": "en",
        "themes": ["environment"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": "2027-05-01T09:00:00+02:00",
        "ends_at": "2027-05-02T17:00:00+02:00",
    }
    body.update(overrides)
    return body


def person(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": NAME,
        "email": EMAIL,
        "country": "IT",
        "town": "San Lazzaro",
        "participant_type": "local",
        "age_band": "31_64",
        "gender": "female",
    }
    body.update(overrides)
    return body


class Cast:
    """The organiser (Italy), a co-organiser (France), a local organisation (Italy), an
    outsider, an auditor, the admin and anonymous."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.org = world.partner(country="IT")
        self.co = world.partner(country="FR")
        self.local = world.partner(country="IT")
        self.outsider = world.partner(country="DE")
        self.auditor = world.account(world.organisation(type_="other"), "auditor")
        self.admin = world.admin
        self.anonymous = world.anonymous

    def plan(self, **overrides: Any) -> dict[str, Any]:
        body = plan_body(co_organiser_ids=[self.co.organisation_id], **overrides)
        return ok(self.org.post(A, body), 201)

    def step(self, activity: dict[str, Any], command: str, body: Any = None) -> dict[str, Any]:
        path = f"{A}/{activity['id']}/{command}"
        return ok(self.org.post(path, body, version=activity["version"]))

    def register(self, activity: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], str]:
        """The activity after the registration, and the registration."""
        path = f"{A}/{activity['id']}/registrations"
        response = self.org.post(path, person(**fields), version=activity["version"])
        registration = ok(response, 201)
        etag = response.headers["ETag"]
        return {**activity, "version": int(etag.strip('"'))}, registration


@pytest.fixture
def cast(world: World) -> Cast:
    return Cast(world)


def test_planning_answers_the_representation_readable_without_an_account(cast: Cast) -> None:
    response = cast.org.post(A, plan_body(capacity=20, co_organiser_ids=[cast.co.organisation_id]))
    body = ok(response, 201)
    assert response.headers["Location"] == f"{A}/{body['id']}"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert set(body) == {
        "id", "kind", "state", "version", "title", "summary", "original_language", "themes",
        "country", "city", "starts_at", "ends_at", "capacity", "initiative_id",
        "organiser_ids", "registered", "waitlisted", "attended", "allowed_actions",
    }  # fmt: skip
    assert body["state"] == "planned" and body["capacity"] == 20
    assert body["organiser_ids"] == [cast.org.organisation_id, cast.co.organisation_id]
    assert "open_registration" in body["allowed_actions"]
    body, _ = cast.register(body)
    public = cast.anonymous.get(f"{A}/{body['id']}")
    read = ok(public)
    assert public.headers["ETag"] == f'"{read["version"]}"'
    assert read["registered"] == 1 and read["allowed_actions"] == []
    assert NAME not in public.get_data(as_text=True)
    assert ok(cast.outsider.get(f"{A}/{body['id']}"))["allowed_actions"] == []
    problem(cast.anonymous.get(f"{A}/{uuid4()}"), 404)
    spec = ok(cast.anonymous.get("/api/v1/openapi.json"))
    assert spec["paths"]["/api/v1/activities/{activity_id}"]["get"]["security"] == []


def test_planning_refusals(cast: Cast, world: World) -> None:
    problem(cast.anonymous.post(A, plan_body()), 401)
    problem(cast.auditor.post(A, plan_body()), 403)
    errors = problem(
        cast.org.post(
            A,
            plan_body(kind="picnic", country="XX", capacity=0, starts_at="tomorrow", city=""),
        ),
        422,
    )["errors"]
    assert {"kind", "country", "capacity", "starts_at", "city"} <= set(errors)
    errors = problem(cast.org.post(A, plan_body(title=5, capacity="ten")), 422)["errors"]
    assert {"title", "capacity"} <= set(errors)
    # an initiative the caller's organisation has nothing to do with, an unknown co-organiser
    initiative = world.propose(cast.outsider)
    errors = problem(
        cast.org.post(
            A, plan_body(initiative_id=initiative["id"], co_organiser_ids=[str(uuid4())])
        ),
        422,
    )["errors"]
    assert {"initiative_id", "co_organiser_ids"} <= set(errors)
    mine = world.propose(cast.org)
    assert (
        ok(cast.org.post(A, plan_body(initiative_id=mine["id"])), 201)["initiative_id"]
        == (mine["id"])
    )


def test_commands_need_if_match_and_refuse_outsiders_and_wrong_states(cast: Cast) -> None:
    activity = cast.plan()
    path = f"{A}/{activity['id']}"
    problem(cast.org.post(f"{path}/open-registration"), 428)
    problem(cast.org.post(f"{path}/open-registration", version=activity["version"] + 5), 412)
    problem(cast.outsider.post(f"{path}/open-registration", version=activity["version"]), 403)
    problem(cast.admin.post(f"{path}/open-registration", version=activity["version"]), 403)
    problem(cast.org.post(f"{path}/held", version=activity["version"]), 409)
    problem(cast.org.post(f"{A}/{uuid4()}/held", version=1), 404)
    problem(cast.org.post(f"{path}/cancel", {}, version=activity["version"]), 422)
    opened = ok(cast.co.post(f"{path}/open-registration", version=activity["version"]))
    assert opened["state"] == "registration_open"
    problem(
        cast.org.post(f"{path}/attendance", {"registration_ids": [str(uuid4())], "attended": True},
                      version=opened["version"]),
        409,
    )  # fmt: skip
    cancelled = cast.step(opened, "cancel", {"reason": "Flooded venue."})
    assert cancelled["state"] == "cancelled" and cancelled["allowed_actions"] == [
        "erase_registration"
    ]
    problem(cast.org.post(f"{path}/registrations", person(), version=cancelled["version"]), 409)


def test_registrations_waitlist_promotion_and_who_reads_them(cast: Cast) -> None:
    activity = cast.plan(capacity=1)
    path = f"{A}/{activity['id']}/registrations"
    activity, first = cast.register(activity)
    activity, second = cast.register(activity, name="Second Person", email=None, gender=None)
    assert (first["status"], second["status"]) == ("registered", "waitlisted")
    assert first["name"] == NAME and second["gender"] is None
    problem(cast.outsider.post(path, person(), version=activity["version"]), 403)
    problem(cast.org.post(path, person(), version=activity["version"] - 1), 412)
    problem(cast.org.post(path, person()), 428)
    errors = problem(
        cast.org.post(
            path,
            person(participant_type="tourist", age_band="old", email="nope", country="ZZ"),
            version=activity["version"],
        ),
        422,
    )["errors"]
    assert {"participant_type", "age_band", "email", "country"} <= set(errors)
    problem(
        cast.org.post(path, person(organisation_id=str(uuid4())), version=activity["version"]), 422
    )
    for reader in (cast.org, cast.co, cast.auditor, cast.admin):
        items = ok(reader.get(path))["items"]
        assert [i["id"] for i in items] == [first["id"], second["id"]]
    problem(cast.outsider.get(path), 403)
    problem(cast.anonymous.get(path), 401)
    problem(cast.auditor.get(f"{A}/{uuid4()}/registrations"), 404)

    problem(cast.org.delete(f"{path}/{uuid4()}", version=activity["version"]), 404)
    problem(cast.outsider.delete(f"{path}/{first['id']}", version=activity["version"]), 403)
    after = ok(cast.org.delete(f"{path}/{first['id']}", version=activity["version"]))
    assert (after["registered"], after["waitlisted"]) == (1, 0)
    statuses = {i["id"]: i["status"] for i in ok(cast.auditor.get(path))["items"]}
    assert statuses == {first["id"]: "cancelled", second["id"]: "registered"}
    problem(cast.org.delete(f"{path}/{first['id']}", version=after["version"]), 409)


def test_erasure_nulls_the_participant_and_the_store_holds_no_clear_text(
    cast: Cast, world: World
) -> None:
    activity = cast.plan()
    activity, kept = cast.register(activity, name="Kept Person", email=None)
    activity, gone = cast.register(activity)
    path = f"{A}/{activity['id']}/registrations"
    rows = runtime(world.app).app.recorder.select_events(UUID(activity["id"]))
    assert any(b'"_type_":"personal"' in row.state for row in rows)
    assert rows and all(NAME.encode() not in row.state for row in rows)
    assert all(EMAIL.encode() not in row.state and b"San Lazzaro" not in row.state for row in rows)

    problem(cast.outsider.post(f"{path}/{gone['id']}/erase", {"reason": "Asked."}), 403)
    problem(cast.auditor.post(f"{path}/{gone['id']}/erase", {"reason": "Asked."}), 403)
    problem(cast.org.post(f"{path}/{gone['id']}/erase", {}), 422)
    problem(cast.org.post(f"{path}/{uuid4()}/erase", {"reason": "Asked."}), 404)
    erased = ok(cast.admin.post(f"{path}/{gone['id']}/erase", {"reason": "Asked."}))
    assert erased["erased"] and erased["name"] is None and erased["email"] is None
    problem(cast.org.post(f"{path}/{gone['id']}/erase", {"reason": "Again."}), 409)
    items = {i["id"]: i for i in ok(cast.org.get(path))["items"]}
    assert items[gone["id"]]["name"] is None and items[gone["id"]]["town"] is None
    assert items[gone["id"]]["gender"] is None and items[gone["id"]]["country"] == "IT"
    assert items[kept["id"]]["name"] == "Kept Person"
    # the organiser erases too
    ok(cast.org.post(f"{path}/{kept['id']}/erase", {"reason": "Asked."}))
    assert ok(cast.anonymous.get(f"{A}/{activity['id']}"))["registered"] == 2


def held_with_lists(cast: Cast) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An activity held, with participants from four towns in four countries, attended."""
    activity = cast.step(cast.plan(), "open-registration")
    registrations = []
    for town, country, kind in (
        ("San Lazzaro", "IT", "local"),
        ("Lyon", "FR", "invited"),
        ("Tirana", "AL", "invited"),
        ("Novi Sad", "RS", "invited"),
    ):
        org = cast.local.organisation_id if country == "IT" else None
        activity, r = cast.register(
            activity, town=town, country=country, participant_type=kind, organisation_id=org
        )
        registrations.append(r)
    activity = cast.step(activity, "close-registration")
    path = f"{A}/{activity['id']}/attendance"
    ids = [r["id"] for r in registrations]
    problem(cast.outsider.post(path, {"registration_ids": ids, "attended": True},
                               version=activity["version"]), 403)  # fmt: skip
    problem(cast.org.post(path, {"registration_ids": ids, "attended": "yes"},
                          version=activity["version"]), 422)  # fmt: skip
    problem(cast.org.post(path, {"registration_ids": [str(uuid4())], "attended": True},
                          version=activity["version"]), 422)  # fmt: skip
    activity = ok(cast.org.post(path, {"registration_ids": ids, "attended": True},
                                version=activity["version"]))  # fmt: skip
    assert activity["attended"] == 4
    return cast.step(activity, "held"), registrations


def test_attendance_lists_are_certified_by_two_signers(cast: Cast) -> None:
    activity, registrations = held_with_lists(cast)
    path = f"{A}/{activity['id']}/attendance-lists"
    lists = ok(cast.auditor.get(path))["items"]
    assert [(x["town"], x["country"]) for x in lists] == [
        ("San Lazzaro", "IT"), ("Lyon", "FR"), ("Tirana", "AL"), ("Novi Sad", "RS"),
    ]  # fmt: skip
    first = lists[0]
    assert first["participant_type"] == "local" and first["attended"] == 1
    assert first["participants"] == [
        {"registration_id": registrations[0]["id"], "name": NAME, "age_band": "31_64",
         "gender": "female", "attended": True},
    ]  # fmt: skip
    assert first["signatures"] == [] and first["certified"] is False
    problem(cast.outsider.get(path), 403)
    problem(cast.anonymous.get(path), 401)

    where = {"town": "san lazzaro", "country": "IT"}
    problem(cast.org.post(f"{path}/certify", where), 428)
    problem(cast.outsider.post(f"{path}/certify", where, version=activity["version"]), 403)
    problem(cast.org.post(f"{path}/certify", {"town": "Nowhere", "country": "IT"},
                          version=activity["version"]), 422)  # fmt: skip
    problem(cast.org.post(f"{path}/certify", {"country": 3}, version=activity["version"]), 422)
    response = cast.local.post(f"{path}/certify", where, version=activity["version"])
    signed = ok(response)
    version = int(response.headers["ETag"].strip('"'))
    assert not signed["certified"] and signed["signatures"][0]["account_id"] == cast.local.id
    problem(cast.local.post(f"{path}/certify", where, version=version), 409)
    certified = ok(cast.org.post(f"{path}/certify", where, version=version))
    assert certified["certified"] and len(certified["digest"]) == 64
    assert [s["organisation_id"] for s in certified["signatures"]] == [
        cast.local.organisation_id, cast.org.organisation_id,
    ]  # fmt: skip
    assert all(s["at"] for s in certified["signatures"])
    assert ok(cast.admin.get(path))["items"][0] == certified


def test_eligibility_counts_attended_participants(cast: Cast) -> None:
    activity, _ = held_with_lists(cast)
    path = f"{A}/{activity['id']}/eligibility"
    networks = ok(cast.co.get(f"{path}?rules=networks_of_towns"))
    assert networks == {
        "rules": "networks_of_towns",
        "ok": True,
        "checks": [
            {"name": "towns", "required": 4, "actual": 4, "ok": True},
            {"name": "countries", "required": 4, "actual": 4, "ok": True},
        ],
    }
    twinning = ok(cast.auditor.get(f"{path}?rules=town_twinning"))
    assert twinning["ok"] is False
    assert [(c["required"], c["actual"]) for c in twinning["checks"]] == [(50, 4), (25, 3)]
    problem(cast.org.get(f"{path}?rules=bingo"), 422)
    problem(cast.org.get(path), 422)
    problem(cast.outsider.get(f"{path}?rules=town_twinning"), 403)
    problem(cast.org.get(f"{A}/{uuid4()}/eligibility?rules=town_twinning"), 404)


@pytest.fixture
def lenient(backend: dict[str, Any]) -> Iterator[Flask]:
    yield from serving(
        backend, town_twinning_min_participants=4, town_twinning_min_invited_abroad=3
    )


def test_eligibility_thresholds_are_settings(lenient: Flask) -> None:
    cast = Cast(World(lenient))
    activity, _ = held_with_lists(cast)
    twinning = ok(cast.org.get(f"{A}/{activity['id']}/eligibility?rules=town_twinning"))
    assert twinning["ok"] is True
    assert [c["required"] for c in twinning["checks"]] == [4, 3]


HOSTILE: list[Any] = [
    None,
    [],
    "text",
    7,
    {"registration_ids": "x", "attended": 1},
    {"registration_ids": [1, None], "attended": None},
    {"town": None, "country": [], "reason": {"a": 1}},
    {"name": ["x"], "country": 3, "town": {}, "participant_type": None, "age_band": 5},
    {"kind": [], "title": {"en": 3}, "themes": "youth", "capacity": 1.5, "starts_at": 0},
    {"co_organiser_ids": ["not-a-uuid"], "initiative_id": 12},
]


def test_hostile_bodies_on_a_real_activity_get_problems_never_a_500(cast: Cast) -> None:
    """The fuzzer aims at random ids (404s): here every command of an activity that exists,
    registration included, gets bodies of every wrong shape."""
    activity, registrations = held_with_lists(cast)
    rid = registrations[0]["id"]
    base = f"{A}/{activity['id']}"
    paths = [
        A,
        *(
            f"{base}/{suffix}"
            for suffix in (
                "open-registration", "close-registration", "held", "cancel", "registrations",
                f"registrations/{rid}/erase", "attendance", "attendance-lists/certify",
            )
        ),
    ]  # fmt: skip
    for path in paths:
        for body in HOSTILE:
            response = cast.org.post(path, body, version=activity["version"])
            assert 400 <= response.status_code < 500, (path, body, response.get_json())
            assert response.mimetype == "application/problem+json", (path, body)
    response = cast.org.delete(f"{base}/registrations/{rid}", json=[1], version=0)
    assert response.status_code in (412, 409, 422), response.get_json()
    for query in ("rules=", "rules=a&rules=b", "rules=%00"):
        assert cast.org.get(f"{base}/eligibility?{query}").status_code == 422
