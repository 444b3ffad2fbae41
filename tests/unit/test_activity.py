"""Activities on their own: the fields they accept, every refusal with its words, capacity
and waitlist, attendance, the signatures that certify a list (and its digest), and erasure
leaving the counts and certifications provable."""

from __future__ import annotations

import copy
import re
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.activity import (
    Activity,
    activity_errors,
    list_digest,
    registration_errors,
    town_key,
)
from domain.errors import InvalidFields, NotPermitted, StateConflict
from domain.personal import Personal
from domain.values import Caller

ORG = "11111111-1111-4111-8111-111111111111"
CO = "22222222-2222-4222-8222-222222222222"
LOCAL = "33333333-3333-4333-8333-333333333333"
OTHER = "44444444-4444-4444-8444-444444444444"
P = Caller("p1", ORG, frozenset({"partner"}))
P2 = Caller("p2", ORG, frozenset({"partner"}))
CO_P = Caller("c1", CO, frozenset({"partner"}))
LOCAL_P = Caller("l1", LOCAL, frozenset({"partner"}))
OUTSIDER = Caller("o1", OTHER, frozenset({"partner"}))
ADMIN = Caller("a1", OTHER, frozenset({"admin"}))
REVIEWER = Caller("r1", ORG, frozenset({"reviewer"}))


def fields(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "national_workshop",
        "title": {"en": "Twinning workshop"},
        "summary": {"en": "Two days on shared squares."},
        "original_language": "en",
        "themes": ["youth"],
        "country": "IT",
        "city": "Bologna",
        "starts_at": "2027-03-01T09:00:00+01:00",
        "ends_at": "2027-03-02T17:00:00+01:00",
        **overrides,
    }


def person(name: str = "Ada Rossi", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "email": "ada@example.it",
        "country": "IT",
        "town": "Bologna",
        "participant_type": "local",
        "age_band": "31_64",
        "gender": "female",
        **overrides,
    }


def planned(capacity: int | None = None) -> Activity:
    return Activity.plan(P, fields(capacity=capacity), [CO])


def at(state: str, capacity: int | None = None, people: int = 0) -> tuple[Activity, list[str]]:
    """An activity in `state` with `people` registered (from Bologna, some of LOCAL)."""
    activity = planned(capacity)
    ids = [activity.register(P, person(f"P{i}", organisation_id=LOCAL))[0] for i in range(people)]
    steps = ["registration_open", "registration_closed", "held"]
    for step in steps[: steps.index(state) + 1] if state in steps else []:
        {
            "registration_open": activity.open_registration,
            "registration_closed": activity.close_registration,
            "held": activity.mark_held,
        }[step](P)
    return activity, ids


# ------------------------------------------------------------------ fields
def test_a_valid_activity_has_no_problems() -> None:
    assert activity_errors(fields()) == {}
    assert activity_errors(fields(capacity=1, initiative_id=ORG)) == {}


def test_every_bad_field_is_named_at_once() -> None:
    bad = {
        "kind": "party",
        "title": {"xx": "T"},
        "summary": {},
        "original_language": "zz",
        "themes": ["knitting"],
        "country": "QQ",
        "city": " ",
        "starts_at": "2027-03-01T09:00:00",  # no time zone
        "ends_at": "tomorrow",
        "capacity": 0,
        "initiative_id": "not-an-id",
        "colour": "blue",
    }
    errors = activity_errors(bad)
    assert set(errors) == set(bad)
    assert errors["kind"] == [
        "Must be one of national_workshop, international_conference, citizens_meeting, "
        "study_visit, webinar, other."
    ]
    assert errors["starts_at"] == ["Must be an ISO 8601 date-time with a time zone."]
    assert errors["capacity"] == ["Must be a whole number from 1 to 1,000,000."]
    assert errors["colour"] == ["Unknown field."]
    assert errors["city"] == ["Must not be empty."]
    with pytest.raises(InvalidFields) as refused:
        Activity.plan(P, bad)
    assert set(refused.value.errors) == set(bad)


def test_missing_fields_and_the_end_before_the_start() -> None:
    assert activity_errors({})["kind"] == ["Missing data for required field."]
    assert set(activity_errors({})) == {
        "kind",
        "title",
        "summary",
        "original_language",
        "themes",
        "country",
        "city",
        "starts_at",
        "ends_at",
    }
    early = fields(ends_at="2027-03-01T07:59:00+00:00")  # 08:00 UTC is the start
    assert activity_errors(early) == {"ends_at": ["Must not be before starts_at."]}
    assert activity_errors(fields(title={"fr": "Atelier"}))["title"] == [
        "Must have text in the original language 'en'."
    ]
    assert activity_errors(fields(capacity=True))["capacity"]


