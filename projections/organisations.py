"""The organisations view: names, types and countries, for lists and for the statistics."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from projections.view import Document, Rows, View, event_name, iso


class OrganisationsView(View):
    name = "organisations"

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
        if event_name(event) != "Organisation.Registered":
            return None
        return {
            "id": str(event.originator_id),
            "position": position,
            "name": event.name,
            "type": event.type,
            "country": event.country,
            "created_at": iso(event.timestamp),
        }

    def rows(self, document: Document) -> Rows:
        from projections.view import encode, parse_time

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
