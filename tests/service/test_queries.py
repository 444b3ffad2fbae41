"""The read-side queries at their edges: forged cursors, LIKE's special characters, rows
stored before cards existed, what each inbox item says, the impact indicators' pairs and a
year's first and last moments, the catalogue's filters and ties, the organisations' order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import TestResponse

from projections import queries
from projections.chain import CHAIN_START
from projections.queries import audit as audit_reads
from projections.queries import queues
from projections.registry import LIVE, VIEW_BY_NAME
from service.config import Settings
from service.infrastructure.runtime import Runtime, runtime
from tests.conftest import FAST_HASHING
from tests.service.conftest import Client, World, ok, problem, serving
from tests.service.test_read_views import approved, ids, path_of, submitted


def restore(world: World, view: str, key: str, **changes: Any) -> None:
    """Stores a document of a view again, changed, through the view's own rows (as a later
    event would): for moments the clock cannot give and for rows that move in the table."""
    folding = VIEW_BY_NAME[view]
    with runtime(world.app).engine.begin() as conn:
        [document] = folding.load(conn, LIVE[view], [key]).values()
        document.update(changes)
        folding.store(conn, LIVE[view], {key: document}, {key})


def invalid_cursor(response: TestResponse) -> None:
    body = problem(response, 422)
    assert body["errors"] == {"cursor": ["Invalid cursor."]}


def good_practice(
    world: World, lead: Client, partner: Client, reviewer: Client, **fields: Any
) -> dict[str, Any]:
    body = approved(world, lead, partner, [reviewer], participants=1, **fields)
    body = ok(
        lead.post(
            f"{path_of(body)}/complete", {"outcomes": {"en": "Done."}}, version=body["version"]
        )
    )
    return ok(
        reviewer.post(
            f"{path_of(body)}/good-practice", {"rationale": "Replicable."}, version=body["version"]
        )
    )


# ---------------------------------------------------------------------- cursors


def test_a_cursor_with_the_wrong_kind_of_value_is_refused_in_the_same_words(
    world: World,
) -> None:
    lead = world.partner()
    world.propose(lead)
    world.project()
    # Well-formed cursors (the service's own encoding) holding what the sort cannot use:
    # the words reach the client as errors["cursor"].
    for sort, value in (("updated_at", 7), ("-created_at", "yesterday")):
        cursor = queries.encode_cursor(value, "an-id")
        invalid_cursor(
            lead.get("/api/v1/initiatives", query_string={"sort": sort, "cursor": cursor})
        )
    invalid_cursor(
        world.admin.get(
            "/api/v1/organisations", query_string={"cursor": queries.encode_cursor("3")}
        )
    )
    # The audit entries' cursor is one position: text, two values or garbage are refused.
    for cursor in (queries.encode_cursor("3"), queries.encode_cursor(3, 4), "!!"):
        invalid_cursor(world.admin.get("/api/v1/audit/entries", query_string={"cursor": cursor}))
    page = ok(world.admin.get("/api/v1/audit/entries", query_string={"limit": 1}))
    position = page["items"][0]["position"]
    after = ok(
        world.admin.get(
            "/api/v1/audit/entries", query_string={"cursor": queries.encode_cursor(position)}
        )
    )
    assert after["items"] and all(e["position"] > position for e in after["items"])


def test_an_empty_chain_has_the_start_as_its_head(backend: dict[str, Any]) -> None:
    """Before the audit view holds an entry, the digest names the chain's start."""
    rt = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING}))
    try:
        with rt.engine.connect() as conn:
            assert audit_reads.digest(conn) == {"position": 0, "head_hash": CHAIN_START, "at": None}
    finally:
        rt.close()


# ----------------------------------------------------------------------- search


def test_search_takes_percent_underscore_and_backslash_literally(world: World) -> None:
    lead = world.partner()
    titles = {
        "percent": "Recycling 100% of waste",
        "digits": "1000 trees for the river",
        "underscore": "Fair_play league",
        "hyphen": "Fair-play league",
        "backslash": r"Archive C:\twinning",
        "plain": "Archive C:twinning",
    }
    made = {key: world.propose(lead, title={"en": title})["id"] for key, title in titles.items()}
    world.project()

    def found(q: str) -> list[str]:
        items = ok(lead.get("/api/v1/initiatives", query_string={"q": q}))["items"]
        return [key for key, ref in made.items() if ref in ids(items)]

    assert found("100%") == ["percent"]
    assert found("%") == ["percent"]
    assert found("fair_play") == ["underscore"]
    assert found("_") == ["underscore"]
    assert found(r"c:\twinning") == ["backslash"]
    assert found("\\") == ["backslash"]
    assert found("c:twinning") == ["plain"]


# ------------------------------------------------------- rows from before cards