def test_the_planner_and_the_co_organisers_organise() -> None:
    activity = Activity.plan(P, fields(), [CO, CO, ORG])
    assert activity.organiser_ids == [ORG, CO]
    assert activity.state == "planned" and activity.capacity is None
    assert activity.kind == "national_workshop"


def test_planning_needs_the_partner_role() -> None:
    for caller in (ADMIN, REVIEWER):
        with pytest.raises(
            NotPermitted, match=re.escape("Planning an activity needs the partner role.")
        ):
            Activity.plan(caller, fields())


def test_registration_fields() -> None:
    assert registration_errors(person()) == {}
    assert (
        registration_errors(
            {"name": "A", "country": "IT", "town": "X", "participant_type": "invited"}
        )
        == {}
    )
    errors = registration_errors(
        {
            "name": "",
            "email": "nope",
            "country": "QQ",
            "town": "",
            "participant_type": "vip",
            "age_band": "40s",
            "gender": "x",
            "organisation_id": "org",
            "shoe_size": 42,
        }
    )
    assert errors == {
        "name": ["Must not be empty."],
        "email": ["Not a valid email address."],
        "country": ["Must be an ISO 3166-1 alpha-2 country code (or XK)."],
        "town": ["Must not be empty."],
        "participant_type": ["Must be one of local, invited."],
        "age_band": ["Must be one of under_18, 18_30, 31_64, 65_plus."],
        "gender": ["Must be one of female, male, other, undisclosed."],
        "organisation_id": ["Must be an organisation id."],
        "shoe_size": ["Unknown field."],
    }


# ------------------------------------------------------------------ lifecycle
def test_the_lifecycle_and_its_refusals() -> None:
    activity = planned()
    with pytest.raises(
        StateConflict, match=re.escape("Cannot close registration an activity in state planned.")
    ):
        activity.close_registration(P)
    with pytest.raises(
        StateConflict, match=re.escape("Cannot mark held an activity in state planned.")
    ):
        activity.mark_held(P)
    activity.open_registration(P)
    with pytest.raises(
        StateConflict, match=re.escape("Cannot open registration an activity in state ")
    ):
        activity.open_registration(P)
    activity.close_registration(CO_P)  # a co-organiser runs commands too
    activity.mark_held(P)
    assert activity.state == "held"
    with pytest.raises(StateConflict, match=re.escape("Cannot cancel an activity in state held.")):
        activity.cancel(P, "Rain")


def test_only_members_of_organisers_run_commands() -> None:
    activity = planned()
    with pytest.raises(
        NotPermitted, match=re.escape("Only a member of an organiser organisation may open")
    ):
        activity.open_registration(OUTSIDER)
    with pytest.raises(
        NotPermitted, match=re.escape("To open registration you need the partner role.")
    ):
        activity.open_registration(ADMIN)  # as for initiatives: admin grants no command
    with pytest.raises(NotPermitted, match=re.escape("To register you need the partner role.")):
        activity.register(REVIEWER, person())
    with pytest.raises(
        NotPermitted, match=re.escape("Only a member of an organiser organisation may")
    ):
        activity.register(OUTSIDER, person())
    # permission comes before the state: an outsider learns nothing of it
    activity.cancel(P, "Postponed")
    with pytest.raises(NotPermitted):
        activity.cancel(OUTSIDER, "again")


def test_cancelling_needs_a_reason_and_ends_it() -> None:
    activity, _ = at("registration_closed")
    with pytest.raises(InvalidFields) as refused:
        activity.cancel(P, "  ")
    assert refused.value.errors == {"reason": ["A reason is required."]}
    activity.cancel(P, "  The venue flooded ")
    assert activity.state == "cancelled" and activity.cancel_reason == "The venue flooded"
    with pytest.raises(
        StateConflict, match=re.escape("Cannot register an activity in state cancelled.")
    ):
        activity.register(P, person())


# ------------------------------------------------------------------ registrations
def test_registrations_beyond_capacity_wait_and_are_promoted_in_order() -> None:
    activity = planned(capacity=2)
    a, b, c, d = (activity.register(P, person(n))[0] for n in "abcd")
    assert [activity.registration(r)["status"] for r in (a, b, c, d)] == [
        "registered",
        "registered",
        "waitlisted",
        "waitlisted",
    ]
    assert activity.cancel_registration(P, c) is None  # a waiting one frees no place
    assert activity.cancel_registration(P, a) == d
    assert activity.with_status("registered") == [b, d]
    with pytest.raises(StateConflict, match=re.escape("The registration is cancelled already.")):
        activity.cancel_registration(P, a)
    [event] = [
        e
        for e in activity.collect_events()
        if isinstance(e, Activity.RegistrationCancelled) and e.promoted_id
    ]
    assert (event.registration_id, event.promoted_id) == (a, d)  # one event: both


