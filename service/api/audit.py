"""Audit: history, diffs, the system-wide record, the hash chain and the event feed
(auditors and admins)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from flask import Response, request, stream_with_context
from flask.views import MethodView

from domain.errors import InvalidFields, NotPermitted
from domain.values import Caller, Role
from projections import audit as chain
from projections.queries import BadCursor, decode_cursor, encode_cursor
from projections.runner import LIVE
from projections.view import iso
from service.api.read_views import MIN_POSITION_PARAMETER, await_min_position
from service.api.request import Blueprint, current_caller, documents
from service.api.schemas import (
    AuditBundleSchema,
    AuditEntriesQuerySchema,
    AuditEntryPageSchema,
    DiffQuerySchema,
    DiffSchema,
    DigestSchema,
    EventFeedQuerySchema,
    EventPageSchema,
    HistorySchema,
    VerifyQuerySchema,
    VerifySchema,
)
from service.infrastructure.runtime import runtime

ENTRIES = LIVE["audit"]["entries"]

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail.")

CSV_COLUMNS = [
    "position",
    "at",
    "aggregate_type",
    "aggregate_id",
    "initiative_id",
    "version",
    "type",
    "actor_account_id",
    "actor_organisation_id",
    "actor_role",
    "request_id",
    "rationale",
    "changes",
]


def require_auditor(caller: Caller) -> None:
    if not (caller.has(Role.AUDITOR) or caller.has(Role.ADMIN)):
        raise NotPermitted("Audit endpoints need the auditor or admin role.")


def cursor_position(cursor: str) -> int:
    """The position a page cursor continues after."""
    try:
        [after] = decode_cursor(cursor, 1)
    except BadCursor as error:
        raise InvalidFields({"cursor": [str(error)]}) from None
    if not isinstance(after, int):
        raise InvalidFields({"cursor": ["Invalid cursor."]})
    return after


def entry(row: Any) -> dict[str, Any]:
    return {
        "position": int(row.position),
        "version": int(row.version),
        "type": row.type,
        "at": iso(row.at),
        "actor": {
            "account_id": row.actor_account_id,
            "organisation_id": row.actor_organisation_id,
            "role": row.actor_role,
        },
        "request_id": row.request_id,
        "changes": json.loads(row.changes),
        "rationale": row.rationale,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "initiative_id": row.initiative_id,
    }


@blp.route("/initiatives/<uuid:initiative_id>/history")
class History(MethodView):
    @blp.response(200, HistorySchema)
    @blp.doc(parameters=[MIN_POSITION_PARAMETER])
    @documents(blp, 400, 401, 403, 404, 503)
    def get(self, initiative_id: UUID) -> dict[str, Any]:
        """Every event of the initiative in order: who, when, what changed, why."""
        require_auditor(current_caller())
        runtime().app.initiative(initiative_id)  # 404 for an unknown initiative
        await_min_position()
        return {"items": [entry(row) for row in history_rows(initiative_id)]}


def history_rows(initiative_id: UUID) -> list[Any]:
    """The audit entries of one initiative, in order."""
    with runtime().engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(ENTRIES)
                .where(ENTRIES.c.aggregate_id == str(initiative_id))
                .order_by(ENTRIES.c.position)
            ).all()
        )


@blp.route("/initiatives/<uuid:initiative_id>/diff")
class Diff(MethodView):
    @blp.arguments(DiffQuerySchema(), location="query")
    @blp.response(200, DiffSchema)
    @documents(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], initiative_id: UUID) -> dict[str, Any]:
        """Field-by-field differences between two versions (multilingual text per language)."""
        require_auditor(current_caller())
        changes = version_diff(initiative_id, query["from"], query["to"])
        return {"from": query["from"], "to": query["to"], "changes": changes}


def version_diff(initiative_id: UUID, first: int, second: int) -> dict[str, Any]:
    """The changes from one version to another; InvalidFields (keyed `from`, `to`) for a
    version the initiative does not have."""
    app = runtime().app
    current = app.initiative(initiative_id).version
    errors = {
        name: [f"Must be a version from 1 to {current}."]
        for name, version in (("from", first), ("to", second))
        if not 1 <= version <= current
    }
    if errors:
        raise InvalidFields(errors)
    before = chain.flatten(app.initiative(initiative_id, version=first))
    after = chain.flatten(app.initiative(initiative_id, version=second))
    return chain.changes(before, after)


def _entry_conditions(query: dict[str, Any]) -> list[Any]:
    conditions = []
    for field, column in (
        ("actor_id", ENTRIES.c.actor_account_id),
        ("organisation_id", ENTRIES.c.actor_organisation_id),
        ("initiative_id", ENTRIES.c.initiative_id),
        ("type", ENTRIES.c.type),
        ("aggregate_type", ENTRIES.c.aggregate_type),
        ("aggregate_id", ENTRIES.c.aggregate_id),
    ):
        if query.get(field) is not None:
            conditions.append(column == str(query[field]))
    if query.get("from") is not None:
        conditions.append(ENTRIES.c.at >= query["from"])
    if query.get("to") is not None:
        conditions.append(ENTRIES.c.at < query["to"])
    return conditions


@blp.route("/audit/entries")
class Entries(MethodView):
    @blp.arguments(AuditEntriesQuerySchema(), location="query")
    @blp.response(
        200,
        AuditEntryPageSchema,
        description="JSON, or CSV with `Accept: text/csv` (every matching entry).",
    )
    @blp.doc(parameters=[MIN_POSITION_PARAMETER])
    @documents(blp, 400, 401, 403, 422, 503)
    def get(self, query: dict[str, Any]) -> Any:
        """The whole system's decisions and changes, one entry per event; filters combine."""
        require_auditor(current_caller())
        await_min_position()
        statement = entries_statement(query)
        if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
            return csv_response(statement)
        rows, next_cursor = entries_page(statement, query["limit"])
        return {"items": [entry(row) for row in rows], "next_cursor": next_cursor}


