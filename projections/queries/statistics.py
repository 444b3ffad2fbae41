"""The programme's statistics: the impact indicators and the counts behind the charts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from domain.values import LIFECYCLE, REACHED_APPROVAL
from projections.queries.initiatives import COUNTRIES, MAIN, ORGS, THEMES, initiative_filters
from projections.queries.organisations import ORGANISATIONS

# The states counted as having reached approval (in the lifecycle's order).
REACHED = [state.value for state in LIFECYCLE if state in REACHED_APPROVAL]


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
        .where(*filters, MAIN.c.state.in_(REACHED), *approved_in_year)
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


def first_year(conn: sa.Connection) -> int | None:
    """The year the first initiative was proposed (None: there is none yet)."""
    earliest = conn.execute(sa.select(sa.func.min(MAIN.c.created_at))).scalar()
    if earliest is None:
        return None
    if isinstance(earliest, str):  # some drivers hand back the stored text
        return int(earliest[:4])
    return int(earliest.year)