def test_registration_states() -> None:
    activity, _ = at("registration_open")
    rid, status = activity.register(P, person())
    assert status == "registered"
    activity.close_registration(P)
    with pytest.raises(
        StateConflict, match=re.escape("Cannot register an activity in state registration_closed.")
    ):
        activity.register(P, person())
    activity.cancel_registration(P, rid)  # dropping out is still possible
    activity.mark_held(P)
    with pytest.raises(
        StateConflict, match=re.escape("Cannot cancel registration an activity in state held.")
    ):
        activity.cancel_registration(P, rid)
    with pytest.raises(InvalidFields) as refused:
        activity.registration("nope")
    assert refused.value.errors == {"registration_id": ["No registration nope in this activity."]}


def test_a_registration_is_sealed_per_registration() -> None:
    activity = planned()
    rid, _ = activity.register(P, person(" Ada  ", email=" ADA@Example.IT", town=" San  Lazzaro "))
    registration = activity.registration(rid)
    assert registration["name"] == Personal(rid, "Ada")
    assert registration["email"] == Personal(rid, "ada@example.it")
    assert registration["town"] == Personal(rid, "San Lazzaro")
    [event] = [e for e in activity.collect_events() if isinstance(e, Activity.Registered)]
    for name in ("name", "email", "town", "age_band", "gender"):
        value = getattr(event, name)
        assert isinstance(value, Personal) and value.subject == rid
    assert (event.country, event.participant_type) == ("IT", "local")  # in clear
    bare = activity.register(
        P, {"name": "B", "country": "IT", "town": "X", "participant_type": "invited"}
    )[0]
    assert activity.participant(bare)["email"] is None
    assert activity.registration(bare)["email"] is None


def test_a_list_per_town_and_country() -> None:
    activity = planned()
    one = activity.register(P, person(town="Bologna"))[0]
    two = activity.register(P, person(town=" bologna "))[0]
    three = activity.register(P, person(town="Bologna", country="FR"))[0]
    four = activity.register(P, person(town="Modena"))[0]
    numbers = [activity.registration(r)["list_number"] for r in (one, two, three, four)]
    assert numbers == [1, 1, 2, 3]
    assert activity.find_list("BOLOGNA", "IT") == 1 and activity.find_list("Bologna", "DE") is None
    assert town_key("  San   Lazzaro ") == "san lazzaro"


# ------------------------------------------------------------------ attendance
def test_attendance_in_closed_or_held_for_registered_ones() -> None:
    activity, ids = at("registration_open", capacity=1, people=1)
    waiting = activity.register(P, person("W"))[0]
    with pytest.raises(
        StateConflict,
        match=re.escape("Cannot mark attendance an activity in state registration_open."),
    ):
        activity.mark_attendance(P, ids, True)
    activity.close_registration(P)
    with pytest.raises(InvalidFields) as refused:
        activity.mark_attendance(P, [], True)
    assert refused.value.errors == {"registration_ids": ["At least one registration id."]}
    with pytest.raises(InvalidFields) as refused:
        activity.mark_attendance(P, ["x", "y"], True)
    assert refused.value.errors == {
        "registration_ids": [
            "No registration x in this activity.",
            "No registration y in this activity.",
        ]
    }
    with pytest.raises(StateConflict, match=re.escape("Only registered participants attend")):
        activity.mark_attendance(P, [waiting], True)
    with pytest.raises(InvalidFields) as refused:
        activity.mark_attendance(P, ["x"], "yes")  # type: ignore[arg-type]
    assert refused.value.errors == {"attended": ["Must be true or false."]}


def test_attendance_counts() -> None:
    activity, ids = at("registration_closed", people=3)
    activity.mark_attendance(P, ids[:2], True)
    activity.mark_held(P)
    activity.mark_attendance(P, ids[1:2], False)
    counts = activity.counts()
    assert counts["registered"] == 3 and counts["attended"] == 1
    assert counts["by_country"] == {"IT": {"local": {"registered": 3, "attended": 1}}}


