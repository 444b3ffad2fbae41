"""Reads of the views: lists with keyset pagination, the queue, the inbox, the statistics.

Nothing here reads the event store: every answer comes from the view tables.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from domain.values import Caller
from projections.initiatives import REACHED_APPROVAL, summary
from projections.runner import LIVE
from projections.view import decode, encode, iso, parse_time

INITIATIVES = LIVE["initiatives"]
MAIN = INITIATIVES["main"]
THEMES = INITIATIVES["themes"]
COUNTRIES = INITIATIVES["countries"]
ORGS = INITIATIVES["organisations"]
APPROVERS = INITIATIVES["approvers"]
AMENDMENTS = INITIATIVES["amendments"]
ORGANISATIONS = LIVE["organisations"]["main"]
# The document only where the card is missing (rows written before cards existed).
DOC_WITHOUT_CARD = sa.case((MAIN.c.card.is_(None), MAIN.c.doc), else_=sa.null()).label("doc")

SORTS = {
    "updated_at": (MAIN.c.updated_at, False),
    "-updated_at": (MAIN.c.updated_at, True),
    "created_at": (MAIN.c.created_at, False),
    "-created_at": (MAIN.c.created_at, True),
    "title": (MAIN.c.title_sort, False),
    "-title": (MAIN.c.title_sort, True),
}
DATETIME_SORTS = {"updated_at", "-updated_at", "created_at", "-created_at", "waiting_since"}


class BadCursor(ValueError):
    """A cursor this server did not hand out (or for another sort order)."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    # The items already serialized (JSON objects), when the view stores them so.
    cards: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.cards is not None:
            return {"items": [json.loads(c) for c in self.cards], "next_cursor": self.next_cursor}
        return {"items": self.items, "next_cursor": self.next_cursor}

    def as_json(self) -> str:
        """A page of stored cards as the API sends it: the cards joined."""
        assert self.cards is not None
        cards = ",".join(self.cards)
        return f'{{"items":[{cards}],"next_cursor":{json.dumps(self.next_cursor)}}}'


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("Invalid cursor.") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadCursor("Invalid cursor.")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise BadCursor("Invalid cursor.")
    # A forged cursor must not reach the database with what no column holds.
    if any(isinstance(v, int) and abs(v) > 2**53 for v in values):
        raise BadCursor("Invalid cursor.")
    if any(isinstance(v, str) and (len(v) > 1000 or "\x00" in v) for v in values):
        raise BadCursor("Invalid cursor.")
    return values


def _after(column: Any, descending: bool, value: Any, key: str) -> Any:
    if descending:
        return sa.or_(column < value, sa.and_(column == value, MAIN.c.id < key))
    return sa.or_(column > value, sa.and_(column == value, MAIN.c.id > key))


def _cursor_value(sort: str, raw: Any) -> Any:
    if sort in DATETIME_SORTS:
        if not isinstance(raw, str):
            raise BadCursor("Invalid cursor.")
        try:
            return parse_time(raw)
        except ValueError:
            raise BadCursor("Invalid cursor.") from None
    return raw


