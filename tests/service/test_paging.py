"""Every paginated list, followed cursor by cursor to its end over more items than a page:
no item twice, none missing, in the documented order, and no cursor after the last page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.service.conftest import Client, World, ok
from tests.service.test_read_views import approved, ids, path_of, submitted

LIMITS = (3, 2, 1)
MAX_PAGES = 100  # a cursor that never ends would loop forever

Item = dict[str, Any]


def every_page(client: Client, path: str, limit: int, **query: Any) -> list[Item]:
    """The items of every page, following `next_cursor` from the first page to the last."""
    items: list[Item] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = ok(
            client.get(
                path,
                query_string={**query, "limit": limit, **({"cursor": cursor} if cursor else {})},
            )
        )
        items += page["items"]
        # The same cursor again would give the same page again, for ever.
        assert cursor is None or page["next_cursor"] != cursor, (path, "the pages loop")
        cursor = page["next_cursor"]
        if cursor is None:
            # The server reads one item ahead: a last page is never empty (unless all are).
            assert page["items"] or not items, path
            assert len(page["items"]) <= limit, path
            return items
        assert len(page["items"]) == limit, path  # only the last page may be short
    raise AssertionError(f"{path}: still a next_cursor after {MAX_PAGES} pages")


def pages_give(
    client: Client,
    path: str,
    expected: list[Any],
    key: Callable[[Item], Any] = lambda item: item["id"],
    **query: Any,
) -> None:
    """Paged with every limit in LIMITS, the list is exactly `expected`, in its order."""
    assert len(expected) > max(LIMITS), "too few items to need several pages"
    for limit in LIMITS:
        seen = [key(item) for item in every_page(client, path, limit, **query)]
        assert len(seen) == len(set(seen)), (path, limit, query, "an item came twice")
        assert seen == expected, (path, limit, query)


def one_page(client: Client, path: str, **query: Any) -> list[Item]:
    """The whole list in a single page, to compare the paged one with."""
    page = ok(client.get(path, query_string={**query, "limit": 200}))
    assert page["next_cursor"] is None
    return list(page["items"])


def test_every_page_of_the_initiative_list_in_every_sort(world: World) -> None:
    lead = world.partner()
    # Titles out of creation order, in mixed case (the title sort ignores case) and three
    # alike, so that pages split a tie and the cursor's id must settle it.
    titles = ["Heritage", "alpine", "Canal", "delta", "canal", "festival", "CANAL", "Elm"]
    made = [world.propose(lead, title={"en": title})["id"] for title in titles]
    for touched in (3, 0, 5):  # these change later: last in updated order
        ok(
            lead.patch(
                f"/api/v1/initiatives/{made[touched]}", {"base_version": 1, "themes": ["sport"]}
            )
        )
    world.project()
    by_title = [i for _, i in sorted((t.casefold(), i) for t, i in zip(titles, made, strict=True))]
    by_update = [made[i] for i in (1, 2, 4, 6, 7, 3, 0, 5)]
    orders = {
        "created_at": made,
        "-created_at": made[::-1],
        "title": by_title,
        "-title": by_title[::-1],
        "updated_at": by_update,
        "-updated_at": by_update[::-1],
    }
    for sort, expected in orders.items():
        pages_give(lead, "/api/v1/initiatives", expected, sort=sort)
    # The default order is the most recently updated first; filters page the same way.
    pages_give(lead, "/api/v1/initiatives", by_update[::-1])
    pages_give(lead, "/api/v1/initiatives", [made[i] for i in (7, 6, 4, 2, 1)], theme="youth")


def test_every_page_of_the_review_queue_oldest_submission_first(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    drafts = [world.in_co_design(lead, partner, title={"en": f"Draft {n}"}) for n in range(7)]
    order = (4, 0, 6, 2, 5, 1, 3)  # submitted out of creation order
    for index in order:
        body = drafts[index]
        ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    world.project()
    expected = [drafts[i]["id"] for i in order]
    pages_give(reviewer, "/api/v1/review-queue", expected)
    waited = [item["waiting_since"] for item in one_page(reviewer, "/api/v1/review-queue")]
    assert waited == sorted(waited)


def _inbox_key(item: Item) -> tuple[str, str]:
    return item["kind"], item.get("amendment_id") or item["initiative_id"]


def test_every_page_of_an_inbox_mixing_invitations_amendments_and_reviews(
    world: World,
) -> None:
    me = world.account(world.organisation(country="IT"), "partner", "reviewer")
    other = world.partner(country="RS")
    partner = world.partner(country="ME")
    outsider = world.partner(country="AL")
    mine = world.propose(me)
    expected: list[tuple[str, str]] = []

    def invitation() -> None:
        body = world.propose(other)
        ok(
            other.post(
                f"{path_of(body)}/partners", {"organisation_id": me.organisation_id}, version=1
            )
        )
        expected.append(("invitation", body["id"]))

    def amendment() -> None:
        nonlocal mine
        mine = world.amend(outsider, mine, {"expected_participants": len(expected)}, "More.")
        expected.append(("amendment", mine["amendments"][-1]["id"]))

    def review() -> None:
        expected.append(("review", submitted(world, other, partner)["id"]))

    # Interleaved, so that each page holds items of several kinds.
    for make in (
        invitation,
        review,
        amendment,
        invitation,
        amendment,
        review,
        invitation,
        amendment,
    ):
        make()
    world.project()
    pages_give(me, "/api/v1/me/inbox", expected, key=_inbox_key)
    since = [item["since"] for item in one_page(me, "/api/v1/me/inbox")]
    assert since == sorted(since)


def test_every_page_of_the_organisations_in_registration_order(world: World) -> None:
    made = [world.organisation(name=f"Town {n}") for n in range(7)]
    world.project()
    everything = ids(one_page(world.admin, "/api/v1/organisations"))
    assert everything[-7:] == made
    pages_give(world.admin, "/api/v1/organisations", everything)


def test_every_page_of_the_good_practices_most_recently_recognised_first(world: World) -> None:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    completed = []
    for n in range(8):
        body = approved(world, lead, partner, [reviewer], participants=n + 1, title={"en": f"G{n}"})
        completed.append(
            ok(
                lead.post(
                    f"{path_of(body)}/complete",
                    {"outcomes": {"en": "Done."}},
                    version=body["version"],
                )
            )
        )
    order = (2, 5, 0, 6, 3, 1, 4)  # recognised out of creation order; the 8th never is
    for index in order:
        body = completed[index]
        ok(
            reviewer.post(
                f"{path_of(body)}/good-practice",
                {"rationale": "Replicable."},
                version=body["version"],
            )
        )
    world.project()
    expected = [completed[i]["id"] for i in reversed(order)]
    pages_give(world.anonymous, "/api/v1/good-practices", expected)
    pages_give(world.anonymous, "/api/v1/good-practices", expected, country="IT")


def test_every_page_of_the_audit_entries_and_the_event_feed_in_position_order(
    world: World,
) -> None:
    auditor = world.account(None, "auditor")
    lead = world.partner()
    partner = world.partner(country="RS")
    body = world.in_co_design(lead, partner)
    for participants in range(1, 5):
        body = ok(
            lead.patch(
                path_of(body),
                {"expected_participants": participants, "base_version": body["version"]},
            )
        )
    world.project()

    def position(item: Item) -> int:
        return int(item["position"])

    entries = [position(e) for e in one_page(auditor, "/api/v1/audit/entries")]
    assert entries == sorted(entries)
    pages_give(auditor, "/api/v1/audit/entries", entries, key=position)
    history = [position(e) for e in ok(auditor.get(f"{path_of(body)}/history"))["items"]]
    assert len(history) == body["version"] == 8
    pages_give(auditor, "/api/v1/audit/entries", history, key=position, initiative_id=body["id"])
    events = [position(e) for e in one_page(auditor, "/api/v1/events")]
    assert events == sorted(events) and events == entries  # one audit entry per event
    pages_give(auditor, "/api/v1/events", events, key=position)
