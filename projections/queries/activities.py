"""The public activities list: filtered pages in the order activities start, and every
activity of a filter for the iCalendar feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from projections.queries.paging import BadCursor, Page, decode_cursor, encode_cursor
from projections.registry import LIVE
from projections.view import aware, iso

ACTIVITIES = LIVE["activities"]
MAIN = ACTIVITIES["main"]
THEMES = ACTIVITIES["themes"]
# The feed is one document: a bound keeps it (and its calendar clients) reasonable.
FEED_MAX = 2000


def _utc(moment: datetime) -> datetime:
    """SQLite stores a datetime without its zone: compare in UTC, as the rows hold them."""
    return aware(moment).astimezone(UTC)


def matching(
    *,
    kind: str | None = None,
    country: str | None = None,
    theme: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    initiative_id: str | None = None,
    state: str | None = None,
) -> list[Any]:
    """The conditions of the filters given; `from_`/`to` keep the activities whose dates
    overlap [from, to]."""
    conditions: list[Any] = []
    if kind is not None:
        conditions.append(MAIN.c.kind == kind)
    if state is not None:
        conditions.append(MAIN.c.state == state)
    if country is not None:
        conditions.append(MAIN.c.country == country)
    if initiative_id is not None:
        conditions.append(MAIN.c.initiative_id == str(initiative_id))
    if theme is not None:
        conditions.append(sa.exists().where(THEMES.c.ref == MAIN.c.id, THEMES.c.theme == theme))
    if from_ is not None:
        conditions.append(MAIN.c.ends_at >= _utc(from_))
    if to is not None:
        conditions.append(MAIN.c.starts_at <= _utc(to))
    return conditions


def list_activities(conn: sa.Connection, *, limit: int, cursor: str | None, **filters: Any) -> Page:
    """A page of activities, by start then id."""
    query = sa.select(MAIN.c.id, MAIN.c.starts_at, MAIN.c.card).where(*matching(**filters))
    if cursor:
        started, key = decode_cursor(cursor, 2)
        if not isinstance(started, str) or not isinstance(key, str):
            raise BadCursor("Invalid cursor.")
        try:
            after = _utc(datetime.fromisoformat(started.replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            raise BadCursor("Invalid cursor.") from None
        query = query.where(
            sa.or_(MAIN.c.starts_at > after, sa.and_(MAIN.c.starts_at == after, MAIN.c.id > key))
        )
    rows = conn.execute(query.order_by(MAIN.c.starts_at, MAIN.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cards = [row.card for row in rows]
    following = encode_cursor(iso(rows[-1].starts_at), rows[-1].id) if more else None
    return Page([], following, cards=cards)


def feed_activities(conn: sa.Connection, **filters: Any) -> list[dict[str, Any]]:
    """The activities of the filters, by start then id (at most FEED_MAX)."""
    query = (
        sa.select(MAIN.c.card)
        .where(*matching(**filters))
        .order_by(MAIN.c.starts_at, MAIN.c.id)
        .limit(FEED_MAX)
    )
    return [json.loads(card) for card in conn.execute(query).scalars()]


# The activities one organisation organises: the console's "my organisation's" list.
ORGANISED_MAX = 200


def organised_by(conn: sa.Connection, organisation_id: str, **filters: Any) -> list[dict[str, Any]]:
    """The activities `organisation_id` organises (of the filters), by start then id (at
    most ORGANISED_MAX). The view keeps organisers in the card only: a LIKE narrows the rows,
    the organiser list decides."""
    pattern = f'%"{organisation_id}"%'
    query = (
        sa.select(MAIN.c.card)
        .where(*matching(**filters), MAIN.c.card.like(pattern))
        .order_by(MAIN.c.starts_at, MAIN.c.id)
        .limit(ORGANISED_MAX)
    )
    cards = [json.loads(card) for card in conn.execute(query).scalars()]
    return [card for card in cards if organisation_id in card["organiser_ids"]]
