"""The read views through the API: lists, queue, inbox, statistics, good practices."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from service.infrastructure.runtime import runtime
from tests.service.conftest import Client, World, ok, problem


def path_of(body: dict[str, Any]) -> str:
    return f"/api/v1/initiatives/{body['id']}"


def submitted(world: World, lead: Client, partner: Client, **fields: Any) -> dict[str, Any]:
    body = world.in_co_design(lead, partner, **fields)
    return ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))


def approved(
    world: World,
    lead: Client,
    partner: Client,
    reviewers: list[Client],
    participants: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    body = submitted(world, lead, partner, **fields)
    for reviewer in reviewers[: len(body["approval"]["steps"])]:
        body = ok(
            reviewer.post(
                f"{path_of(body)}/reviews",
                {"decision": "approve", "rationale": "Good."},
                version=body["version"],
            )
        )
    assert body["state"] == "approved"
    if participants:
        body = ok(lead.post(f"{path_of(body)}/follow-up", version=body["version"]))
        body = ok(
            partner.post(
                f"{path_of(body)}/reports",
                {
                    "period_start": "2027-01-01",
                    "period_end": "2027-02-01",
                    "participants": participants,
                    "activities": 1,
                    "narrative": {"en": "Done."},
                },
                version=body["version"],
            ),
            201,
        )
    return body


def listing(client: Client, **query: Any) -> list[dict[str, Any]]:
    return list(ok(client.get("/api/v1/initiatives", query_string=query))["items"])


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def test_the_list_filters_by_every_field(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS", type_="civil_society")
    youth = world.propose(
        lead,
        themes=["youth"],
        countries=["IT"],
        title={"en": "Football for peace", "sr": "Фудбал за мир"},
        summary={"en": "Matches.", "sr": "Утакмице."},
    )
    green = world.in_co_design(
        lead,
        partner,
        themes=["environment"],
        level="european",
        countries=["IT", "RS"],
        title={"en": "Green Danube"},
    )
    other = world.propose(
        world.partner(country="GE"), countries=["GE"], title={"en": "Local democracy school"}
    )
    world.project()
    everything = set(ids(listing(lead)))
    assert {youth["id"], green["id"], other["id"]} <= everything
    assert ids(listing(lead, state="co_design")) == [green["id"]]
    assert ids(listing(lead, theme="environment")) == [green["id"]]
    assert ids(listing(lead, level="european")) == [green["id"]]
    assert set(ids(listing(lead, country="IT"))) == {youth["id"], green["id"]}
    assert set(ids(listing(lead, organisation_id=partner.organisation_id))) == {green["id"]}
    assert ids(listing(lead, q="фудбал")) == [youth["id"]]  # any language, any case
    assert ids(listing(lead, q="DANUBE green")) == [green["id"]]
    assert listing(lead, q="100%_") == []
    assert ids(listing(lead, country="GE", theme="youth")) == [other["id"]]
    summary = next(i for i in listing(lead) if i["id"] == green["id"])
    assert summary["partners"] == [{"organisation_id": partner.organisation_id, "status": "joined"}]
    assert summary["lead_organisation_id"] == lead.organisation_id
    assert summary["version"] == 4 and summary["waiting_on"]["kind"] == "lead"


def test_the_list_pages_with_keyset_cursors_in_every_sort(world: World) -> None:
    lead = world.partner()
    made = [world.propose(lead, title={"en": f"Initiative {n}"})["id"] for n in range(7)]
    world.project()
    for sort in ("-updated_at", "updated_at", "created_at", "-created_at", "title", "-title"):
        seen: list[str] = []
        cursor = None
        while True:
            query: dict[str, Any] = {"limit": 3, "sort": sort}
            if cursor:
                query["cursor"] = cursor
            page = ok(lead.get("/api/v1/initiatives", query_string=query))
            seen += ids(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(made), sort
        assert len(seen) == len(set(seen))
        if sort == "created_at":
            assert seen == made
        if sort == "-title":
            assert seen == list(reversed(made))
    problem(lead.get("/api/v1/initiatives", query_string={"cursor": "garbage!"}), 422)
    problem(lead.get("/api/v1/initiatives", query_string={"limit": 500}), 422)
    problem(lead.get("/api/v1/initiatives", query_string={"sort": "budget"}), 422)


def test_updated_after_and_waiting_on(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.propose(lead)
    world.project()
    [item] = [i for i in listing(lead) if i["id"] == body["id"]]
    assert item["waiting_on"] == {"kind": "lead", "organisation_id": lead.organisation_id}
    body = ok(
        lead.post(
            f"{path_of(body)}/partners", {"organisation_id": partner.organisation_id}, version=1
        )
    )
    world.project()
    [item] = [i for i in listing(lead) if i["id"] == body["id"]]
    assert item["waiting_on"] == {"kind": "invitation", "organisation_id": partner.organisation_id}
    assert item["waiting_since"] == body["updated_at"]
    assert ids(listing(lead, updated_after=item["updated_at"])) == []
    assert ids(listing(lead, updated_after="2000-01-01T00:00:00Z")) == [body["id"]]


def test_the_review_queue_respects_conflicts_and_four_eyes(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    first = world.reviewer(country="FR")
    second = world.reviewer(country="DE")
    conflicted = world.account(partner.organisation_id, "reviewer")
    older = submitted(world, lead, partner, level="european", countries=["IT", "RS"])
    newer = submitted(world, lead, partner)
    world.project()
    queue = ok(first.get("/api/v1/review-queue"))["items"]
    assert ids(queue) == [older["id"], newer["id"]]  # oldest first
    assert queue[0]["waiting_on"] == {
        "kind": "review",
        "role": "reviewer",
        "step": "national_review",
    }
    assert ok(conflicted.get("/api/v1/review-queue"))["items"] == []
    ok(
        first.post(
            f"{path_of(older)}/reviews",
            {"decision": "approve", "rationale": "Ok."},
            version=older["version"],
        )
    )
    world.project()
    assert ids(ok(first.get("/api/v1/review-queue"))["items"]) == [newer["id"]]
    assert ids(ok(second.get("/api/v1/review-queue"))["items"]) == [newer["id"], older["id"]]
    problem(lead.get("/api/v1/review-queue"), 403)
    problem(world.anonymous.get("/api/v1/review-queue"), 401)


def test_the_inbox_shows_invitations_amendments_and_reviews(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    invited = world.partner(country="ME")
    outsider = world.partner(country="AL")
    reviewer = world.reviewer()
    body = world.in_co_design(lead, partner)
    body = world.invite(lead, body, invited)
    body = world.amend(outsider, body, {"themes": ["youth"]}, "Youth too.")
    other = submitted(world, lead, partner)
    world.project()
    [invitation] = ok(invited.get("/api/v1/me/inbox"))["items"]
    assert invitation["kind"] == "invitation" and invitation["initiative_id"] == body["id"]
    for member in (lead, partner):
        kinds = [
            (i["kind"], i["initiative_id"]) for i in ok(member.get("/api/v1/me/inbox"))["items"]
        ]
        assert kinds == [("amendment", body["id"])]
    assert ok(outsider.get("/api/v1/me/inbox"))["items"] == []
    reviews = ok(reviewer.get("/api/v1/me/inbox"))["items"]
    assert [(i["kind"], i["initiative_id"]) for i in reviews] == [("review", other["id"])]
    page = ok(lead.get("/api/v1/me/inbox", query_string={"limit": 1}))
    assert page["next_cursor"] is None


def test_impact_indicators_follow_their_definitions(world: World) -> None:
    la = world.partner(country="IT", type_="local_authority")
    cso_it = world.partner(country="IT", type_="civil_society")
    association = world.partner(country="RS", type_="national_association")
    cso_rs = world.partner(country="RS", type_="civil_society")
    reviewers = [world.reviewer(country="FR"), world.reviewer(country="DE")]
    approved(world, la, cso_it, reviewers, participants=40)  # national LA + CSO
    approved(world, association, cso_rs, reviewers, participants=15, countries=["RS"])
    approved(
        world,
        cso_it,
        cso_rs,
        reviewers,
        participants=100,
        level="european",
        countries=["IT", "RS"],
        themes=["environment"],
    )  # CSOs of two countries
    approved(world, la, cso_rs, reviewers, level="european", countries=["IT", "RS"])
    submitted(world, la, cso_it)  # not approved: not counted
    world.project()
    stats = ok(la.get("/api/v1/stats/impact"))
    assert stats["national"]["local_authority_civil_society"] == 1
    assert stats["national"]["association_civil_society"] == 1
    assert stats["national"]["participants"] == 55
    assert stats["european"]["international"] == 2
    assert stats["european"]["civil_society_networking"] == 1
    assert stats["european"]["participants"] == 100
    assert stats["by_state"] == {"approved": 1, "follow_up": 3, "in_review": 1}
    assert stats["by_theme"]["environment"] == 1
    assert stats["by_country"] == {"IT": 4, "RS": 3}
    only_env = ok(la.get("/api/v1/stats/impact", query_string={"theme": "environment"}))
    assert only_env["european"]["international"] == 1
    assert only_env["national"]["participants"] == 0
    assert only_env["by_theme"] == {"environment": 1} and only_env["by_state"] == {"follow_up": 1}
    in_rs = ok(la.get("/api/v1/stats/impact", query_string={"country": "RS"}))
    assert in_rs["by_country"] == {"IT": 2, "RS": 3} and in_rs["national"]["initiatives"] == 1
    this_year = datetime.now(UTC).year  # everything here was created and approved this year
    assert ok(la.get("/api/v1/stats/impact", query_string={"year": this_year})) == stats
    past = ok(la.get("/api/v1/stats/impact", query_string={"year": 1999}))
    assert past["european"]["international"] == 0 and past["by_state"] == {}
    problem(la.get("/api/v1/stats/impact", query_string={"year": "soon"}), 422)


def test_good_practices_are_public(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    body = approved(world, lead, partner, [reviewer], participants=12)
    body = ok(
        lead.post(
            f"{path_of(body)}/complete", {"outcomes": {"en": "A map."}}, version=body["version"]
        )
    )
    world.project()
    assert ok(world.anonymous.get("/api/v1/good-practices"))["items"] == []
    ok(
        reviewer.post(
            f"{path_of(body)}/good-practice", {"rationale": "Replicable."}, version=body["version"]
        )
    )
    world.project()
    items = ok(world.anonymous.get("/api/v1/good-practices"))["items"]
    assert ids(items) == [body["id"]] and items[0]["good_practice"] is True
    assert (
        ok(world.anonymous.get("/api/v1/good-practices", query_string={"theme": "environment"}))[
            "items"
        ]
        == []
    )
    assert ids(
        ok(world.anonymous.get("/api/v1/good-practices", query_string={"country": "IT"}))["items"]
    ) == [body["id"]]


def test_organisations_are_listed_from_their_view(world: World) -> None:
    made = [world.organisation(name=f"Town {n}") for n in range(5)]
    world.project()
    seen, cursor = [], None
    while True:
        page = ok(
            world.admin.get(
                "/api/v1/organisations",
                query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            )
        )
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[-5:] == made


def test_x_min_position_waits_for_the_views(world: World) -> None:
    lead = world.partner()
    created = lead.post(
        "/api/v1/initiatives",
        {
            "title": {"en": "Fresh"},
            "summary": {"en": "S"},
            "original_language": "en",
            "themes": ["youth"],
            "level": "national",
            "countries": ["IT"],
        },
    )
    position = created.headers["X-Position"]
    started = time.monotonic()
    late = lead.get("/api/v1/initiatives", headers={"X-Min-Position": position})
    problem(late, 503)
    assert late.headers["Retry-After"] == "1"
    assert 1.5 < time.monotonic() - started < 5
    beyond = lead.get("/api/v1/initiatives", headers={"X-Min-Position": str(10**9)})
    problem(beyond, 503)
    problem(lead.get("/api/v1/initiatives", headers={"X-Min-Position": "soon"}), 400)

    stop = threading.Event()
    projector = threading.Thread(target=runtime(world.app).projector.run, args=(stop, 0.05))
    projector.start()
    try:
        fresh = ok(lead.get("/api/v1/initiatives", headers={"X-Min-Position": position}))
        assert created.json["id"] in ids(fresh["items"])
        second = lead.patch(path_of(created.json), {"expected_participants": 3, "base_version": 1})
        page = ok(
            lead.get(
                "/api/v1/initiatives", headers={"X-Min-Position": second.headers["X-Position"]}
            )
        )
        assert next(i for i in page["items"] if i["id"] == created.json["id"])["version"] == 2
    finally:
        stop.set()
        projector.join()


def test_projection_status_shows_positions_and_lag(world: World) -> None:
    auditor = world.account(None, "auditor")
    world.project()
    status = ok(auditor.get("/api/v1/projections"))
    names = {item["name"] for item in status["items"]}
    assert names == {"organisations", "initiatives", "activities", "audit"}
    assert all(item["lag"] == 0 for item in status["items"])
    world.organisation()
    status = ok(world.admin.get("/api/v1/projections"))
    assert all(item["lag"] == 1 for item in status["items"])
    assert all(item["position"] + 1 == status["head_position"] for item in status["items"])
    problem(world.partner().get("/api/v1/projections"), 403)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/initiatives", "/api/v1/me/inbox", "/api/v1/stats/impact", "/api/v1/organisations"],
)
def test_read_views_need_an_account(world: World, path: str) -> None:
    problem(world.anonymous.get(path), 401)
