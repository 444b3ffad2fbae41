"""The initiatives view and visibility: the column, the SQL rule (`queries.readable`), and a
table of an earlier release, which lacks the column, upgraded in place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from domain.values import Caller, system_actor
from projections import queries
from projections.registry import LIVE, VIEW_BY_NAME, create_tables
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING, a_proposal

MAIN = LIVE["initiatives"]["main"]
FIELDS = a_proposal()


@pytest.fixture
def rt(backend: dict[str, Any]) -> Iterator[Runtime]:
    runtime = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING}))
    yield runtime
    runtime.close()


def organisation(rt: Runtime, name: str) -> str:
    outcome = rt.app.register_organisation(
        actor=system_actor(), name=name, type_="civil_society", country="IT"
    )
    return str(outcome.aggregate.id)


def listed(rt: Runtime, scope: str | None, **filters: Any) -> list[str]:
    with rt.engine.connect() as conn:
        page = queries.list_initiatives(conn, limit=200, cursor=None, scope=scope, **filters)
    return [item["id"] for item in page.as_dict()["items"]]


def test_rows_carry_the_visibility_and_lists_keep_drafts_among_their_organisations(
    rt: Runtime,
) -> None:
    lead_org, partner_org, other_org = (organisation(rt, n) for n in ("Lead", "Partner", "Other"))
    lead = Caller("lead", lead_org, frozenset({"partner"}))
    app = rt.app
    network = app.propose(caller=lead, fields={**FIELDS, "title": {"en": "Open"}}).aggregate
    private = app.propose(
        caller=lead, fields={**FIELDS, "title": {"en": "Closed"}}, visibility="partners"
    ).aggregate
    app.invite_partner(
        private.id, caller=lead, expected_version=1, organisation_id=UUID(partner_org)
    )
    rt.projector.catch_up()
    with rt.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(MAIN.c.id, MAIN.c.visibility)).all())
        cards = {r.id: json.loads(r.card) for r in conn.execute(sa.select(MAIN.c.id, MAIN.c.card))}
    assert rows == {str(network.id): "network", str(private.id): "partners"}
    assert cards[str(private.id)]["visibility"] == "partners"
    both = {str(network.id), str(private.id)}
    assert set(listed(rt, None)) == both  # auditors, admins
    assert set(listed(rt, lead_org)) == both
    assert set(listed(rt, partner_org)) == both  # invited
    assert listed(rt, other_org) == [str(network.id)]
    assert listed(rt, other_org, q="closed") == []
    assert listed(rt, other_org, organisation_id=lead_org) == [str(network.id)]


def test_a_table_without_the_visibility_column_is_upgraded_and_reads_as_network(
    rt: Runtime,
) -> None:
    """Rows written by a release before visibility: the column is added (NULL), their
    summaries are rendered from the document with `network`, and every caller sees them."""
    lead_org = organisation(rt, "Lead")
    lead = Caller("lead", lead_org, frozenset({"partner"}))
    for n in range(3):
        rt.app.propose(caller=lead, fields={**FIELDS, "title": {"en": f"Old {n}"}})
    rt.projector.catch_up()
    fresh = listed(rt, "org-anyone")
    with rt.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {MAIN.name} DROP COLUMN visibility")
        # As that release stored them: documents and cards without the field.
        for row in conn.execute(sa.select(MAIN.c.id, MAIN.c.doc, MAIN.c.card)).all():
            doc, card = json.loads(row.doc), json.loads(row.card)
            doc.pop("visibility")
            card.pop("visibility")
            conn.execute(
                sa.update(MAIN)
                .where(MAIN.c.id == row.id)
                .values(doc=json.dumps(doc), card=json.dumps(card))
            )
    create_tables(rt.engine)
    create_tables(rt.engine)  # a second process starting: nothing more to add
    with rt.engine.connect() as conn:
        nulls = conn.execute(sa.select(sa.func.count()).where(MAIN.c.visibility.is_(None)))
        assert nulls.scalar() == 3
        page = queries.list_initiatives(conn, limit=200, cursor=None, scope="org-anyone")
    items = page.as_dict()["items"]
    assert [i["id"] for i in items] == fresh
    assert {i["visibility"] for i in items} == {"network"}
    rt.projector.rebuild(VIEW_BY_NAME["initiatives"])
    with rt.engine.connect() as conn:
        rows = conn.execute(sa.select(MAIN.c.visibility)).scalars().all()
    assert rows == ["network"] * 3
