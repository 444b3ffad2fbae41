"""The whole life of an initiative through the API, from proposal to good practice."""

from __future__ import annotations

from tests.conftest import a_report
from tests.service.conftest import World, ok, problem


def test_a_european_initiative_goes_from_proposal_to_good_practice(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS", type_="civil_society")
    first_reviewer = world.reviewer(country="FR")
    second_reviewer = world.reviewer(country="DE")

    created = lead.post(
        "/api/v1/initiatives",
        {
            "title": {"en": "Heritage youth exchange", "it": "Scambio giovanile"},
            "summary": {"en": "Young people map shared heritage.", "it": "Mappatura."},
            "original_language": "en",
            "themes": ["youth", "culture_heritage"],
            "level": "european",
            "countries": ["IT", "RS"],
            "expected_participants": 40,
            "start_date": "2027-03-01",
            "end_date": "2027-09-30",
        },
    )
    body = ok(created, 201)
    assert created.headers["Location"] == f"/api/v1/initiatives/{body['id']}"
    assert created.headers["ETag"] == '"1"'
    assert int(created.headers["X-Position"]) > 0
    assert body["state"] == "proposal" and body["version"] == 1
    assert body["lead_organisation_id"] == lead.organisation_id
    assert body["created_at"].endswith("Z")
    assert "submit" not in body["allowed_actions"]
    path = f"/api/v1/initiatives/{body['id']}"

    body = ok(
        lead.post(f"{path}/partners", {"organisation_id": partner.organisation_id}, version=1)
    )
    assert body["partners"] == [{"organisation_id": partner.organisation_id, "status": "invited"}]
    assert "join" in ok(partner.get(path))["allowed_actions"]
    body = ok(partner.post(f"{path}/partners/{partner.organisation_id}/join", version=2))
    assert body["partners"][0]["status"] == "joined"
    body = ok(lead.post(f"{path}/co-design", version=3))
    assert body["state"] == "co_design"

    body = ok(
        partner.patch(
            path, {"summary": {"en": "Young people map it.", "it": "Mappa."}, "base_version": 4}
        )
    )
    assert body["version"] == 5

    submitted = lead.post(f"{path}/submit", version=5)
    body = ok(submitted)
    assert body["state"] == "in_review"
    assert [s["name"] for s in body["approval"]["steps"]] == ["national_review", "network_review"]
    assert int(submitted.headers["X-Position"]) > int(created.headers["X-Position"])

    body = ok(
        first_reviewer.post(
            f"{path}/reviews", {"decision": "approve", "rationale": "Sound plan."}, version=6
        )
    )
    assert body["approval"]["steps"][0]["status"] == "approved"
    assert body["state"] == "in_review"
    # Four eyes: the first reviewer cannot approve the network step too.
    problem(
        first_reviewer.post(
            f"{path}/reviews", {"decision": "approve", "rationale": "Again."}, version=7
        ),
        403,
    )
    body = ok(
        second_reviewer.post(
            f"{path}/reviews", {"decision": "approve", "rationale": "European value."}, version=7
        )
    )
    assert body["state"] == "approved"

    body = ok(lead.post(f"{path}/follow-up", version=8))
    assert body["state"] == "follow_up"
    report = a_report(evidence_urls=["https://example.org/photos"])
    body = ok(partner.post(f"{path}/reports", report, version=9), 201)
    assert body["reports"][0]["participants"] == 38
    body = ok(lead.post(f"{path}/complete", {"outcomes": {"en": "A heritage map."}}, version=10))
    assert body["state"] == "completed"
    body = ok(
        first_reviewer.post(f"{path}/good-practice", {"rationale": "Replicable."}, version=11)
    )
    assert body["good_practice"] is True
    assert body["version"] == 12

    # Time travel: the initiative as it was at version 4.
    old = ok(lead.get(f"{path}?version=4"))
    assert old["state"] == "co_design" and old["version"] == 4
    assert old["summary"]["en"] == "Young people map shared heritage."
    assert old["allowed_actions"] == []
