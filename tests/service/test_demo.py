"""The demo network gives every view something meaningful to show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.cli.demo import DEMO_DOMAIN, load
from service.infrastructure.runtime import runtime
from tests.service.conftest import PASSWORD, World, ok


def test_the_demo_fills_every_view(world: World) -> None:
    counts = load(runtime(world.app), PASSWORD)
    assert counts["initiatives"] >= 9
    world.project()
    giulia = world.login(f"giulia@{DEMO_DOMAIN}")
    stats = ok(giulia.get("/api/v1/stats/impact"))
    assert set(stats["by_state"]) == {
        "proposal",
        "co_design",
        "in_review",
        "approved",
        "follow_up",
        "completed",
        "rejected",
        "withdrawn",
    }
    assert stats["european"]["international"] >= 2
    assert stats["national"]["local_authority_civil_society"] >= 1
    assert stats["national"]["participants"] > 0 and stats["european"]["participants"] > 0
    assert ok(world.anonymous.get("/api/v1/good-practices"))["items"]
    sofia = world.login(f"sofia@{DEMO_DOMAIN}")
    assert ok(sofia.get("/api/v1/review-queue"))["items"]
    amra = world.login(f"amra@{DEMO_DOMAIN}")
    assert [i["kind"] for i in ok(amra.get("/api/v1/me/inbox"))["items"]] == ["amendment"]
    nino = world.login(f"nino@{DEMO_DOMAIN}")
    assert [i["kind"] for i in ok(nino.get("/api/v1/me/inbox"))["items"]] == ["invitation"]
    bridges = ok(giulia.get("/api/v1/initiatives", query_string={"q": "bridges"}))["items"][0]
    detail = ok(giulia.get(f"/api/v1/initiatives/{bridges['id']}"))
    assert detail["translations"]["bs"]["stale"] is True
    assert ok(world.admin.get("/api/v1/organisations", query_string={"limit": 200}))["items"]


def test_the_demo_runs_workshops_a_conference_and_meetings(world: World) -> None:
    ids = load(runtime(world.app), PASSWORD)["activity_ids"]
    karl = world.login(f"karl@{DEMO_DOMAIN}")  # the auditor reads every activity's lists

    def read(name: str) -> dict[str, Any]:
        return ok(world.anonymous.get(f"/api/v1/activities/{ids[name]}"))

    def lists(name: str) -> list[dict[str, Any]]:
        return ok(karl.get(f"/api/v1/activities/{ids[name]}/attendance-lists"))["items"]

    def certified_by_two_organisations(items: list[dict[str, Any]]) -> bool:
        return all(
            x["certified"]
            and {s["side"] for s in x["signatures"]} == {"organiser", "local"}
            and len({s["organisation_id"] for s in x["signatures"]}) == 2
            for x in items
        )

    workshops = [read(name) for name in ids if name.startswith("workshop_")]
    assert len({w["country"] for w in workshops if w["kind"] == "national_workshop"}) >= 4
    for workshop in workshops:
        assert workshop["state"] == "held"
        assert 15 <= workshop["registered"] <= 40 and workshop["attended"] > 0
        assert certified_by_two_organisations(lists(f"workshop_{workshop['country'].lower()}"))

    conference = read("conference")
    assert (conference["kind"], conference["state"]) == ("international_conference", "held")
    assert conference["attended"] > 100
    town_lists = lists("conference")
    assert len({x["country"] for x in town_lists}) >= 8
    assert certified_by_two_organisations(town_lists)
    for rules in ("town_twinning", "networks_of_towns"):
        eligibility = ok(
            karl.get(
                f"/api/v1/activities/{ids['conference']}/eligibility",
                query_string={"rules": rules},
            )
        )
        assert eligibility["ok"] is True, eligibility
    giulia = world.login(f"giulia@{DEMO_DOMAIN}")
    people = ok(giulia.get(f"/api/v1/activities/{ids['conference']}/registrations"))["items"]
    assert {p["participant_type"] for p in people} == {"local", "invited"}
    assert len({p["name"] for p in people}) > 0.9 * len(people)  # varied, few namesakes
    assert {p["gender"] for p in people} >= {"female", "male"} and len(
        {p["age_band"] for p in people}
    ) >= 4
    assert any(p["email"] is None for p in people) and any(p["email"] for p in people)
    invited = [p for p in people if p["participant_type"] == "invited"]
    assert all(p["country"] != "IT" for p in invited) and len(invited) > len(people) / 2

    visit = read("visit")
    assert visit["initiative_id"] is not None and visit["state"] == "registration_open"
    assert visit["registered"] == visit["capacity"] and visit["waitlisted"] > 0
    now = datetime.now(UTC)
    upcoming = [read(n) for n in ("sorting", "visit", "school")]
    assert all(datetime.fromisoformat(a["starts_at"]) > now for a in upcoming)
    assert read("lake_meeting")["state"] == "held" and read("school")["state"] == "planned"