def entries_statement(query: dict[str, Any]) -> Any:
    """The audit entries matching the filters (and after the cursor), in position order."""
    conditions = _entry_conditions(query)
    if query.get("cursor"):
        conditions.append(ENTRIES.c.position > cursor_position(query["cursor"]))
    return sa.select(ENTRIES).where(*conditions).order_by(ENTRIES.c.position)


def entries_page(statement: Any, limit: int) -> tuple[list[Any], str | None]:
    """One page of entries and the cursor of the next (None on the last page)."""
    with runtime().engine.connect() as conn:
        rows = conn.execute(statement.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(int(rows[-1].position)) if more else None


def csv_response(statement: Any) -> Response:
    engine = runtime().engine

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=500).execute(statement)
            for row in result:
                item = entry(row)
                writer.writerow(
                    [
                        item["position"],
                        item["at"],
                        item["aggregate_type"],
                        item["aggregate_id"],
                        item["initiative_id"] or "",
                        item["version"],
                        item["type"],
                        item["actor"]["account_id"] or "",
                        item["actor"]["organisation_id"] or "",
                        item["actor"]["role"] or "",
                        item["request_id"] or "",
                        item["rationale"] or "",
                        json.dumps(item["changes"], ensure_ascii=False),
                    ]
                )
                if buffer.tell() > 65536:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


DECISIONS = {
    "Submitted",
    "ReviewRecorded",
    "AmendmentAccepted",
    "AmendmentRejected",
    "Completed",
    "RecognisedAsGoodPractice",
    "Withdrawn",
}


@blp.route("/initiatives/<uuid:initiative_id>/audit-bundle")
class AuditBundle(MethodView):
    @blp.response(200, AuditBundleSchema)
    @blp.doc(parameters=[MIN_POSITION_PARAMETER])
    @documents(blp, 400, 401, 403, 404, 503)
    def get(self, initiative_id: UUID) -> dict[str, Any]:
        """One document with the initiative's events (as stored), decisions, diffs and the
        chain links needed to verify it offline with tools/verify_audit_bundle.py."""
        require_auditor(current_caller())
        rt = runtime()
        initiative = rt.app.initiative(initiative_id)
        await_min_position()
        events = []
        with rt.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ENTRIES)
                .where(ENTRIES.c.aggregate_id == str(initiative_id))
                .order_by(ENTRIES.c.position)
            ).all()
            for row in rows:
                previous = (
                    conn.execute(
                        sa.select(ENTRIES.c.link_hash)
                        .where(ENTRIES.c.position < row.position)
                        .order_by(ENTRIES.c.position.desc())
                        .limit(1)
                    ).scalar()
                    or chain.CHAIN_START
                )
                events.append(
                    {
                        "entry": entry(row),
                        "previous_link": previous,
                        "link": row.link_hash,
                        "stored": stored_row(rt.app, int(row.position)),
                    }
                )
            head = chain.digest(conn, ENTRIES)
        at = head["at"]
        return {
            "initiative_id": str(initiative_id),
            "version": initiative.version,
            "generated_at": iso(runtime().now()),
            "digest": {
                **head,
                "at": iso(at) if at is not None else None,
            },
            "events": events,
            "decisions": [e["entry"] for e in events if e["entry"]["type"] in DECISIONS],
            "diffs": [
                {"version": e["entry"]["version"], "changes": e["entry"]["changes"]} for e in events
            ],
            "verify_with": "python3 tools/verify_audit_bundle.py bundle.json",
        }


