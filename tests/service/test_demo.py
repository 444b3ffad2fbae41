"""The demo network gives every view something meaningful to show."""

from __future__ import annotations

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
