"""Rules the mutation audit found unguarded: four eyes across rounds, equal co-edits,
whom an initiative waits on, read-your-writes over every view, stale If-Match, conflicts of
interest in the review queue."""

from __future__ import annotations

import threading
import time
from typing import Any

from projections.registry import VIEW_BY_NAME, VIEWS
from service.infrastructure.runtime import runtime
from tests.service.conftest import Client, World, ok, problem, proposal
from tests.service.test_read_views import ids, path_of, submitted


def queue(reviewer: Client) -> list[str]:
    return ids(ok(reviewer.get("/api/v1/review-queue"))["items"])


def reviews_in_inbox(reviewer: Client) -> list[str]:
    items = ok(reviewer.get("/api/v1/me/inbox"))["items"]
    return [item["initiative_id"] for item in items if item["kind"] == "review"]


def review(reviewer: Client, body: dict[str, Any], decision: str) -> dict[str, Any]:
    return ok(
        reviewer.post(
            f"{path_of(body)}/reviews",
            {"decision": decision, "rationale": f"{decision}."},
            version=body["version"],
        )
    )


def waiting_on(world: World, client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """The initiative's `waiting_on` as the list shows it once the views are up to date."""
    world.project()
    items = ok(client.get("/api/v1/initiatives", query_string={"limit": 200}))["items"]
    return dict(next(item for item in items if item["id"] == body["id"])["waiting_on"])


# ------------------------------------------------------ 1. four eyes after resubmission


def test_an_approver_of_an_earlier_round_may_review_again_after_resubmission(
    world: World,
) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    first = world.reviewer(country="FR")
    second = world.reviewer(country="DE")
    body = submitted(world, lead, partner, level="european", countries=["IT", "RS"])
    body = review(first, body, "approve")  # national_review done, network_review next
    assert body["state"] == "in_review"
    world.project()
    # Four eyes within the round: the national approver may not also do the network step.
    assert queue(first) == [] and reviews_in_inbox(first) == []
    assert queue(second) == [body["id"]]
    body = review(second, body, "request_changes")
    assert body["state"] == "co_design"
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    world.project()
    # A new round starts from no approvals: the first reviewer may review it again.
    assert queue(first) == [body["id"]]
    assert reviews_in_inbox(first) == [body["id"]]
    assert queue(second) == [body["id"]]
    assert "review" in ok(first.get(path_of(body)))["allowed_actions"]


# ------------------------------------------------ 2. equal co-edits are not a conflict


def test_two_co_edits_setting_a_field_to_the_same_value_both_land(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    base = body["version"]
    same = {"expected_participants": 40, "summary": {"en": "Both wrote this."}}
    first = ok(lead.patch(path_of(body), {**same, "base_version": base}))
    # The partner made the same change on the same base, plus a field of their own.
    second = ok(
        partner.patch(path_of(body), {**same, "target_groups": ["pupils"], "base_version": base})
    )
    assert second["version"] == first["version"] + 1
    assert second["expected_participants"] == 40
    assert second["summary"] == {"en": "Both wrote this."}
    assert second["target_groups"] == ["pupils"]
    assert ok(lead.get(path_of(body)))["expected_participants"] == 40


# ------------------------------------------------------------- 3. waiting_on, every state


def test_waiting_on_names_whose_move_it_is_in_every_state(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    outsider = world.partner(country="ME")
    declining = world.partner(country="AL")
    first = world.reviewer(country="FR")
    second = world.reviewer(country="DE")
    by_lead = {"kind": "lead", "organisation_id": lead.organisation_id}

    body = world.propose(lead, level="european", countries=["IT", "RS"])
    assert waiting_on(world, lead, body) == by_lead
    body = world.invite(lead, body, partner)
    assert waiting_on(world, lead, body) == {
        "kind": "invitation",
        "organisation_id": partner.organisation_id,
    }
    body = ok(
        partner.post(
            f"{path_of(body)}/partners/{partner.organisation_id}/join", version=body["version"]
        )
    )
    assert waiting_on(world, lead, body) == by_lead
    body = world.amend(outsider, body, {"themes": ["youth"]}, "Youth.")
    deciding = {"kind": "amendment_decision", "organisation_id": lead.organisation_id}
    assert waiting_on(world, lead, body) == deciding
    # An open invitation comes before the amendment; once it is declined, the amendment.
    body = world.invite(lead, body, declining)
    assert waiting_on(world, lead, body) == {
        "kind": "invitation",
        "organisation_id": declining.organisation_id,
    }
    body = ok(
        declining.delete(
            f"{path_of(body)}/partners/{declining.organisation_id}", version=body["version"]
        )
    )
    assert waiting_on(world, lead, body) == deciding
    amendment = body["amendments"][0]["id"]
    body = ok(
        lead.post(
            f"{path_of(body)}/amendments/{amendment}/reject",
            {"reason": "Not now."},
            version=body["version"],
        )
    )
    assert waiting_on(world, lead, body) == by_lead
    body = ok(lead.post(f"{path_of(body)}/co-design", version=body["version"]))
    assert body["state"] == "co_design"
    assert waiting_on(world, lead, body) == by_lead
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    assert waiting_on(world, lead, body) == {
        "kind": "review",
        "role": "reviewer",
        "step": "national_review",
    }
    body = review(first, body, "approve")
    assert waiting_on(world, lead, body) == {
        "kind": "review",
        "role": "reviewer",
        "step": "network_review",
    }
    body = review(second, body, "approve")
    assert body["state"] == "approved"
    assert waiting_on(world, lead, body) == by_lead
    body = ok(lead.post(f"{path_of(body)}/follow-up", version=body["version"]))
    # Reports are the lead's to see to, even though any joined partner may file them.
    report = {"kind": "report", "organisation_id": lead.organisation_id}
    assert waiting_on(world, lead, body) == report
    body = ok(
        partner.post(
            f"{path_of(body)}/reports",
            {
                "period_start": "2027-01-01",
                "period_end": "2027-02-01",
                "participants": 5,
                "activities": 1,
                "narrative": {"en": "Done."},
            },
            version=body["version"],
        ),
        201,
    )
    assert waiting_on(world, lead, body) == report
    body = ok(
        lead.post(
            f"{path_of(body)}/complete", {"outcomes": {"en": "A map."}}, version=body["version"]
        )
    )
    assert body["state"] == "completed"
    assert waiting_on(world, lead, body) == {"kind": "none"}

    rejected = review(first, submitted(world, lead, partner), "reject")
    assert rejected["state"] == "rejected"
    assert waiting_on(world, lead, rejected) == {"kind": "none"}
    withdrawn = world.propose(lead)
    withdrawn = ok(lead.post(f"{path_of(withdrawn)}/withdraw", {"reason": "No."}, version=1))
    assert waiting_on(world, lead, withdrawn) == {"kind": "none"}


# ----------------------------------------------- 4. X-Min-Position waits for every view


def test_x_min_position_waits_until_every_view_has_the_position(world: World) -> None:
    lead = world.partner()
    world.project()
    projector = runtime(world.app).projector
    response = lead.post("/api/v1/initiatives", proposal(title={"en": "Late"}))
    created = ok(response, 201)
    position = int(response.headers["X-Position"])
    # Only the first view moves on: the list's own view is still behind.
    projector.catch_up([VIEW_BY_NAME["organisations"]])
    assert projector.positions()["organisations"] >= position > projector.positions()["initiatives"]
    waiting = {"X-Min-Position": str(position)}
    problem(lead.get("/api/v1/initiatives", headers=waiting), 503)

    # The answer comes only once the last view arrives, and then holds the new initiative.
    late = threading.Timer(0.5, projector.catch_up)
    started = time.monotonic()
    late.start()
    try:
        page = ok(lead.get("/api/v1/initiatives", headers=waiting))
    finally:
        late.join()
    assert time.monotonic() - started >= 0.45
    assert created["id"] in ids(page["items"])


def test_the_runner_waits_for_whichever_view_is_behind(world: World) -> None:
    projector = runtime(world.app).projector
    for lagging in VIEWS:
        # Each view tracks its position in the whole log, so any new event moves them all.
        world.organisation(name=f"Behind {lagging.name}")
        position = projector.head()
        projector.catch_up([view for view in VIEWS if view is not lagging])
        assert projector.positions()[lagging.name] < position, lagging.name
        assert not projector.wait(position, 0.05), lagging.name
        projector.catch_up([lagging])
        assert projector.wait(position, 0.05), lagging.name


# -------------------------------------------------------- 5. a stale If-Match is 412


def test_a_stale_if_match_on_a_co_edit_is_412_even_with_a_base_version(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    read = body["version"]
    ok(lead.patch(path_of(body), {"summary": {"en": "Lead's."}, "base_version": read}))
    # If-Match is a precondition: a stale one refuses the edit before any merge, so it is
    # 412 whether or not the edit overlaps (a merge would say 409 or 200 here).
    problem(partner.patch(path_of(body), {"summary": {"en": "Partner's."}}, version=read), 412)
    problem(
        partner.patch(
            path_of(body), {"summary": {"en": "Partner's."}, "base_version": read}, version=read
        ),
        412,
    )
    problem(
        partner.patch(path_of(body), {"themes": ["youth"], "base_version": read}, version=read),
        412,
    )
    after = ok(lead.get(path_of(body)))
    assert after["version"] == read + 1
    assert after["summary"] == {"en": "Lead's."} and after["themes"] != ["youth"]


def test_a_stale_if_match_on_accepting_an_amendment_is_412(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    outsider = world.partner(country="BA")
    body = world.in_co_design(lead, partner)
    body = world.amend(outsider, body, {"countries": ["IT", "BA"]}, "Bosnia too.")
    read = body["version"]
    amendment = body["amendments"][0]["id"]
    # A later edit of the same field: accepting without If-Match would be a 409 conflict.
    ok(lead.patch(path_of(body), {"countries": ["IT", "HR"], "base_version": read}))
    accept = f"{path_of(body)}/amendments/{amendment}/accept"
    problem(partner.post(accept, {}, version=read), 412)
    problem(partner.post(accept, {"base_version": read}, version=read), 412)
    problem(partner.post(accept, {"base_version": read}, version=read + 1), 409)
    after = ok(lead.get(path_of(body)))
    assert after["version"] == read + 1 and after["countries"] == ["IT", "HR"]
    assert after["amendments"][0]["status"] == "pending"


# ---------------------------------------- 6. no review by an involved organisation


def test_the_review_queue_hides_an_initiative_from_reviewers_of_the_lead_and_invited(
    world: World,
) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    invited = world.partner(country="ME")
    body = world.in_co_design(lead, partner)
    body = world.invite(lead, body, invited)
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    assert {"organisation_id": invited.organisation_id, "status": "invited"} in body["partners"]
    of_the_lead = world.account(lead.organisation_id, "reviewer")
    of_the_invited = world.account(invited.organisation_id, "reviewer")
    of_the_partner = world.account(partner.organisation_id, "reviewer")
    uninvolved = world.reviewer()
    world.project()
    conflicted = {"lead": of_the_lead, "invited": of_the_invited, "partner": of_the_partner}
    for whose, reviewer in conflicted.items():
        assert queue(reviewer) == [], whose
        assert reviews_in_inbox(reviewer) == [], whose
    assert queue(uninvolved) == [body["id"]]
    assert reviews_in_inbox(uninvolved) == [body["id"]]
