"""The audit view: one entry per recorded event (who, when, what changed, why) and the hash
chain over the events exactly as stored.

Changes are computed with the domain's own aggregates: the view keeps each aggregate's state
(as an eventsourcing snapshot), applies the event to it, and compares the flattened state
before and after. No rule of the domain is written again here.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent

from domain.errors import InvalidFields
from domain.personal import SEALED, Personal, PersonalData
from projections.chain import CHAIN_START, link_hash
from projections.view import Batch, Ids, Tables, View, insert_many

AGGREGATE_TYPES = {
    "Initiative": "initiative",
    "Organisation": "organisation",
    "Account": "account",
    "EmailIndex": "email_claim",
    "StoreLineage": "store_lineage",
}


def flatten(aggregate: Any) -> dict[str, Any]:
    """An aggregate's state as field paths and plain values (multilingual text per language)."""
    if aggregate is None:
        return {}
    kind = type(aggregate).__name__
    flat: dict[str, Any] = {}
    if kind == "Initiative":
        flat["state"] = aggregate.state.value
        flat["lead_organisation_id"] = aggregate.lead_organisation_id
        flat["visibility"] = aggregate.visibility  # who chose to keep a draft among partners
        for name, value in aggregate.fields.items():
            if isinstance(value, dict):
                for lang, text in value.items():
                    flat[f"{name}.{lang}"] = text
            else:
                flat[name] = value
        for org, status in aggregate.partners.items():
            flat[f"partners.{org}"] = status
        for amendment in aggregate.amendments:
            flat[f"amendments.{amendment['id']}"] = amendment["status"]
        if aggregate.approval is not None:
            flat["approval.round"] = aggregate.approval["round"]
            for step in aggregate.approval["steps"]:
                flat[f"approval.{step['name']}"] = step["status"]
        for report in aggregate.reports:
            flat[f"reports.{report['id']}.participants"] = report["participants"]
            flat[f"reports.{report['id']}.activities"] = report["activities"]
        for lang, text in (aggregate.outcomes or {}).items():
            flat[f"outcomes.{lang}"] = text
        flat["good_practice"] = aggregate.good_practice
    elif kind == "Account":
        # Personal values stay sealed in the view (see `_json`); readers reveal them.
        flat.update(
            email=aggregate._email,
            name=aggregate._name,
            organisation_id=aggregate.organisation_id,
            roles=list(aggregate.roles),
            active=aggregate.active,
            erased=getattr(aggregate, "erased", False),
        )
    elif kind == "Organisation":
        flat.update(name=aggregate.name, type=aggregate.type, country=aggregate.country)
    elif kind == "EmailIndex":
        # A released email claims no account: the change reads as the account removed.
        account = aggregate.account_id
        flat["account_id"] = None if account is None else str(account)
    elif kind == "StoreLineage":  # the earlier store's chain this one continues
        flat.update(
            previous_head=aggregate.previous_head,
            previous_events=aggregate.previous_events,
            previous_position=aggregate.previous_position,
            migrated_at=aggregate.migrated_at.isoformat(),
        )
    return flat


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def aggregate_type(topic: str) -> str:
    name = topic.rsplit(":", 1)[-1].split(".", 1)[0]
    return AGGREGATE_TYPES.get(name, name.lower())


def rationale_of(event: Any) -> str | None:
    for name in ("rationale", "reason"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    return None


def _json(value: Any, personal: PersonalData | None = None) -> str:
    def plain(item: Any) -> Any:
        if isinstance(item, Personal):
            return {SEALED: personal.seal(item)} if personal is not None else None
        return str(item)

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=plain)