def _exists(table: sa.Table, *conditions: Any) -> Any:
    return sa.exists().where(table.c.ref == MAIN.c.id, *conditions)


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def initiative_filters(
    state: str | None = None,
    theme: str | None = None,
    level: str | None = None,
    country: str | None = None,
    organisation_id: str | None = None,
    q: str | None = None,
    updated_after: datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if state:
        conditions.append(MAIN.c.state == state)
    if level:
        conditions.append(MAIN.c.level == level)
    if theme:
        conditions.append(_exists(THEMES, THEMES.c.theme == theme))
    if country:
        conditions.append(_exists(COUNTRIES, COUNTRIES.c.country == country))
    if organisation_id:
        conditions.append(_exists(ORGS, ORGS.c.organisation_id == organisation_id))
    if q:
        for word in q.split():
            conditions.append(MAIN.c.search.like(_like(word), escape="\\"))
    if updated_after is not None:
        conditions.append(MAIN.c.updated_at > updated_after)
    return conditions


def list_initiatives(
    conn: sa.Connection,
    *,
    limit: int,
    cursor: str | None,
    sort: str = "-updated_at",
    **filters: Any,
) -> Page:
    column, descending = SORTS[sort]
    query = sa.select(MAIN.c.id, MAIN.c.card, DOC_WITHOUT_CARD, column.label("sort_key")).where(
        *initiative_filters(**filters)
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        query = query.where(_after(column, descending, _cursor_value(sort, raw), str(key)))
    order = (column.desc(), MAIN.c.id.desc()) if descending else (column.asc(), MAIN.c.id.asc())
    rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    return _page(rows, limit, sort)


def _page(rows: list[Any], limit: int, sort: str) -> Page:
    """A page of initiative summaries from rows of (id, card, doc, sort_key)."""
    more = len(rows) > limit
    rows = rows[:limit]
    cards = [row.card if row.card is not None else encode(summary(decode(row.doc))) for row in rows]
    next_cursor = None
    if more:
        key = sort.lstrip("-")
        value = json.loads(cards[-1])[key] if sort in DATETIME_SORTS else rows[-1].sort_key
        next_cursor = encode_cursor(value, rows[-1].id)
    return Page([], next_cursor, cards)


def review_queue(conn: sa.Connection, caller: Caller, *, limit: int, cursor: str | None) -> Page:
    """In-review initiatives the caller may review now: uninvolved, and not an approver of
    this round; oldest first."""
    query = sa.select(
        MAIN.c.id, MAIN.c.card, DOC_WITHOUT_CARD, MAIN.c.waiting_since.label("sort_key")
    ).where(
        MAIN.c.state == "in_review",
        ~_exists(ORGS, ORGS.c.organisation_id == caller.organisation_id),
        ~_exists(APPROVERS, APPROVERS.c.account_id == caller.account_id),
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        since = _cursor_value("waiting_since", raw)
        query = query.where(_after(MAIN.c.waiting_since, False, since, str(key)))
    rows = conn.execute(
        query.order_by(MAIN.c.waiting_since.asc(), MAIN.c.id.asc()).limit(limit + 1)
    ).all()
    return _page(rows, limit, "waiting_since")


INBOX_MAX = 1000


def inbox(conn: sa.Connection, caller: Caller, *, limit: int, cursor: str | None) -> Page:
    """What waits for the caller: invitations to their organisation, amendments their
    organisation decides on, and reviews they may make."""
    items: list[dict[str, Any]] = []
    title = MAIN.c.doc
    if "partner" in caller.roles:
        invited = conn.execute(
            sa.select(MAIN.c.id, title, ORGS.c.since)
            .join(ORGS, ORGS.c.ref == MAIN.c.id)
            .where(
                ORGS.c.organisation_id == caller.organisation_id,
                ORGS.c.relation == "invited",
                MAIN.c.state.in_(("proposal", "co_design")),
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
                MAIN.c.state.in_(("proposal", "co_design")),
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


def good_practices(
    conn: sa.Connection,
    *,
    limit: int,
    cursor: str | None,
    theme: str | None = None,
    country: str | None = None,
) -> Page:
    query = sa.select(
        MAIN.c.id, MAIN.c.card, DOC_WITHOUT_CARD, MAIN.c.updated_at.label("sort_key")
    ).where(
        MAIN.c.good_practice.is_(True),
        MAIN.c.state == "completed",
        *initiative_filters(theme=theme, country=country),
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        query = query.where(
            _after(MAIN.c.updated_at, True, _cursor_value("-updated_at", raw), str(key))
        )
    rows = conn.execute(
        query.order_by(MAIN.c.updated_at.desc(), MAIN.c.id.desc()).limit(limit + 1)
    ).all()
    return _page(rows, limit, "-updated_at")


def impact(
    conn: sa.Connection,
    *,
    year: int | None = None,
    country: str | None = None,
    theme: str | None = None,
) -> dict[str, Any]:
    """The programme's indicators, as API.md defines them, for initiatives that reached
    approval (in `year`, when given); plus counts by state, theme and country.

    Counted in the database (grouped queries): memory and data sent stay small however many
    initiatives there are."""
    filters = initiative_filters(theme=theme, country=country)
    counted = list(filters)
    approved_in_year: list[Any] = []
    if year is not None:
        begins = datetime(year, 1, 1, tzinfo=UTC)
        ends = datetime(year + 1, 1, 1, tzinfo=UTC)
        approved_in_year = [MAIN.c.approved_at >= begins, MAIN.c.approved_at < ends]
        counted.append(
            sa.or_(
                sa.and_(MAIN.c.created_at >= begins, MAIN.c.created_at < ends),
                sa.and_(*approved_in_year),
            )
        )

    def counts(table: sa.Table, name: str) -> dict[str, int]:
        # An alias: the theme and country filters are EXISTS over the same tables.
        rows = table.alias() if table is not MAIN else table
        column = rows.c[name]
        query = sa.select(column, sa.func.count()).where(*counted).group_by(column)
        if table is not MAIN:
            query = query.select_from(rows.join(MAIN, rows.c.ref == MAIN.c.id))
        return dict(sorted((key, int(n)) for key, n in conn.execute(query)))

    national = {
        "local_authority_civil_society": 0,
        "association_civil_society": 0,
        "participants": 0,
        "initiatives": 0,
    }
    european = {"international": 0, "civil_society_networking": 0, "participants": 0}
    # One row per level, computed in the database: for each initiative that reached approval,
    # which kinds of organisation lead or joined it, and in how many countries civil society.
    members = (
        sa.select(ORGS.c.ref, ORGANISATIONS.c.type, ORGANISATIONS.c.country)
        .join(ORGANISATIONS, ORGANISATIONS.c.id == ORGS.c.organisation_id)
        .where(ORGS.c.relation.in_(("lead", "joined")))
        .subquery()
    )

    def has(kind: str) -> Any:
        return sa.func.max(sa.case((members.c.type == kind, 1), else_=0))

    each = (
        sa.select(
            MAIN.c.level,
            MAIN.c.participants,
            has("local_authority").label("la"),
            has("civil_society").label("cso"),
            has("national_association").label("na"),
            sa.func.count(
                sa.distinct(sa.case((members.c.type == "civil_society", members.c.country)))
            ).label("cso_countries"),
        )
        .select_from(MAIN.outerjoin(members, members.c.ref == MAIN.c.id))
        .where(*filters, MAIN.c.state.in_(REACHED_APPROVAL), *approved_in_year)
        .group_by(MAIN.c.id, MAIN.c.level, MAIN.c.participants)
        .subquery()
    )
    totals = conn.execute(
        sa.select(
            each.c.level,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(each.c.participants), 0),
            sa.func.sum(sa.case(((each.c.la == 1) & (each.c.cso == 1), 1), else_=0)),
            sa.func.sum(sa.case(((each.c.na == 1) & (each.c.cso == 1), 1), else_=0)),
            sa.func.sum(sa.case((each.c.cso_countries >= 2, 1), else_=0)),
        ).group_by(each.c.level)
    )
    for level, count, participants, la_cso, na_cso, networking in totals:
        if level == "national":
            national["initiatives"] += int(count)
            national["participants"] += int(participants)
            national["local_authority_civil_society"] += int(la_cso or 0)
            national["association_civil_society"] += int(na_cso or 0)
        else:
            european["international"] += int(count)
            european["participants"] += int(participants)
            european["civil_society_networking"] += int(networking or 0)
    return {
        "national": national,
        "european": european,
        "by_state": counts(MAIN, "state"),
        "by_theme": counts(THEMES, "theme"),
        "by_country": counts(COUNTRIES, "country"),
    }


def list_organisations(conn: sa.Connection, *, limit: int, cursor: str | None) -> Page:
    query = sa.select(ORGANISATIONS.c.position, ORGANISATIONS.c.doc)
    if cursor:
        [after] = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise BadCursor("Invalid cursor.")
        query = query.where(ORGANISATIONS.c.position > after)
    rows = conn.execute(query.order_by(ORGANISATIONS.c.position).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [decode(row.doc) for row in rows]
    for item in items:
        item.pop("position", None)
    return Page(items, encode_cursor(rows[-1].position) if more else None)
