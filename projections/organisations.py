"""The organisations view: names, types and countries, for lists and for the statistics."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from domain.organisation import Organisation
from projections.view import Document, DocumentView, Rows, encode, iso, parse_time


class OrganisationsView(DocumentView):
    name = "organisations"
    aggregate = "Organisation."

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        table = f"view_organisations{suffix}"
        return {
            "main": sa.Table(
                table,
                metadata,
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("position", sa.BigInteger, nullable=False),
                sa.Column("name", sa.Text, nullable=False),
                sa.Column("type", sa.String(40), nullable=False),
                sa.Column("country", sa.String(2), nullable=False),
                sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("doc", sa.Text, nullable=False),
                sa.Index(f"ix_{table}_position", "position"),
            )
        }

    def fold(self, document: Document | None, event: Any, position: int) -> Document | None:
        change = self.handler(event)
        return None if change is None else change(event, position)  # type: ignore[no-any-return]

    @singledispatchmethod
    def when(self, event: Any, position: int) -> Document | None:
        """Events of other classes: the view ignores them."""
        return None

    @when.register
    def _(self, event: Organisation.Registered, position: int) -> Document:
        return {
            "id": str(event.originator_id),
            "position": position,
            "name": event.name,
            "type": event.type,
            "country": event.country,
            "created_at": iso(event.timestamp),
        }

    def rows(self, document: Document) -> Rows:
        return {
            "main": [
                {
                    "id": document["id"],
                    "position": document["position"],
                    "name": document["name"],
                    "type": document["type"],
                    "country": document["country"],
                    "created_at": parse_time(document["created_at"]),
                    "doc": encode(document),
                }
            ]
        }