class AuditView(View):
    """Appends one entry per event of every aggregate, and keeps each aggregate's state."""

    name = "audit"

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        entries = f"audit_entries{suffix}"
        return {
            "entries": sa.Table(
                entries,
                metadata,
                sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
                sa.Column("aggregate_type", sa.String(40), nullable=False),
                sa.Column("aggregate_id", sa.String(36), nullable=False),
                sa.Column("initiative_id", sa.String(36), nullable=True),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("type", sa.String(80), nullable=False),
                sa.Column("at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("actor_account_id", sa.String(36), nullable=True),
                sa.Column("actor_organisation_id", sa.String(36), nullable=True),
                sa.Column("actor_role", sa.String(20), nullable=True),
                sa.Column("request_id", sa.String(64), nullable=True),
                sa.Column("changes", sa.Text, nullable=False),
                sa.Column("rationale", sa.Text, nullable=True),
                sa.Column("link_hash", sa.String(64), nullable=False),
                sa.Index(f"ix_{entries}_aggregate", "aggregate_id", "position"),
                sa.Index(f"ix_{entries}_actor", "actor_account_id", "position"),
                sa.Index(f"ix_{entries}_organisation", "actor_organisation_id", "position"),
                sa.Index(f"ix_{entries}_type", "type", "position"),
                sa.Index(f"ix_{entries}_at", "at", "position"),
            ),
            "aggregates": sa.Table(
                f"audit_aggregates{suffix}",
                metadata,
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("topic", sa.Text, nullable=False),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("state", sa.LargeBinary, nullable=False),
            ),
        }

    def apply(
        self, conn: sa.Connection, tables: Tables, events: Batch, app: Any, stored: Ids
    ) -> None:
        assert app is not None, "the audit view needs the application's mapper"
        # Personal data is sealed here as in the events, but deterministically, so that a
        # rebuilt view holds the same bytes as the live one.
        with app.personal.deterministic():
            self._apply(conn, tables, events, app)

    def _apply(self, conn: sa.Connection, tables: Tables, events: Batch, app: Any) -> None:
        entries, states = tables["entries"], tables["aggregates"]
        previous = (
            conn.execute(
                sa.select(entries.c.link_hash).order_by(entries.c.position.desc()).limit(1)
            ).scalar()
            or CHAIN_START
        )
        ids = list({str(event.originator_id) for _, event in events})
        aggregates: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            rows = conn.execute(sa.select(states).where(states.c.id.in_(ids[start : start + 500])))
            for row in rows:
                stored = StoredEvent(UUID(row.id), row.version, row.topic, bytes(row.state))
                aggregates[row.id] = app.mapper.to_domain_event(stored).mutate(None)
        existing = set(aggregates)
        flat: dict[str, dict[str, Any]] = {}
        rows_out = []
        for notification, event in events:
            key = str(event.originator_id)
            aggregate = aggregates.get(key)
            before = flat[key] if key in flat else flatten(aggregate)
            aggregate = event.mutate(aggregate)
            aggregates[key] = aggregate
            after = flat[key] = flatten(aggregate)
            previous = link_hash(
                previous,
                notification.id,
                str(notification.originator_id),
                notification.originator_version,
                notification.topic,
                bytes(notification.state),
            )
            actor = getattr(event, "actor", None)
            kind = aggregate_type(notification.topic)
            rows_out.append(
                {
                    "position": notification.id,
                    "aggregate_type": kind,
                    "aggregate_id": key,
                    "initiative_id": key if kind == "initiative" else None,
                    "version": notification.originator_version,
                    "type": type(event).__name__,
                    "at": event.timestamp,
                    "actor_account_id": getattr(actor, "account_id", None),
                    "actor_organisation_id": getattr(actor, "organisation_id", None),
                    "actor_role": getattr(actor, "role", None),
                    "request_id": getattr(actor, "request_id", None),
                    "changes": _json(changes(before, after), app.personal),
                    "rationale": rationale_of(event),
                    "link_hash": previous,
                }
            )
        if rows_out:
            insert_many(conn, entries, rows_out)
        touched = list(flat)
        for start in range(0, len(touched), 500):
            chunk = [key for key in touched[start : start + 500] if key in existing]
            if chunk:
                conn.execute(sa.delete(states).where(states.c.id.in_(chunk)))
        snapshots = []
        for key in touched:
            aggregate = aggregates[key]
            taken = type(aggregate).Snapshot.take(aggregate)
            # Stamped with the aggregate's own time, so a rebuild stores the same bytes.
            snapshot = type(taken)(
                originator_id=taken.originator_id,
                originator_version=taken.originator_version,
                timestamp=aggregate.modified_on,
                topic=taken.topic,
                state=taken.state,
            )
            stored = app.mapper.to_stored_event(snapshot)
            snapshots.append(
                {
                    "id": key,
                    "topic": stored.topic,
                    "version": stored.originator_version,
                    "state": stored.state,
                }
            )
        if snapshots:
            insert_many(conn, states, snapshots)


def version_changes(app: Any, initiative_id: UUID, first: int, second: int) -> dict[str, Any]:
    """The changes from one version of an initiative to another; InvalidFields (keyed
    `from`, `to`) for a version the initiative does not have."""
    current = app.initiative(initiative_id).version
    errors = {
        name: [f"Must be a version from 1 to {current}."]
        for name, version in (("from", first), ("to", second))
        if not 1 <= version <= current
    }
    if errors:
        raise InvalidFields(errors)
    before = flatten(app.initiative(initiative_id, version=first))
    after = flatten(app.initiative(initiative_id, version=second))
    return changes(before, after)
