"""Visibility over HTTP, on SQLite and PostgreSQL: a partners initiative, while a draft, is
known only to its organisations, auditors and admins; from submission on, to everyone."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from flask import Flask

from tests.service.conftest import Client, World, as_in, ok, problem, proposal

A = "/api/v1"


def ids_listed(client: Client, path: str, limit: int = 200) -> list[str]:
    """Every id of every page of a list, in order; each page but the last is full."""
    found: list[str] = []
    joiner = "&" if "?" in path else "?"
    url = f"{path}{joiner}limit={limit}"
    while True:
        page = ok(client.get(url))
        found.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            return found
        assert len(page["items"]) == limit, "a page came back short"
        url = f"{path}{joiner}limit={limit}&cursor={page['next_cursor']}"


class Cast:
    """A lead, a joined and an invited partner, an outsider, a reviewer, an auditor."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lead = world.partner(country="IT")
        self.joined = world.partner(country="RS", type_="civil_society")
        self.invited = world.partner(country="AL")
        self.outsider = world.partner(country="FR")
        self.reviewer = world.reviewer()
        self.auditor = world.account(world.organisation(type_="other"), "auditor")

    def draft(self, visibility: str = "partners", **fields: Any) -> dict[str, Any]:
        """A draft in co-design with one joined and one invited partner."""
        w = self.world
        body = w.in_co_design(self.lead, self.joined, visibility=visibility, **fields)
        return w.invite(self.lead, body, self.invited)


def test_propose_takes_the_visibility_and_shows_it_everywhere(world: World) -> None:
    cast = Cast(world)
    network = world.propose(cast.lead)
    assert network["visibility"] == "network"
    private = world.propose(cast.lead, visibility="partners")
    assert private["visibility"] == "partners"
    assert ok(cast.lead.get(f"{A}/initiatives/{private['id']}"))["visibility"] == "partners"
    world.project()
    items = {i["id"]: i for i in ok(cast.lead.get(f"{A}/initiatives"))["items"]}
    assert items[network["id"]]["visibility"] == "network"
    assert items[private["id"]]["visibility"] == "partners"


def test_an_unknown_visibility_is_a_422_on_that_field(world: World) -> None:
    lead = world.partner()
    body = problem(lead.post(f"{A}/initiatives", proposal(visibility="secret")), 422)
    assert set(body["errors"]) == {"visibility"}


def test_a_partners_draft_is_hidden_until_submitted(world: World) -> None:
    cast = Cast(world)
    draft = cast.draft(title={"en": "Quietly planned exchange"})
    path = f"{A}/initiatives/{draft['id']}"
    for member in (cast.lead, cast.joined, cast.invited, cast.auditor, world.admin):
        assert ok(member.get(path))["id"] == draft["id"]
        assert ok(member.get(f"{path}?version=1"))["version"] == 1
    for stranger in (cast.outsider, cast.reviewer):
        for url in (path, f"{path}?version=1", f"{path}?as_of=2099-01-01T00:00:00Z"):
            assert "Quietly" not in problem(stranger.get(url), 404)["detail"]
        problem(
            stranger.post(
                f"{path}/amendments",
                {"changes": {"expected_participants": 9}, "rationale": "R.", "base_version": 1},
            ),
            404,
        )
        problem(stranger.patch(path, {"expected_participants": 9}, version=draft["version"]), 404)
        problem(stranger.post(f"{path}/submit", version=1), 404)  # a stale If-Match too
        review = {"decision": "approve", "rationale": "R."}
        problem(stranger.post(f"{path}/reviews", review, version=1), 404)
        problem(stranger.post(f"{path}/follow-up", version=draft["version"]), 404)
    world.project()
    for stranger in (cast.outsider, cast.reviewer):
        assert draft["id"] not in ids_listed(stranger, f"{A}/initiatives")
        assert draft["id"] not in ids_listed(stranger, f"{A}/initiatives?q=quietly")
        assert ok(stranger.get(f"{A}/me/inbox"))["items"] == []
    assert ids_listed(cast.invited, f"{A}/initiatives?q=quietly") == [draft["id"]]
    # Submitted: readable like any other, and in the reviewer's queue.
    draft = ok(cast.lead.post(f"{path}/submit", version=draft["version"]))
    assert draft["state"] == "in_review"
    assert ok(cast.outsider.get(path))["visibility"] == "partners"
    assert ok(cast.outsider.get(f"{path}?version=1"))["version"] == 1
    world.project()
    assert ids_listed(cast.outsider, f"{A}/initiatives?q=quietly") == [draft["id"]]
    queue = ok(cast.reviewer.get(f"{A}/review-queue"))["items"]
    assert [item["id"] for item in queue] == [draft["id"]]