def stored_row(app: Any, position: int) -> dict[str, Any] | None:
    """The event at a position exactly as stored, its bytes in base64."""
    rows = chain.raw_rows(app.recorder, position, position, 1)
    if not rows:
        return None
    row = rows[0]
    state = row[chain.STATE]
    return {
        "position": int(row[chain.ID]),
        "originator_id": chain.normal_id(row[chain.ORIGINATOR_ID]),
        "version": int(row[chain.VERSION]),
        "topic": str(row[chain.TOPIC]),
        "state": base64.b64encode(bytes(state)).decode("ascii") if state is not None else None,
    }


@blp.route("/audit/digest")
class Digest(MethodView):
    @blp.response(200, DigestSchema)
    @blp.doc(parameters=[MIN_POSITION_PARAMETER])
    @documents(blp, 400, 401, 403, 503)
    def get(self) -> dict[str, Any]:
        """The head of the hash chain over every recorded event: keep it outside the system."""
        require_auditor(current_caller())
        await_min_position()
        with runtime().engine.connect() as conn:
            head = chain.digest(conn, ENTRIES)
        at = head["at"]
        return {**head, "at": iso(at) if at is not None else None}


@blp.route("/audit/verify")
class Verify(MethodView):
    @blp.arguments(VerifyQuerySchema(), location="query")
    @blp.response(200, VerifySchema)
    @documents(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Recompute the chain from the stored events and check it against a digest."""
        require_auditor(current_caller())
        return verify_chain(query.get("position"), query.get("head_hash"))


def verify_chain(position: int | None, head_hash: str | None) -> dict[str, Any]:
    """Recomputes the chain up to `position` (the head when None) and compares it with
    `head_hash` when given; InvalidFields for a position beyond the head."""
    rt = runtime()
    with rt.engine.connect() as conn:
        head = chain.digest(conn, ENTRIES)["position"]
        position = head if position is None else position
        if position > head:
            raise InvalidFields({"position": [f"The chain has reached position {head}."]})
        result = chain.verify(rt.app, conn, ENTRIES, position, head_hash)
    return {
        "ok": result["ok"],
        "checked": result["checked"],
        "first_bad_position": result["first_bad_position"],
        "position": position,
    }


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventFeedQuerySchema(), location="query")
    @blp.response(200, EventPageSchema)
    @documents(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The global event feed in position order, for integrations."""
        require_auditor(current_caller())
        after = query.get("after", 0)
        if query.get("cursor"):
            after = cursor_position(query["cursor"])
        app = runtime().app
        limit = query["limit"]
        notifications = app.recorder.select_notifications(start=int(after) + 1, limit=limit + 1)
        more = len(notifications) > limit
        items = []
        for notification in notifications[:limit]:
            event = app.mapper.to_domain_event(notification)
            data = {
                key: value
                for key, value in vars(event).items()
                if key
                not in (
                    "originator_id",
                    "originator_version",
                    "timestamp",
                    "originator_topic",
                    "actor",
                )
            }
            actor = getattr(event, "actor", None)
            items.append(
                {
                    "position": notification.id,
                    "type": type(event).__name__,
                    "aggregate_type": chain.aggregate_type(notification.topic),
                    "aggregate_id": str(notification.originator_id),
                    "version": notification.originator_version,
                    "at": iso(event.timestamp),
                    "actor": actor.as_dict() if actor is not None else None,
                    "data": json.loads(json.dumps(data, default=_plain, ensure_ascii=False)),
                }
            )
        next_cursor = encode_cursor(items[-1]["position"]) if more else None
        return {"items": items, "next_cursor": next_cursor}


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return str(value)
