"""Initiative commands through the API: who may do what, co-editing, amendments, history."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.service.conftest import Client, World, ok, problem, proposal


def path_of(body: dict[str, Any]) -> str:
    return f"/api/v1/initiatives/{body['id']}"


def test_only_partners_propose(world: World) -> None:
    reviewer = world.reviewer()
    problem(reviewer.post("/api/v1/initiatives", proposal()), 403)
    problem(world.admin.post("/api/v1/initiatives", proposal()), 403)


def test_allowed_actions_are_computed_for_the_caller(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    outsider = world.partner(country="ME")
    reviewer = world.reviewer()
    body = world.in_co_design(lead, partner)
    path = path_of(body)
    assert "submit" in ok(lead.get(path))["allowed_actions"]
    partner_actions = ok(partner.get(path))["allowed_actions"]
    assert "edit" in partner_actions and "submit" not in partner_actions
    assert ok(outsider.get(path))["allowed_actions"] == ["propose_amendment"]
    assert ok(reviewer.get(path))["allowed_actions"] == []


def test_two_co_edits_from_the_same_base_on_disjoint_fields_both_land(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    base = body["version"]
    first = ok(lead.patch(path_of(body), {"expected_participants": 60, "base_version": base}))
    second = ok(partner.patch(path_of(body), {"target_groups": ["pupils"], "base_version": base}))
    assert second["version"] == first["version"] + 1
    assert second["expected_participants"] == 60
    assert second["target_groups"] == ["pupils"]


def test_overlapping_co_edits_give_exactly_one_409_naming_the_field(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    base = body["version"]
    ok(lead.patch(path_of(body), {"summary": {"en": "Lead's summary."}, "base_version": base}))
    conflict = problem(
        partner.patch(
            path_of(body),
            {"summary": {"en": "Partner's summary."}, "themes": ["youth"], "base_version": base},
        ),
        409,
    )
    assert conflict["conflicts"] == [
        {
            "field": "summary",
            "yours": {"en": "Partner's summary."},
            "theirs": {"en": "Lead's summary."},
            "changed_by": lead.id,
            "changed_in_version": base + 1,
        }
    ]
    after = ok(lead.get(path_of(body)))
    assert after["summary"] == {"en": "Lead's summary."}
    assert after["themes"] != ["youth"]  # nothing of a conflicting edit is applied


def test_a_base_version_from_the_future_is_422(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    errors = problem(lead.patch(path_of(body), {"themes": ["youth"], "base_version": 9}), 422)
    assert "base_version" in errors["errors"]


def test_edits_by_people_outside_the_initiative_are_403(world: World) -> None:
    lead = world.partner()
    outsider = world.partner()
    body = world.propose(lead)
    problem(outsider.patch(path_of(body), {"themes": ["youth"], "base_version": 1}), 403)


def test_multilingual_edits_mark_translations_stale(world: World) -> None:
    lead = world.partner()
    body = world.propose(
        lead, title={"en": "Bridges", "sr": "Mostovi"}, summary={"en": "Sum.", "sr": "Rez."}
    )
    assert body["translations"] == {"sr": {"stale": False}}
    body = ok(
        lead.patch(
            path_of(body),
            {"title": {"en": "Bridges of friendship", "sr": "Mostovi"}, "base_version": 1},
        )
    )
    assert body["translations"] == {"sr": {"stale": True}}
    body = ok(
        lead.patch(
            path_of(body),
            {
                "title": {"en": "Bridges of friendship", "sr": "Mostovi prijateljstva"},
                "base_version": 2,
            },
        )
    )
    assert body["translations"] == {"sr": {"stale": False}}


def test_text_in_any_script_is_stored_and_returned_exactly(world: World) -> None:
    lead = world.partner(country="GE")
    title = {
        "ka": "ახალგაზრდული გაცვლა",
        "hy": "Երիտասարդական փոխանակում",
        "el": "Ανταλλαγή",
        "sr": "Размена младих",
        "en": "Youth exchange 🌍 \u200d",
    }
    body = world.propose(
        lead,
        title=title,
        original_language="ka",
        summary={"ka": "მოკლე აღწერა"},
        countries=["GE", "AM"],
    )
    assert ok(lead.get(path_of(body)))["title"] == title


def test_amendments_from_outsiders_are_accepted_with_a_merge(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    outsider = world.partner(country="BA")
    body = world.in_co_design(lead, partner)
    base = body["version"]
    created = outsider.post(
        f"{path_of(body)}/amendments",
        {
            "changes": {"target_groups": ["teachers"]},
            "rationale": "Teachers multiply.",
            "base_version": base,
        },
    )
    body = ok(created, 201)
    [amendment] = body["amendments"]
    assert amendment["status"] == "pending" and amendment["author_id"] == outsider.id
    assert amendment["base_version"] == base
    assert int(created.headers["X-Position"]) > 0
    # Someone edits another field meanwhile.
    ok(lead.patch(path_of(body), {"expected_participants": 12, "base_version": base}))
    problem(
        outsider.post(
            f"{path_of(body)}/amendments/{amendment['id']}/accept", {"base_version": base + 2}
        ),
        403,
    )
    problem(partner.post(f"{path_of(body)}/amendments/{amendment['id']}/accept", {}), 428)
    body = ok(
        partner.post(
            f"{path_of(body)}/amendments/{amendment['id']}/accept", {"base_version": base + 2}
        )
    )
    assert body["target_groups"] == ["teachers"]
    assert body["expected_participants"] == 12
    assert body["amendments"][0]["status"] == "accepted"
    problem(
        lead.post(
            f"{path_of(body)}/amendments/{amendment['id']}/reject",
            {"reason": "No."},
            version=body["version"],
        ),
        409,
    )


def test_an_amendment_overlapping_a_later_edit_is_409_and_can_be_rejected(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    base = body["version"]
    body = ok(
        partner.post(
            f"{path_of(body)}/amendments",
            {
                "changes": {"countries": ["IT", "RS"]},
                "rationale": "Add Serbia.",
                "base_version": base,
            },
        ),
        201,
    )
    amendment = body["amendments"][0]["id"]
    body = ok(lead.patch(path_of(body), {"countries": ["IT", "HR"], "base_version": base}))
    conflict = problem(
        lead.post(
            f"{path_of(body)}/amendments/{amendment}/accept", {"base_version": body["version"]}
        ),
        409,
    )
    assert conflict["conflicts"][0]["field"] == "countries"
    problem(
        lead.post(
            f"{path_of(body)}/amendments/{amendment}/reject",
            {"reason": ""},
            version=body["version"],
        ),
        422,
    )
    body = ok(
        lead.post(
            f"{path_of(body)}/amendments/{amendment}/reject",
            {"reason": "Croatia instead."},
            version=body["version"],
        )
    )
    assert body["amendments"][0]["status"] == "rejected"
    problem(
        lead.post(
            f"{path_of(body)}/amendments/3fa85f64-5717-4562-b3fc-2c963f66afa6/reject",
            {"reason": "?"},
            version=body["version"],
        ),
        404,
    )


def test_a_conflicted_reviewer_is_403(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    conflicted = world.account(partner.organisation_id, "reviewer")
    response = conflicted.post(
        f"{path_of(body)}/reviews",
        {"decision": "approve", "rationale": "Mine."},
        version=body["version"],
    )
    assert problem(response, 403)["type"].endswith("conflict-of-interest")


def test_the_author_of_an_accepted_amendment_cannot_approve(world: World) -> None:
    """The attack a security review tried: an account with the partner and reviewer roles
    in an uninvolved organisation amends, the lead accepts, the same account approves."""
    lead = world.partner()
    partner = world.partner(country="RS")
    bystanders = world.organisation(type_="other", country="DE")
    both = world.account(bystanders, "partner", "reviewer")
    colleague = world.account(bystanders, "reviewer")
    body = world.in_co_design(lead, partner)
    body = ok(
        both.post(
            f"{path_of(body)}/amendments",
            {"changes": {"expected_participants": 40}, "rationale": "More.", "base_version": 1},
        ),
        201,
    )
    amendment = body["amendments"][0]["id"]
    body = ok(
        lead.post(
            f"{path_of(body)}/amendments/{amendment}/accept", {"base_version": body["version"]}
        )
    )
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    world.project()
    neutral = world.reviewer()
    assert [i["id"] for i in ok(neutral.get("/api/v1/review-queue"))["items"]] == [body["id"]]
    listed = ok(neutral.get(f"/api/v1/initiatives?organisation_id={bystanders}"))["items"]
    assert listed == []  # co-writing an amendment is not taking part
    for judge in (both, colleague):
        assert ok(judge.get("/api/v1/review-queue"))["items"] == []
        assert ok(judge.get("/api/v1/me/inbox"))["items"] == []
        assert "review" not in ok(judge.get(path_of(body)))["allowed_actions"]
        response = judge.post(
            f"{path_of(body)}/reviews",
            {"decision": "approve", "rationale": "Mine."},
            version=body["version"],
        )
        assert problem(response, 403)["type"].endswith("conflict-of-interest")
    ok(
        neutral.post(
            f"{path_of(body)}/reviews",
            {"decision": "approve", "rationale": "Fine."},
            version=body["version"],
        )
    )


def test_a_review_needs_a_rationale_and_applies_to_the_version_read(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    body = world.in_co_design(lead, partner)
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    errors = problem(
        reviewer.post(
            f"{path_of(body)}/reviews",
            {"decision": "approve", "rationale": ""},
            version=body["version"],
        ),
        422,
    )["errors"]
    assert "rationale" in errors
    problem(
        reviewer.post(f"{path_of(body)}/reviews", {"decision": "approve", "rationale": "Yes."}), 428
    )
    problem(
        reviewer.post(
            f"{path_of(body)}/reviews",
            {"decision": "approve", "rationale": "Yes."},
            version=body["version"] - 1,
        ),
        412,
    )
    body = ok(
        reviewer.post(
            f"{path_of(body)}/reviews",
            {"decision": "request_changes", "rationale": "Add a budget."},
            version=body["version"],
        )
    )
    assert body["state"] == "co_design"
    review = body["approval"]["steps"][0]["reviews"][0]
    assert review["reviewed_version"] == body["version"] - 1
    assert review["reviewer_id"] == reviewer.id and review["at"].endswith("Z")


def test_partners_leave_and_are_removed(world: World) -> None:
    lead = world.partner()
    partner = world.partner(country="RS")
    other = world.partner(country="MK")
    body = world.in_co_design(lead, partner)
    body = world.invite(lead, body, other)
    problem(
        partner.delete(
            f"{path_of(body)}/partners/{other.organisation_id}", version=body["version"]
        ),
        403,
    )
    body = ok(
        other.delete(f"{path_of(body)}/partners/{other.organisation_id}", version=body["version"])
    )
    body = ok(
        lead.delete(f"{path_of(body)}/partners/{partner.organisation_id}", version=body["version"])
    )
    assert body["partners"] == []
    problem(
        lead.post(
            f"{path_of(body)}/partners",
            {"organisation_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
            version=body["version"],
        ),
        422,
    )


def test_withdrawal_needs_a_reason_and_is_final(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    problem(lead.post(f"{path_of(body)}/withdraw", {}, version=1), 422)
    body = ok(lead.post(f"{path_of(body)}/withdraw", {"reason": "No funding."}, version=1))
    assert body["state"] == "withdrawn" and body["allowed_actions"] == []
    problem(lead.post(f"{path_of(body)}/co-design", version=2), 409)


def test_as_of_returns_the_initiative_as_it_was(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    between = datetime.now(UTC)
    time.sleep(0.01)
    ok(lead.patch(path_of(body), {"expected_participants": 99, "base_version": 1}))
    ok(lead.post(f"{path_of(body)}/co-design", version=2))
    at = between.isoformat().replace("+00:00", "Z")
    old = ok(lead.get(path_of(body), query_string={"as_of": at}))
    assert old["version"] == 1 and old["expected_participants"] == 0
    assert old["state"] == "proposal" and old["allowed_actions"] == []
    before = (between - timedelta(days=1)).isoformat()
    problem(lead.get(path_of(body), query_string={"as_of": before}), 404)
    problem(lead.get(path_of(body), query_string={"as_of": "yesterday"}), 422)
    problem(lead.get(path_of(body), query_string={"version": 5}), 404)
    problem(lead.get(path_of(body), query_string={"version": 0}), 422)
    # A past version is read only: nothing can be done to it, whatever its state allowed.
    response = lead.get(path_of(body), query_string={"version": 2})
    past = ok(response)
    assert response.headers["ETag"] == '"2"'
    assert past["version"] == 2 and past["state"] == "proposal"
    assert past["expected_participants"] == 99 and past["allowed_actions"] == []
    # The current version named by number is the initiative now, with what the lead may do.
    now = ok(lead.get(path_of(body), query_string={"version": 3}))
    assert now["state"] == "co_design" and now["expected_participants"] == 99
    assert now["allowed_actions"] == [
        "edit",
        "invite_partner",
        "remove_partner",
        "propose_amendment",
        "accept_amendment",
        "reject_amendment",
        "submit",
        "withdraw",
    ]
    assert now["allowed_actions"] == ok(lead.get(path_of(body)))["allowed_actions"]


def test_snapshots_do_not_change_what_is_read(world: World) -> None:
    """Snapshots are taken every 50 events: versions before and after one read the same."""
    lead = world.partner()
    body = world.propose(lead)
    for version in range(1, 56):
        body = ok(
            lead.patch(path_of(body), {"expected_participants": version, "base_version": version})
        )
    assert body["version"] == 56
    assert ok(lead.get(path_of(body)))["expected_participants"] == 55
    assert ok(lead.get(path_of(body), query_string={"version": 50}))["expected_participants"] == 49
    assert ok(lead.get(path_of(body), query_string={"version": 52}))["expected_participants"] == 51


def _concurrently(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_commands_on_one_version_give_one_success_and_412s(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    clients = [Client(world.app.test_client(), lead.token, lead.account) for _ in range(6)]
    statuses = _concurrently(
        6,
        lambda i: (
            clients[i]
            .post(f"{path_of(body)}/partners", {"organisation_id": world.organisation()}, version=1)
            .status_code
        ),
    )
    assert Counter(statuses) == Counter({200: 1, 412: 5}), statuses
    assert ok(lead.get(path_of(body)))["version"] == 2


def test_concurrent_disjoint_co_edits_all_land_exactly_once(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    clients = [Client(world.app.test_client(), lead.token, lead.account) for _ in range(6)]
    edits: list[dict[str, Any]] = [
        {"expected_participants": 7},
        {"target_groups": ["mayors"]},
        {"start_date": "2027-01-01"},
        {"end_date": "2027-12-31"},
        {"description": {"en": "Long text."}},
        {"countries": ["IT", "SI"]},
    ]
    statuses = _concurrently(
        6,
        lambda i: clients[i].patch(path_of(body), {**edits[i], "base_version": 1}).status_code,
    )
    assert statuses == [200] * 6
    final = ok(lead.get(path_of(body)))
    assert final["version"] == 7
    for edit in edits:
        for name, value in edit.items():
            assert final[name] == value