# ------------------------------------------------------------------ certification
def test_a_list_certified_by_an_organiser_and_a_local_organisation() -> None:
    activity, ids = at("registration_closed", people=2)
    activity.mark_attendance(P, ids, True)
    activity.mark_held(P)
    entries = [{"id": r, "attended": True} for r in ids]
    expected = list_digest(str(activity.id), "IT", 1, entries)
    assert activity.certify(LOCAL_P, "bologna", "IT", "IT") is False  # either order
    assert activity.frozen(1) and not activity.certified(1)
    assert activity.certify(P, "Bologna", "IT", "IT") is True
    assert activity.certified(1) and activity.lists["1"]["digest"] == expected
    signed, certified = (
        e
        for e in activity.collect_events()
        if isinstance(e, Activity.ListSigned | Activity.ListCertified)
    )
    assert (signed.side, certified.side) == ("local", "organiser")
    assert signed.digest == certified.digest == expected
    with pytest.raises(StateConflict, match=re.escape("The list is certified already.")):
        activity.certify(CO_P, "Bologna", "IT", "IT")


def test_the_digest_is_the_canonical_json_of_ids_and_attendance() -> None:
    import hashlib
    import json

    entries: list[dict[str, Any]] = [{"id": "b", "attended": None}, {"id": "a", "attended": True}]
    document = {
        "activity_id": "x",
        "country": "IT",
        "list_number": 2,
        "registrations": [{"id": "a", "attended": True}, {"id": "b", "attended": None}],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert list_digest("x", "IT", 2, entries) == hashlib.sha256(canonical).hexdigest()
    assert list_digest("x", "IT", 2, entries) != list_digest("x", "IT", 2, [entries[0]])


def test_certification_refusals() -> None:
    activity, ids = at("registration_closed", people=1)
    with pytest.raises(
        StateConflict,
        match=re.escape(
            "Cannot sign an attendance list of an activity in state registration_closed."
        ),
    ):
        activity.certify(P, "Bologna", "IT", "IT")
    activity.mark_held(P)
    with pytest.raises(
        NotPermitted, match=re.escape("To sign an attendance list you need the partner role.")
    ):
        activity.certify(ADMIN, "Bologna", "IT", "IT")
    with pytest.raises(InvalidFields) as refused:
        activity.certify(P, "Ferrara", "IT", "IT")
    assert refused.value.errors == {
        "town": ["No participant registered from this town and country."]
    }
    with pytest.raises(
        NotPermitted, match=re.escape("Only a member of an organiser organisation, or of")
    ):
        activity.certify(OUTSIDER, "Bologna", "IT", "IT")
    # a local organisation of another country is no local organisation of this list
    with pytest.raises(NotPermitted):
        activity.certify(LOCAL_P, "Bologna", "IT", "FR")
    activity.certify(P, "Bologna", "IT", "IT")
    with pytest.raises(StateConflict, match=re.escape("You signed this list already.")):
        activity.certify(P, "Bologna", "IT", "IT")
    with pytest.raises(
        StateConflict, match=re.escape("Your organisation signed this list already")
    ):
        activity.certify(P2, "Bologna", "IT", "IT")
    with pytest.raises(
        StateConflict,
        match=re.escape("needs its other signature from a member of an organisation of this town"),
    ):
        activity.certify(CO_P, "Bologna", "IT", "IT")  # a second organiser
    with pytest.raises(StateConflict, match=re.escape("Attendance list 1 is signed")):
        activity.mark_attendance(P, ids, False)
    activity.certify(LOCAL_P, "Bologna", "IT", "IT")
    with pytest.raises(StateConflict, match=re.escape("Attendance list 1 is signed")):
        activity.mark_attendance(P, ids, False)


def test_a_frozen_list_leaves_the_others_free() -> None:
    activity, ids = at("registration_open", people=1)
    modena = activity.register(P, person("M", town="Modena"))[0]
    activity.close_registration(P)
    activity.mark_held(P)
    activity.certify(P, "Bologna", "IT", "IT")
    activity.certify(LOCAL_P, "Bologna", "IT", "IT")
    assert activity.certified(1)
    assert not activity.frozen(2)
    activity.mark_attendance(P, [modena], True)
    with pytest.raises(StateConflict):
        activity.mark_attendance(P, [modena, *ids], True)  # touching the frozen one


def test_a_list_with_nobody_registered_cannot_be_signed() -> None:
    activity = planned()
    rid = activity.register(P, person(organisation_id=LOCAL))[0]
    activity.cancel_registration(P, rid)
    activity.open_registration(P)
    activity.close_registration(P)
    activity.mark_held(P)
    with pytest.raises(StateConflict, match=re.escape("The list has no registered participant.")):
        activity.certify(P, "Bologna", "IT", "IT")


# ------------------------------------------------------------------ erasure
def test_erasing_a_participant_keeps_the_counts() -> None:
    activity, ids = at("registration_closed", people=2)
    activity.mark_attendance(P, ids, True)
    before = activity.counts()
    activity.erase_registration(P, ids[0], "Asked to be forgotten")
    erased = activity.participant(ids[0])
    assert {k: erased[k] for k in ("name", "email", "town", "age_band", "gender")} == dict.fromkeys(
        ("name", "email", "town", "age_band", "gender")
    )
    assert erased["erased"] and (erased["country"], erased["participant_type"]) == ("IT", "local")
    assert activity.participant(ids[1])["name"] == "P1"
    assert activity.counts() == before
    with pytest.raises(
        StateConflict, match=re.escape("The participant's data was erased already.")
    ):
        activity.erase_registration(P, ids[0], "again")
    with pytest.raises(InvalidFields) as refused:
        activity.erase_registration(P, ids[1], "")
    assert refused.value.errors == {"reason": ["A reason is required."]}
    with pytest.raises(NotPermitted):
        activity.erase_registration(OUTSIDER, ids[1], "no")
    activity.erase_registration(ADMIN, ids[1], "Request to the platform")  # admins erase too
    [*_, event] = activity.collect_events()
    assert isinstance(event, Activity.RegistrationErased) and event.actor.role == "admin"


def test_shredding_keeps_counts_and_certifications_provable() -> None:
    activity, ids = at("registration_closed", people=3)
    activity.mark_attendance(P, ids[:2], True)
    activity.mark_held(P)
    activity.certify(P, "Bologna", "IT", "IT")
    activity.certify(LOCAL_P, "Bologna", "IT", "IT")
    counts, digest = activity.counts(), activity.lists["1"]["digest"]
    with pytest.raises(
        StateConflict, match=re.escape("Cannot shred participants an activity in state")
    ):
        at("planned")[0].shred_participants(P, "Retention")
    activity.erase_registration(P, ids[0], "Asked")
    assert activity.shred_participants(P, "Retention: one year after") == ids[1:]
    assert all(activity.participant(r)["name"] is None for r in ids)
    assert activity.counts() == counts
    assert activity.digest_of(1) == digest  # still provable
    assert activity.find_list("Bologna", "IT") is None  # the town itself is gone
    with pytest.raises(
        StateConflict, match=re.escape("Every participant's data was erased already.")
    ):
        activity.shred_participants(P, "Retention")


def test_a_copied_activity_changes_alone() -> None:
    activity, ids = at("registration_closed", people=2)
    activity.collect_events()
    copied = copy.deepcopy(activity)
    assert vars(copied) == vars(activity)
    copied.mark_attendance(P, ids, True)
    copied.erase_registration(P, ids[0], "x")
    assert activity.registration(ids[0])["attended"] is None
    assert activity.participant(ids[0])["name"] == "P0"
    assert not activity.pending_events


# ------------------------------------------------------------------ properties
commands = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, 0)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(capacity=st.one_of(st.none(), st.integers(1, 6)), steps=commands)
def test_capacity_waitlist_and_promotion_hold_under_any_sequence(
    capacity: int | None, steps: list[tuple[str, int]]
) -> None:
    """A model: a list of registered ids and a FIFO queue of waiting ones. After every
    step the aggregate agrees with it: never beyond capacity, promotion in order, once."""
    activity = planned(capacity)
    registered: list[str] = []
    waiting: deque[str] = deque()
    made: list[str] = []
    promoted: set[str] = set()
    for command, pick in steps:
        if command == "register":
            rid, status = activity.register(P, person(f"N{len(made)}"))
            made.append(rid)
            if capacity is None or len(registered) < capacity:
                assert status == "registered"
                registered.append(rid)
            else:
                assert status == "waitlisted"
                waiting.append(rid)
        elif made:
            rid = made[pick % len(made)]
            if rid not in registered and rid not in waiting:
                with pytest.raises(StateConflict):
                    activity.cancel_registration(P, rid)
                continue
            promoted_id = activity.cancel_registration(P, rid)
            if rid in waiting:
                waiting.remove(rid)
                assert promoted_id is None
            else:
                registered.remove(rid)
                expected = waiting.popleft() if waiting else None
                assert promoted_id == expected
                if expected is not None:
                    assert expected not in promoted  # promoted exactly once
                    promoted.add(expected)
                    registered.append(expected)
        assert capacity is None or len(activity.with_status("registered")) <= capacity
        assert sorted(activity.with_status("registered")) == sorted(registered)
        assert activity.with_status("waitlisted") == list(waiting)  # FIFO
    replayed = None
    for event in activity.collect_events():
        replayed = event.mutate(replayed)
    assert replayed is not None and replayed.registrations == activity.registrations