def test_a_cached_body_is_never_served_to_who_may_no_longer_read_it(
    world: World, second: Flask
) -> None:
    """Reads are cached per caller; a partner that leaves loses sight of the draft at once,
    in this process and in another one that had it cached."""
    cast = Cast(world)
    draft = cast.draft()
    path = f"{A}/initiatives/{draft['id']}"
    elsewhere = as_in(second, cast.joined)
    for reader in (cast.joined, elsewhere):
        assert ok(reader.get(path))["id"] == draft["id"]
        assert ok(reader.get(path))["id"] == draft["id"]  # now from the cache
    problem(cast.outsider.get(path), 404)
    problem(as_in(second, cast.outsider).get(path), 404)
    ok(
        cast.joined.delete(
            f"{path}/partners/{cast.joined.organisation_id}", version=draft["version"]
        )
    )
    problem(cast.joined.get(path), 404)
    problem(elsewhere.get(path), 404)
    assert ok(cast.lead.get(path))["partners"] == [
        {"organisation_id": cast.invited.organisation_id, "status": "invited"}
    ]


def test_pages_stay_full_and_complete_around_hidden_drafts(world: World) -> None:
    """Filtering happens in the query: with hidden drafts between the initiatives an outsider
    may read, every page but the last is full, and no item is skipped or repeated."""
    cast = Cast(world)
    word = f"paged{uuid4().hex[:8]}"
    shown, hidden = [], []
    for n in range(7):
        title = {"en": f"{word} number {n}"}
        hidden.append(world.propose(cast.lead, visibility="partners", title=title)["id"])
        shown.append(world.propose(cast.lead, title=title)["id"])
    hidden.append(world.propose(cast.lead, visibility="partners", title={"en": word})["id"])
    world.project()
    for sort in ("-updated_at", "updated_at", "title", "-created_at"):
        path = f"{A}/initiatives?q={word}&sort={sort}"
        for limit in (1, 2, 3, 5):
            seen = ids_listed(cast.outsider, path, limit)
            assert sorted(seen) == sorted(shown), (sort, limit)
            members = ids_listed(cast.lead, path, limit)
            assert sorted(members) == sorted(shown + hidden), (sort, limit)
            assert [i for i in members if i in shown] == seen  # the same order


def test_the_openapi_document_names_the_visibility_vocabulary(world: World) -> None:
    spec = ok(world.anonymous.get(f"{A}/openapi.json"))
    schemas = spec["components"]["schemas"]
    assert schemas["Visibility"]["enum"] == ["network", "partners"]
    ref = {"$ref": "#/components/schemas/Visibility"}
    for name in ("Propose", "Initiative", "InitiativeSummary"):
        field = schemas[name]["properties"]["visibility"]
        assert ref in field.get("allOf", [field]), (name, field)
    assert schemas["Propose"]["properties"]["visibility"]["default"] == "network"
    assert "visibility" in schemas["Initiative"]["required"]


def test_the_history_records_the_visibility_chosen(world: World) -> None:
    cast = Cast(world)
    draft = world.propose(cast.lead, visibility="partners")
    world.project()
    history = ok(cast.auditor.get(f"{A}/initiatives/{draft['id']}/history"))
    assert history["items"][0]["changes"]["visibility"] == {"old": None, "new": "partners"}


def test_a_removed_partner_that_co_wrote_the_draft_no_longer_sees_it(world: World) -> None:
    """The view remembers an amendment's organisation as a co-author (for conflicts of
    interest); once the organisation leaves, that memory must not let it read the draft."""
    cast = Cast(world)
    draft = cast.draft(title={"en": "Left behind draft"})
    path = f"{A}/initiatives/{draft['id']}"
    body = world.amend(cast.joined, draft, {"expected_participants": 30}, "More.")
    amendment = body["amendments"][0]["id"]
    body = ok(
        cast.lead.post(f"{path}/amendments/{amendment}/accept", {"base_version": body["version"]})
    )
    ok(cast.lead.delete(f"{path}/partners/{cast.joined.organisation_id}", version=body["version"]))
    world.project()
    problem(cast.joined.get(path), 404)
    assert draft["id"] not in ids_listed(cast.joined, f"{A}/initiatives")
    assert draft["id"] not in ids_listed(cast.joined, f"{A}/initiatives?q=behind")


def test_a_partners_draft_withdrawn_before_submission_stays_hidden(world: World) -> None:
    cast = Cast(world)
    unseen = cast.draft(title={"en": "Dropped quietly"})
    seen = cast.draft(title={"en": "Dropped in review"})
    unseen = ok(
        cast.lead.post(
            f"{A}/initiatives/{unseen['id']}/withdraw",
            {"reason": "Not now."},
            version=unseen["version"],
        )
    )
    seen = ok(cast.lead.post(f"{A}/initiatives/{seen['id']}/submit", version=seen["version"]))
    seen = ok(
        cast.lead.post(
            f"{A}/initiatives/{seen['id']}/withdraw", {"reason": "Later."}, version=seen["version"]
        )
    )
    assert unseen["state"] == seen["state"] == "withdrawn"
    world.project()
    for stranger in (cast.outsider, cast.reviewer):
        problem(stranger.get(f"{A}/initiatives/{unseen['id']}"), 404)
        assert ok(stranger.get(f"{A}/initiatives/{seen['id']}"))["state"] == "withdrawn"
        listed = ids_listed(stranger, f"{A}/initiatives?q=dropped")
        assert listed == [seen["id"]]
    for member in (cast.lead, cast.invited, cast.auditor):
        assert sorted(ids_listed(member, f"{A}/initiatives?q=dropped")) == sorted(
            [unseen["id"], seen["id"]]
        )
