"""The initiatives view's lists: filtered and sorted pages, and the good-practice catalogue."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, get_args

import sqlalchemy as sa

from domain.records import Relation
from domain.values import PRIVATE_STATES, State, Visibility
from projections.initiatives import summary
from projections.queries.paging import BadCursor, Page, decode_cursor, encode_cursor
from projections.registry import LIVE
from projections.view import decode, encode, parse_time

INITIATIVES = LIVE["initiatives"]
MAIN = INITIATIVES["main"]
THEMES = INITIATIVES["themes"]
COUNTRIES = INITIATIVES["countries"]
ORGS = INITIATIVES["organisations"]
APPROVERS = INITIATIVES["approvers"]
AMENDMENTS = INITIATIVES["amendments"]
# The card, unless written before visibility existed (it lacks the field then: NULL, so
# that the summary is rendered from the document, as for rows without a card).
CARD = sa.case((MAIN.c.visibility.is_(None), sa.null()), else_=MAIN.c.card).label("card")
# The document only where the card is missing (rows written before cards existed).
DOC_WITHOUT_CARD = sa.case(
    (sa.or_(MAIN.c.card.is_(None), MAIN.c.visibility.is_(None)), MAIN.c.doc), else_=sa.null()
).label("doc")

SORTS = {
    "updated_at": (MAIN.c.updated_at, False),
    "-updated_at": (MAIN.c.updated_at, True),
    "created_at": (MAIN.c.created_at, False),
    "-created_at": (MAIN.c.created_at, True),
    "title": (MAIN.c.title_sort, False),
    "-title": (MAIN.c.title_sort, True),
}
DATETIME_SORTS = {"updated_at", "-updated_at", "created_at", "-created_at", "waiting_since"}


def after_key(column: Any, descending: bool, value: Any, key: str) -> Any:
    if descending:
        return sa.or_(column < value, sa.and_(column == value, MAIN.c.id < key))
    return sa.or_(column > value, sa.and_(column == value, MAIN.c.id > key))


def cursor_value(sort: str, raw: Any) -> Any:
    if sort in DATETIME_SORTS:
        if not isinstance(raw, str):
            raise BadCursor("Invalid cursor.")
        try:
            return parse_time(raw)
        except ValueError:
            raise BadCursor("Invalid cursor.") from None
    return raw


def exists(table: sa.Table, *conditions: Any) -> Any:
    return sa.exists().where(table.c.ref == MAIN.c.id, *conditions)


PARTNERS = Visibility.PARTNERS.value
# The relations that let an organisation read its partners drafts (not "co_author": an
# amendment's organisation that has since left).
TAKING_PART = get_args(Relation)
PRIVATE = [state.value for state in State if state in PRIVATE_STATES]


# Built once, the scope bound when the query runs: building the condition per request (or
# binding it with .params, which copies it) made the list query half as slow again.
SCOPE = sa.bindparam("scope", type_=sa.String)
READABLE = sa.or_(
    MAIN.c.visibility.is_(None),  # rows written before visibility: network ones
    MAIN.c.visibility != PARTNERS,
    sa.and_(
        *(MAIN.c.state != state for state in PRIVATE),
        sa.or_(MAIN.c.state != State.WITHDRAWN.value, MAIN.c.submitted_at.is_not(None)),
    ),
    exists(ORGS, ORGS.c.organisation_id == SCOPE, ORGS.c.relation.in_(TAKING_PART)),
)


def readable(scope: str | None) -> list[Any]:
    """The rows a caller of this read scope (`values.read_scope`) may see: all for None;
    else every initiative but the partners drafts its organisation is not involved in
    (`values.can_read`, in SQL; the query binds `scope`, see `scoped`). A network row
    passes on its own columns, before any look-up of its organisations."""
    return [] if scope is None else [READABLE]


def scoped(scope: str | None) -> dict[str, Any]:
    """The parameters a query filtered by `readable(scope)` is executed with."""
    return {} if scope is None else {"scope": scope}


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
        conditions.append(exists(THEMES, THEMES.c.theme == theme))
    if country:
        conditions.append(exists(COUNTRIES, COUNTRIES.c.country == country))
    if organisation_id:
        conditions.append(
            exists(
                ORGS,
                ORGS.c.organisation_id == organisation_id,
                ORGS.c.relation.in_(TAKING_PART),
            )
        )
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
    scope: str | None,
    sort: str = "-updated_at",
    **filters: Any,
) -> Page:
    """A page of the initiatives a caller of `scope` may read (`readable`), filtered in
    the same query, so that a page is never short of what the caller may see."""
    column, descending = SORTS[sort]
    query = sa.select(MAIN.c.id, CARD, DOC_WITHOUT_CARD, column.label("sort_key")).where(
        *initiative_filters(**filters), *readable(scope)
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        query = query.where(after_key(column, descending, cursor_value(sort, raw), str(key)))
    order = (column.desc(), MAIN.c.id.desc()) if descending else (column.asc(), MAIN.c.id.asc())
    rows = conn.execute(query.order_by(*order).limit(limit + 1), scoped(scope)).all()
    return page_of_cards(rows, limit, sort)


def page_of_cards(rows: list[Any], limit: int, sort: str) -> Page:
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


def good_practices(
    conn: sa.Connection,
    *,
    limit: int,
    cursor: str | None,
    theme: str | None = None,
    country: str | None = None,
) -> Page:
    query = sa.select(MAIN.c.id, CARD, DOC_WITHOUT_CARD, MAIN.c.updated_at.label("sort_key")).where(
        MAIN.c.good_practice.is_(True),
        MAIN.c.state == State.COMPLETED.value,
        *initiative_filters(theme=theme, country=country),
    )
    if cursor:
        raw, key = decode_cursor(cursor, 2)
        query = query.where(
            after_key(MAIN.c.updated_at, True, cursor_value("-updated_at", raw), str(key))
        )
    rows = conn.execute(
        query.order_by(MAIN.c.updated_at.desc(), MAIN.c.id.desc()).limit(limit + 1)
    ).all()
    return page_of_cards(rows, limit, "-updated_at")
