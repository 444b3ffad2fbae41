"""What waits for someone: the review queue and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.values import EDITABLE_STATES, LIFECYCLE, Caller, State
from projections.queries.initiatives import (
    AMENDMENTS,
    APPROVERS,
    CARD,
    DOC_WITHOUT_CARD,
    MAIN,
    ORGS,
    after_key,
    cursor_value,
    exists,
    page_of_cards,
)
from projections.queries.paging import Page, decode_cursor, encode_cursor
from projections.view import decode, iso

# Where invitations are answered and amendments decided (in the lifecycle's order).
EDITABLE = [state.value for state in LIFECYCLE if state in EDITABLE_STATES]


def review_queue(conn: sa.Connection, caller: Caller, *, limit: int, cursor: str | None) -> Page:
    """In-review initiatives the caller may review now: their organisation neither takes part
    nor co-wrote an accepted amendment, and they have not approved this round; oldest first.
    (Every in-review initiative is readable by all: a partners draft is never in review.)"""
    query = sa.select(
        MAIN.c.id, CARD, DOC_WITHOUT_CARD, MAIN.c.waiting_since.label("sort_key")
    ).where(
        MAIN.c.state == State.IN_REVIEW.value,
        ~exists(ORGS, ORGS.c.organisation_id == caller.organisation_id),
        ~exists(APPROVERS, APPROVERS.c.account_id == caller.account_id),
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        since = cursor_value("waiting_since", raw)
        query = query.where(after_key(MAIN.c.waiting_since, False, since, str(key)))
    rows = conn.execute(
        query.order_by(MAIN.c.waiting_since.asc(), MAIN.c.id.asc()).limit(limit + 1)
    ).all()
    return page_of_cards(rows, limit, "waiting_since")


INBOX_MAX = 1000


def inbox(conn: sa.Connection, caller: Caller, *, limit: int, cursor: str | None) -> Page:
    """What waits for the caller: invitations to their organisation, amendments their
    organisation decides on, and reviews they may make. Each is about an initiative the
    caller may read: its organisation is involved, or it is in review."""
    items: list[dict[str, Any]] = []
    title = MAIN.c.doc
    if "partner" in caller.roles:
        invited = conn.execute(
            sa.select(MAIN.c.id, title, ORGS.c.since)
            .join(ORGS, ORGS.c.ref == MAIN.c.id)
            .where(
                ORGS.c.organisation_id == caller.organisation_id,
                ORGS.c.relation == "invited",
                MAIN.c.state.in_(EDITABLE),
            )
            .limit(INBOX_MAX)
        ).all()
        for row in invited:
            document = decode(row.doc)
            items.append(
                {
                    "kind": "invitation",
                    "initiative_id": row.id,
                    "title": document["title"],
                    "organisation_id": caller.organisation_id,
                    "since": _iso(row.since, document["updated_at"]),
                    "key": f"i:{row.id}",
                }
            )
        amendments = conn.execute(
            sa.select(
                MAIN.c.id,
                title,
                AMENDMENTS.c.amendment_id,
                AMENDMENTS.c.author_id,
                AMENDMENTS.c.proposed_at,
            )
            .join(AMENDMENTS, AMENDMENTS.c.ref == MAIN.c.id)
            .join(ORGS, ORGS.c.ref == MAIN.c.id)
            .where(
                ORGS.c.organisation_id == caller.organisation_id,
                ORGS.c.relation.in_(("lead", "joined")),
                MAIN.c.state.in_(EDITABLE),
            )
            .limit(INBOX_MAX)
        ).all()
        for row in amendments:
            document = decode(row.doc)
            items.append(
                {
                    "kind": "amendment",
                    "initiative_id": row.id,
                    "title": document["title"],
                    "amendment_id": row.amendment_id,
                    "author_id": row.author_id,
                    "since": _iso(row.proposed_at, document["updated_at"]),
                    "key": f"a:{row.amendment_id}",
                }
            )
    if "reviewer" in caller.roles:
        for item in review_queue(conn, caller, limit=INBOX_MAX, cursor=None).as_dict()["items"]:
            items.append(
                {
                    "kind": "review",
                    "initiative_id": item["id"],
                    "title": item["title"],
                    "step": item["waiting_on"].get("step"),
                    "since": item["waiting_since"],
                    "key": f"r:{item['id']}",
                }
            )
    items.sort(key=lambda item: (item["since"], item["key"]))
    if cursor:
        since, key = decode_cursor(cursor, 2)
        items = [i for i in items if (i["since"], i["key"]) > (str(since), str(key))]
    page, more = items[:limit], len(items) > limit
    next_cursor = encode_cursor(page[-1]["since"], page[-1]["key"]) if more else None
    for item in page:
        del item["key"]
    return Page(page, next_cursor)


def _iso(moment: datetime | None, fallback: str) -> str:
    if moment is None:
        return fallback
    return iso(moment)