def test_the_queue_and_the_catalogue_render_rows_stored_before_cards_existed(
    world: World,
) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    good_practice(world, lead, partner, reviewer)
    submitted(world, lead, partner)
    world.project()
    queue = ok(reviewer.get("/api/v1/review-queue"))
    catalogue = ok(world.anonymous.get("/api/v1/good-practices"))
    assert len(queue["items"]) == len(catalogue["items"]) == 1
    # Rows written before the card column existed hold NULL there: they render from `doc`.
    with runtime(world.app).engine.begin() as conn:
        conn.execute(sa.update(queries.MAIN).values(card=None))
    assert ok(reviewer.get("/api/v1/review-queue")) == queue
    assert ok(world.anonymous.get("/api/v1/good-practices")) == catalogue


# ------------------------------------------------------------------------ inbox


def test_each_inbox_item_says_what_waits_and_since_when(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    invited = world.partner(country="ME")
    outsider = world.partner(country="AL")
    reviewer = world.reviewer()
    title = {"en": "Bridges between twinned towns"}
    body = world.in_co_design(lead, partner, title=title)
    body = world.invite(lead, body, invited)
    invited_at = body["updated_at"]
    body = world.amend(outsider, body, {"themes": ["youth"]}, "Youth.")
    proposed_at, amendment = body["updated_at"], body["amendments"][0]["id"]
    # A later edit: the invitation and the amendment still date from when they were made.
    body = ok(
        lead.patch(path_of(body), {"expected_participants": 9, "base_version": body["version"]})
    )
    assert body["updated_at"] > proposed_at > invited_at
    other = submitted(world, lead, partner, title={"en": "Rivers"})
    world.project()
    assert ok(invited.get("/api/v1/me/inbox"))["items"] == [
        {
            "kind": "invitation",
            "initiative_id": body["id"],
            "title": title,
            "organisation_id": invited.organisation_id,
            "since": invited_at,
        }
    ]
    assert ok(lead.get("/api/v1/me/inbox"))["items"] == [
        {
            "kind": "amendment",
            "initiative_id": body["id"],
            "title": title,
            "amendment_id": amendment,
            "author_id": outsider.id,
            "since": proposed_at,
        }
    ]
    assert ok(reviewer.get("/api/v1/me/inbox"))["items"] == [
        {
            "kind": "review",
            "initiative_id": other["id"],
            "title": {"en": "Rivers"},
            "step": "national_review",
            "since": other["updated_at"],
        }
    ]


def test_invitations_and_amendments_leave_the_inbox_once_the_initiative_is_submitted(
    world: World,
) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    invited = world.partner(country="ME")
    outsider = world.partner(country="AL")
    body = world.in_co_design(lead, partner)
    body = world.invite(lead, body, invited)
    body = world.amend(outsider, body, {"themes": ["youth"]}, "Youth.")
    world.project()
    assert [i["kind"] for i in ok(invited.get("/api/v1/me/inbox"))["items"]] == ["invitation"]
    assert [i["kind"] for i in ok(lead.get("/api/v1/me/inbox"))["items"]] == ["amendment"]
    # Submitting leaves the invitation open and the amendment pending, but neither can be
    # acted on in review.
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    assert {"organisation_id": invited.organisation_id, "status": "invited"} in body["partners"]
    assert body["amendments"][0]["status"] == "pending"
    world.project()
    assert ok(invited.get("/api/v1/me/inbox"))["items"] == []
    assert ok(lead.get("/api/v1/me/inbox"))["items"] == []


def test_each_kind_of_inbox_item_is_capped_at_inbox_max(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap is 1,000 of each kind; a cap of 2 shows the same rule over a few items.
    monkeypatch.setattr(queues, "INBOX_MAX", 2)
    me = world.partner(country="IT")
    other = world.partner(country="RS")
    outsider = world.partner(country="AL")
    invitations = []
    for _ in range(3):
        body = world.propose(other)
        ok(
            other.post(
                f"{path_of(body)}/partners", {"organisation_id": me.organisation_id}, version=1
            )
        )
        invitations.append(body["id"])
    mine = world.propose(me)
    for n in range(3):
        mine = world.amend(outsider, mine, {"expected_participants": n + 1}, "More.")
    amendments = [a["id"] for a in mine["amendments"]]
    world.project()
    items = ok(me.get("/api/v1/me/inbox"))["items"]
    assert Counter(item["kind"] for item in items) == {"invitation": 2, "amendment": 2}
    assert {i["initiative_id"] for i in items if i["kind"] == "invitation"} <= set(invitations)
    assert {i["amendment_id"] for i in items if i["kind"] == "amendment"} <= set(amendments)


# --------------------------------------------------------------- good practices


def test_the_catalogue_filters_by_country_and_settles_ties_by_descending_id(
    world: World,
) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    made = [good_practice(world, lead, partner, reviewer)["id"] for _ in range(3)]
    world.project()

    def catalogue(**query: Any) -> list[str]:
        return ids(ok(world.anonymous.get("/api/v1/good-practices", query_string=query))["items"])

    assert catalogue() == made[::-1]  # most recently updated first
    assert catalogue(country="RS") == []
    assert sorted(catalogue(country="IT")) == sorted(made)
    # Recognised in the same instant: the id settles the order, on every page. Stored in
    # ascending id order, so that rows read in storage order would come out the wrong way.
    moment = "2030-05-05T05:05:05.000005Z"
    for ref in sorted(made):
        restore(world, "initiatives", ref, updated_at=moment)
    by_id = sorted(made, reverse=True)
    assert catalogue() == by_id
    cursor, paged = None, []
    for _ in made:
        page = ok(
            world.anonymous.get(
                "/api/v1/good-practices",
                query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
            )
        )
        paged += ids(page["items"])
        cursor = page["next_cursor"]
    assert paged == by_id and cursor is None


# ----------------------------------------------------------------------- impact


def test_impact_pairs_count_only_their_own_kinds_and_each_initiative_once(
    world: World,
) -> None:
    la = world.partner(country="IT", type_="local_authority")
    cso_it = world.partner(country="IT", type_="civil_society")
    other_cso_it = world.partner(country="IT", type_="civil_society")
    association = world.partner(country="RS", type_="national_association")
    cso_rs = world.partner(country="RS", type_="civil_society")
    reviewers = [world.reviewer(country="FR"), world.reviewer(country="DE")]
    # Three national initiatives alike in level and participants: one LA + CSO, one
    # association + CSO, one of civil society only (neither pair).
    approved(world, la, cso_it, reviewers, participants=10)
    approved(world, association, cso_rs, reviewers, participants=10, countries=["RS"])
    approved(world, cso_it, other_cso_it, reviewers, themes=["sport"])
    # European, with civil society from one country only: not networking.
    approved(
        world, la, cso_rs, reviewers, level="european", countries=["IT", "RS"], themes=["sport"]
    )
    world.project()
    stats = ok(la.get("/api/v1/stats/impact"))
    assert stats["national"] == {
        "local_authority_civil_society": 1,
        "association_civil_society": 1,
        "participants": 20,
        "initiatives": 3,
    }
    assert stats["european"] == {
        "international": 1,
        "civil_society_networking": 0,
        "participants": 0,
    }
    sport = ok(la.get("/api/v1/stats/impact", query_string={"theme": "sport"}))
    assert sport["national"] == {
        "local_authority_civil_society": 0,
        "association_civil_society": 0,
        "participants": 0,
        "initiatives": 1,
    }
    assert sport["european"] == stats["european"]


@pytest.fixture
def new_york(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A world whose PostgreSQL sessions run in New York time (libpq's PGTZ), as a server
    set up in local time would: a year must still begin at midnight UTC."""
    monkeypatch.setenv("PGTZ", "America/New_York")
    for app in serving(backend):
        yield World(app)


def test_a_year_runs_from_its_first_utc_moment_to_the_next_years(new_york: World) -> None:
    world = new_york
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    long_ago = "2029-06-01T12:00:00Z"
    dated = {
        # (created_at, approved_at): approved ones reached approval, the others are proposals.
        "approved on new year 2030": (long_ago, "2030-01-01T00:00:00Z"),
        "approved on new year 2031": (long_ago, "2031-01-01T00:00:00Z"),
        "created on new year 2030": ("2030-01-01T00:00:00Z", None),
        "created just before": ("2029-12-31T23:59:59.999999Z", None),
        "created on new year 2031": ("2031-01-01T00:00:00Z", None),
    }
    made = {
        name: (
            approved(world, lead, partner, [reviewer], title={"en": name})
            if approved_at
            else world.propose(lead, title={"en": name})
        )["id"]
        for name, (_, approved_at) in dated.items()
    }
    world.project()
    for name, (created_at, approved_at) in dated.items():
        restore(world, "initiatives", made[name], created_at=created_at, approved_at=approved_at)

    def year(number: int) -> dict[str, Any]:
        return ok(lead.get("/api/v1/stats/impact", query_string={"year": number}))

    # Indicators: approved in the year. Counts by state: created or approved in it.
    assert year(2030)["national"]["initiatives"] == 1
    assert year(2030)["by_state"] == {"approved": 1, "proposal": 1}
    assert year(2031)["national"]["initiatives"] == 1
    assert year(2031)["by_state"] == {"approved": 1, "proposal": 1}
    assert year(2029)["national"]["initiatives"] == 0
    assert year(2029)["by_state"] == {"approved": 2, "proposal": 1}


# ---------------------------------------------------------------- organisations


def test_organisations_keep_registration_order_wherever_their_rows_lie(world: World) -> None:
    made = [world.organisation(name=f"Town {n}") for n in range(3)]
    world.project()
    # Stored again, the first row moves to the end of the table; the list must not follow.
    restore(world, "organisations", made[0])
    page = ok(world.admin.get("/api/v1/organisations", query_string={"limit": 200}))
    assert ids(page["items"])[-3:] == made
    with runtime(world.app).engine.connect() as conn:
        items = queries.list_organisations(conn, limit=200, cursor=None).items
    # The view's bookkeeping (its position) stays in the view.
    assert [item["id"] for item in items][-3:] == made
    assert all(set(item) == {"id", "name", "type", "country", "created_at"} for item in items)
